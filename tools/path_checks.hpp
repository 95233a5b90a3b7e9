// The checks a tool makes on the paths it names before any work: the same file named twice,
// an output's directory, temporary files a killed run left behind.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "format/output_file.hpp"
#include "usage_error.hpp"

namespace popup_tool {

// A path a tool reads or writes, named by its option ("input" for a positional argument).
struct PathUse {
  PathUse(std::string option_, std::string path_, bool output_ = false, std::string may_share_ = "")
      : option(std::move(option_)),
        path(std::move(path_)),
        output(output_),
        may_share(std::move(may_share_)) {}
  std::string option, path;
  bool output;
  std::string may_share;  // the option that may name the same file (--resume and --checkpoint)
};

// Before any work, for the paths a command names: two outputs (or an output and an input)
// naming one file are refused as a usage error (popup::same_file: by device and inode, else
// by real directory and name; "-" reads stdin and writes stdout, so an input "-" and an
// output "-" differ); standard input twice likewise. Then every output's directory is checked
// (IoError, exit 1), and temporary files killed runs left beside an output are removed, or
// named on stderr when they cannot be told from a live run's (popup::output_stale_temps_clean).
inline void paths_check(const std::string& tool, const std::vector<PathUse>& uses) {
  for (size_t i = 0; i < uses.size(); ++i)
    for (size_t j = i + 1; j < uses.size(); ++j) {
      const PathUse &a = uses[i], &b = uses[j];
      if (a.path.empty() || b.path.empty() || (!a.output && !b.output && a.path != "-")) continue;
      if (a.output != b.output && a.path == "-" && b.path == "-") continue;
      if (a.may_share == b.option || b.may_share == a.option) continue;
      if (!popup::same_file(a.path, b.path)) continue;
      const std::string both = a.option + " " + a.path + " and " + b.option + " " + b.path;
      if (!a.output && !b.output) throw UsageError(both + " both read standard input");
      if (a.path == "-" && b.path == "-") throw UsageError(both + " both write standard output");
      throw UsageError(both + " name the same file" +
                       (a.output && b.output ? "" : ": the output would replace the input"));
    }
  for (const PathUse& u : uses) {
    if (!u.output || u.path.empty()) continue;
    popup::output_directory_check(u.path);
    const popup::StaleTemps stale = popup::output_stale_temps_clean(u.path);
    for (const std::string& f : stale.removed)
      std::fprintf(stderr, "%s: removed %s, a temporary file of a run that was killed\n",
                   tool.c_str(), f.c_str());
    for (const std::string& f : stale.left)
      std::fprintf(stderr,
                   "%s: note: %s looks like a temporary file of a killed run; remove it if no "
                   "program is writing %s\n",
                   tool.c_str(), f.c_str(), u.path.c_str());
  }
}

}  // namespace popup_tool

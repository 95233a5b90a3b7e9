// popup-stats: what masks and scores files keep, per layer (kept fraction, sign of the kept
// weights, |score| quantiles and the margin at the top-k threshold), how two or more of them
// overlap beside random masks with the same counts, and pictures of the masks (--png).
// --check only validates the files, like samtools quickcheck.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "report/mask_pictures.hpp"
#include "report/mask_stats.hpp"
#include "report/stats_report.hpp"
#include "tool_common.hpp"

namespace {

struct Options {
  std::vector<std::string> files;
  double k = 0;  // 0: from each scores file's popup.train.k
  std::string png;
  bool json = false, csv = false, check = false, verbose = false;
};

// --check: nothing on stdout; with --verbose one line per failing file on stderr.
bool check_files(const Options& o) {
  const auto failures = popup::stats_files_check(o.files);
  if (o.verbose)
    for (const auto& [file, why] : failures)
      std::fprintf(stderr, "popup-stats: %s: %s\n", file.c_str(), why.c_str());
  return failures.empty();
}

void run(const Options& o) {
  std::vector<popup::StatsInput> inputs;
  for (const std::string& path : o.files) {
    popup_tool::stage() = "reading " + path;
    inputs.push_back(popup::stats_input_read(path, o.k));
  }
  popup_tool::stage() = "computing the statistics";
  const std::string warning = popup::stats_inputs_check(inputs);
  if (!warning.empty()) std::fprintf(stderr, "popup-stats: warning: %s\n", warning.c_str());
  const popup::StatsReport report = popup::stats_compute(inputs);
  const std::string text = o.json  ? popup::stats_json(report)
                           : o.csv ? popup::stats_csv(report)
                                   : popup::stats_table(report);
  // Every picture is complete on disk before the report appears: an error leaves no report.
  if (!o.png.empty()) popup::mask_pngs_write(o.png, inputs);
  std::fputs(text.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Per-layer statistics of popup mask and scores files, the overlap between them, "
      "and pictures of the masks.",
      "popup-stats"};
  popup_tool::app_setup(app);
  Options o;
  app.add_option("files", o.files, "Mask or scores files; - (the default) for stdin, once");
  app.add_flag("--json", o.json, "One JSON document instead of the table")->group("Output");
  app.add_flag("--csv", o.csv,
               "CSV: a header, one row per file x layer and per pair "
               "x layer")
      ->group("Output");
  app.add_option("--png", o.png,
                 "Also write DIR/<file stem>.<layer>.png for every "
                 "layer (DIR is created)")
      ->type_name("DIR")
      ->group("Output");
  app.add_option("--k", o.k,
                 "Fraction of weights a scores file keeps per layer (default: its "
                 "popup.train.k)")
      ->type_name("K")
      ->group("Scores");
  app.add_flag("--check", o.check,
               "Only validate the files: exit 0 if all are "
               "good, 1 otherwise, print nothing")
      ->group("Checking");
  app.add_flag("-v,--verbose", o.verbose, "With --check: name each bad file and why on stderr")
      ->group("Checking");

  bool check_failed = false;
  const int rc = popup_tool::tool_main(
      app, argc, argv,
      [&] {
        if (o.files.empty()) o.files.push_back("-");
        int stdin_count = 0;
        for (const std::string& f : o.files) stdin_count += popup::is_std_stream(f);
        if (stdin_count > 1)
          throw popup_tool::UsageError("standard input (-) given more than once");
        if (app.count("--k") && !(o.k > 0 && o.k <= 1))
          throw popup_tool::UsageError("--k: must be a fraction in (0, 1], got " +
                                       popup::double_format(o.k));
        if (o.check && (o.json || o.csv || !o.png.empty()))
          throw popup_tool::UsageError(
              "--check writes nothing: it goes with no --json, --csv or --png");
        if (o.json && o.csv) throw popup_tool::UsageError("--json and --csv: choose one");
        if (o.verbose && !o.check) throw popup_tool::UsageError("--verbose goes with --check");
        std::map<std::string, std::string> pictures;  // DIR/<stem>. -> the file
        for (const std::string& f : o.files)
          if (const auto [it, fresh] = pictures.emplace(popup::mask_png_prefix(o.png, f), f);
              !o.png.empty() && !fresh)
            throw popup_tool::UsageError("--png: " + it->second + " and " + f +
                                         " would write "
                                         "pictures of the same names (" +
                                         it->first + "<layer>.png): rename or link one");
      },
      [&] {
        if (o.check)
          check_failed = !check_files(o);
        else
          run(o);
      });
  return rc == popup_tool::kExitOk && check_failed ? popup_tool::kExitError : rc;
}

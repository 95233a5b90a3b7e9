// What every popup tool shares: CLI11 set-up, and the one place where library errors become
// one-line messages and exit codes (0 success, 1 runtime or data error, 2 usage error).
#pragma once

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "backend/device.hpp"
#include "error.hpp"
#include "format/output_file.hpp"
#include "format/recipe.hpp"
#include "version.hpp"

namespace popup_tool {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Thrown by a tool's body to stop with exit status 130 after an interrupt (SIGINT), once
// everything has been cleaned up by unwinding.
struct Interrupted {};

// A bad combination of options, found by the tool after parsing.
class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What the tool is doing, for the message of an allocation failure: "out of memory while
// generating the weights of fc (4,195,328 weights, 16.8 MB)". Tools set it at each stage.
inline std::string& stage() {
  static std::string what;
  return what;
}

// The stage of generating a recipe's weights: "generating the weights of fc (4195328
// weights, 16.8 MB)".
inline std::string generating_stage(const popup::Recipe& recipe) {
  int64_t n = 0;
  for (const popup::TensorSpec& t : popup::recipe_tensors(recipe)) n += t.numel();
  char text[96];
  std::snprintf(text, sizeof text, " (%lld weights, %.1f MB)", static_cast<long long>(n),
                4e-6 * static_cast<double>(n));
  return "generating the weights of " + recipe.arch + text;
}

// Run a tool's body: parse options, call `body`, turn every error into one line on stderr.
// `options_check` runs after parsing; InvalidArgument thrown there is a usage error (the
// value came from the command line), while the same error from a file is a runtime error.
inline int tool_main(CLI::App& app, int argc, char** argv,
                     const std::function<void()>& options_check,
                     const std::function<void()>& body) {
  popup::output_cleanup_on_signals();
  const std::string name = app.get_name();
  const auto report = [&](const std::string& what, int code) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), what.c_str());
    return code;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return kExitOk;
  } catch (const CLI::CallForVersion&) {
    std::printf("%s %s\n", name.c_str(), POPUP_VERSION);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return report(std::string(e.what()) + " (see " + name + " --help)", kExitUsage);
  }
  const auto out_of_memory = [&] {
    const std::string where = stage().empty() ? "" : " while " + stage();
    return report("out of memory" + where, kExitError);
  };
  try {
    options_check();
  } catch (const popup::InvalidArgument& e) {
    return report(e.what(), kExitUsage);
  } catch (const UsageError& e) {
    return report(e.what(), kExitUsage);
  } catch (const popup::Error& e) {
    return report(e.what(), kExitError);
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  }
  try {
    body();
  } catch (const popup::InvalidArgument& e) {
    // Refusing a terminal for binary output is the only InvalidArgument left at this point
    // that concerns the command line itself.
    return report(e.what(), e.file() == "-" ? kExitUsage : kExitError);
  } catch (const popup::Error& e) {
    return report(e.what(), kExitError);
  } catch (const UsageError& e) {
    return report(e.what(), kExitUsage);
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  } catch (const Interrupted&) {
    return 130;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return report("-: write error on standard output", kExitError);
  return kExitOk;
}

// A number option's check (CLI11's Range and PositiveNumber let NaN through, and an integer
// too large for its type is clamped or misread): a finite number in [lo, hi], or in (lo, hi]
// with `above_lo`. A refusal is a usage error: "--lr: must be a finite number above 0, got 'inf'".
inline CLI::Validator finite_in(double lo, double hi, bool above_lo = false) {
  const auto bound = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  const bool low = above_lo || lo > -HUGE_VAL, high = hi < HUGE_VAL;
  std::string range = "a finite number";
  if (above_lo) range += " above " + bound(lo);
  if (!above_lo && low) range += (high ? " from " : " of at least ") + bound(lo);
  if (high) range += (low ? " to " : " of at most ") + bound(hi);
  return CLI::Validator(
      [=](std::string& text) {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        const bool number = !text.empty() && end == text.c_str() + text.size() && errno == 0;
        if (number && std::isfinite(v) && (above_lo ? v > lo : v >= lo) && v <= hi)
          return std::string();
        return "must be " + range + ", got '" + text + "'";
      },
      range);
}

// An integer option's check: decimal digits (a leading - allowed) whose value is in [lo, hi].
inline CLI::Validator integer_in(int64_t lo, int64_t hi) {
  const std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [=](std::string& text) {
        const size_t digits = text.find_first_not_of('-') == 1 ? 1 : 0;
        const bool shape = !text.empty() && text.size() - digits <= 18 &&
                           text.find_first_not_of("0123456789", digits) == std::string::npos &&
                           text.size() > digits;
        if (shape) {
          const long long v = std::strtoll(text.c_str(), nullptr, 10);
          if (v >= lo && v <= hi) return std::string();
        }
        return "must be " + range + ", got '" + text + "'";
      },
      range);
}

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

// --device cuda fails before any work when there is no device (exit 1: the machine, not the
// command line, is at fault).
inline void device_check(const popup::DeviceChoice& device) {
  std::string why;
  if (device.kind == popup::DeviceChoice::cuda && popup::cuda_device_count(why) == 0)
    throw popup::Error("", "--device cuda: " + why);
}

// The executor of --device, saying on stderr (one line) when auto fell back to the CPU.
inline std::unique_ptr<popup::Executor> executor_for(const popup::Network& net,
                                                     const popup::ExecutorConfig& config,
                                                     const popup::DeviceChoice& device,
                                                     const std::string& tool) {
  std::string note;
  std::unique_ptr<popup::Executor> exec = popup::executor_create(net, config, device, note);
  if (!note.empty()) std::fprintf(stderr, "%s: %s\n", tool.c_str(), note.c_str());
  return exec;
}

// --threads and --device, in the group "Device", for the tools that run a network.
inline void device_options_add(CLI::App& app, int& threads, std::string& device) {
  app.add_option("--threads", threads, "CPU threads (default: OMP_NUM_THREADS or one per CPU)")
      ->check(integer_in(1, 1024))
      ->group("Device");
  app.add_option("--device", device, "auto (default: CUDA when a GPU is usable), cpu, cuda, cuda:N")
      ->group("Device");
}

// Standard set-up: --version flag, a footer pointing at the man page, options grouped.
inline void app_setup(CLI::App& app) {
  app.set_version_flag("--version", std::string(POPUP_VERSION));
  app.footer("See " + app.get_name() +
             "(1) for details. Exit status: 0 success, 1 runtime or "
             "data error, 2 usage error.");
  app.get_formatter()->column_width(30);
}

}  // namespace popup_tool

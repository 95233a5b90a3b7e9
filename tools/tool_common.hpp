// What every popup tool shares: CLI11 set-up, and the one place where library errors become
// one-line messages and exit codes (0 success, 1 runtime or data error, 2 usage error); the
// option and path checks are in option_checks.hpp and path_checks.hpp.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "backend/device.hpp"
#include "cpu/executor_cpu.hpp"
#include "dist/communicator.hpp"
#include "error.hpp"
#include "format/output_file.hpp"
#include "format/recipe.hpp"
#include "format/signals.hpp"
#include "option_checks.hpp"
#include "path_checks.hpp"
#include "usage_error.hpp"
#include "version.hpp"

namespace popup_tool {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Thrown by a tool's body to stop with exit status 130 after an interrupt (SIGINT), once
// everything has been cleaned up by unwinding.
struct Interrupted {};

// What the tool is doing, for the message of an allocation failure: "out of memory while
// generating the weights of fc (4,195,328 weights, 16.8 MB)". Tools set it at each stage.
inline std::string& stage() {
  static std::string what;
  return what;
}

// Data-parallel runs (DESIGN.md §8): this process's ranks, when it is one of several. An
// error is then reported with the rank, and ends every rank (Communicator::abort) rather than
// leaving the others waiting in a collective.
inline std::unique_ptr<popup::Communicator>& communicator() {
  static std::unique_ptr<popup::Communicator> comm;
  return comm;
}

// The stage of generating a recipe's weights: "generating the weights of fc (4195328
// weights, 16.8 MB)".
inline std::string generating_stage(const popup::Recipe& recipe) {
  const int64_t n = popup::tensors_numel(popup::recipe_tensors(recipe));
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
  popup::signals_watch();  // before any thread: every thread inherits the blocked signals
  const std::string name = app.get_name();
  const auto report = [&](const std::string& what, int code) {
    popup::Communicator* comm = communicator().get();
    if (!comm) {
      std::fprintf(stderr, "%s: error: %s\n", name.c_str(), what.c_str());
      return code;
    }
    std::fprintf(stderr, "%s: error: rank %d of %d: %s\n", name.c_str(), comm->rank(), comm->size(),
                 what.c_str());
    std::fflush(stderr);
    comm->abort(code);
    return code;  // not reached
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
  } catch (const Interrupted&) {  // every rank stopped at the same step
    communicator().reset();
    return 130;
  }
  communicator().reset();
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return report("-: write error on standard output", kExitError);
  return kExitOk;
}

// --device cuda fails before any work when there is no device (exit 1: the machine, not the
// command line, is at fault).
inline void device_check(const popup::DeviceChoice& device) {
  std::string why;
  if (device.kind == popup::DeviceChoice::cuda && popup::cuda_device_count(why) == 0)
    throw popup::Error("", "--device cuda: " + why);
}

// A CPU-only setting (`option`, e.g. "--precision bf16"): a usage error with --device cuda,
// and --device auto then means the CPU.
inline void cpu_option_device(const std::string& option, popup::DeviceChoice& device,
                              const std::string& device_text) {
  if (device.kind == popup::DeviceChoice::cuda)
    throw UsageError(option + " is a CPU option; it does not run with --device " + device_text);
  device.kind = popup::DeviceChoice::cpu;
}

// --precision bf16 on the CPU runs only where the CPU has bf16 arithmetic: emulated (oneDNN on
// AVX-512 without AVX512-BF16) it is slower than fp32, and oneDNN 2.x has none on AVX2 (exit
// 1: the machine is at fault).
inline void bf16_check(popup::Precision precision, const popup::DeviceChoice& device) {
  std::string isa;
  if (precision == popup::Precision::bf16 && device.kind == popup::DeviceChoice::cpu &&
      !popup::cpu_native_bf16(isa))
    throw popup::Error("", "--precision bf16: this CPU (" + isa +
                               ") has no bf16 arithmetic (AVX512-BF16 or AMX), and emulated "
                               "bf16 runs slower than fp32; use fp32");
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

// A data-parallel rank's device: auto becomes CUDA only when every rank has a GPU (else the
// CPU for all, so that no rank falls back alone), without the CPU fallback; cuda (or auto)
// without an index takes GPU local_rank modulo the machine's GPUs; cuda:N stays N.
inline popup::DeviceChoice device_of_rank(popup::DeviceChoice choice, const std::string& text,
                                          popup::Communicator& comm) {
  std::string why;
  const int devices = choice.kind == popup::DeviceChoice::cpu ? 0 : popup::cuda_device_count(why);
  if (choice.kind == popup::DeviceChoice::automatic) {
    int64_t with_gpu = devices > 0;
    comm.sum(&with_gpu, 1);
    choice.kind = with_gpu == comm.size() ? popup::DeviceChoice::cuda : popup::DeviceChoice::cpu;
  }
  if (choice.kind == popup::DeviceChoice::cuda && text.find(':') == std::string::npos &&
      devices > 0)
    choice.index = comm.local_rank() % devices;
  return choice;
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

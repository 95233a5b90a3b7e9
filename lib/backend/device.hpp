// Choosing the backend (DESIGN.md §7): --device auto|cpu|cuda[:N]. The CUDA backend is the
// plugin libpopup-cuda.so, loaded with dlopen only after the driver (libcuda.so.1) reports a
// device, so the tools link no CUDA library and run unchanged on machines without a GPU.
#pragma once

#include <memory>
#include <string>

#include "backend/executor.hpp"

namespace popup {

struct DeviceChoice {
  enum Kind { automatic, cpu, cuda } kind = automatic;
  int index = 0;  // cuda:N
  // auto by default rather than asked for: falling back for want of any GPU is not noted.
  bool quiet_fallback = false;
};

// "auto", "cpu", "cuda" or "cuda:N"; InvalidArgument otherwise.
DeviceChoice device_parse(const std::string& text);

// CUDA devices the driver reports; 0 with the reason in `why` when there is no usable one.
int cuda_device_count(std::string& why);

// Where the plugin is looked for: $POPUP_CUDA_PLUGIN, else lib/popup/libpopup-cuda.so beside
// the executable's folder (the build tree and an installed prefix have the same layout).
std::string cuda_plugin_path();

// The executor for `choice`. cuda: an Error saying why when no device or no plugin can be
// used. auto: CUDA when usable, else the CPU, with `note` set to one line saying why.
std::unique_ptr<Executor> executor_create(const Network& net, const ExecutorConfig& config,
                                          const DeviceChoice& choice, std::string& note);

}  // namespace popup

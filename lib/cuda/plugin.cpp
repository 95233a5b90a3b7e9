// The entry points of libpopup-cuda.so, found by lib/backend/device.cpp with dlsym. Only these two
// symbols are exported (lib/cuda/plugin.map); errors while starting come back as text.
#include <cstdio>
#include <exception>
#include <type_traits>

#include "cuda/executor_cuda.hpp"

extern "C" int popup_cuda_plugin_abi() { return popup::kCudaPluginAbi; }

extern "C" popup::Executor* popup_cuda_plugin_create(const popup::Network* net,
                                                     const popup::ExecutorConfig* config,
                                                     int device, char* error, size_t error_size) {
  try {
    return popup::ExecutorCuda::create(*net, *config, device).release();
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_size, "unknown error while starting");
  }
  return nullptr;
}

// The plugin's own types must match the caller's: checked at compile time here.
static_assert(std::is_same_v<decltype(&popup_cuda_plugin_abi), popup::CudaPluginAbi*>);
static_assert(std::is_same_v<decltype(&popup_cuda_plugin_create), popup::CudaPluginCreate*>);

// Backend selection: the driver probe through libcuda.so.1's C entry points (no CUDA headers
// needed), and the plugin's loading and version check.
#include "backend/device.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "backend/plugin_path.hpp"
#include "error.hpp"
#include "format/number_text.hpp"

namespace popup {
namespace {

// The driver API's signatures, as cuda.h declares them (CUresult is an int enum).
using CuInit = int(unsigned int flags);
using CuDeviceGetCount = int(int* count);
using CuGetErrorString = int(int error, const char** text);

std::unique_ptr<Executor> cuda_plugin_create(const Network& net, const ExecutorConfig& config,
                                             int device) {
  const std::string path = cuda_plugin_path();
  // The plugin stays loaded for the life of the process: its code runs the executor.
  void* plugin = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!plugin) {
    const char* why = dlerror();
    throw Error(path,
                std::string("cannot load the CUDA backend: ") + (why ? why : "dlopen failed"));
  }
  auto* abi = reinterpret_cast<CudaPluginAbi*>(dlsym(plugin, "popup_cuda_plugin_abi"));
  auto* create = reinterpret_cast<CudaPluginCreate*>(dlsym(plugin, "popup_cuda_plugin_create"));
  if (!abi || !create) throw Error(path, "is not a popup CUDA backend (entry points missing)");
  if (abi() != kCudaPluginAbi)
    throw Error(path, "was built for another version of popup (interface " + std::to_string(abi()) +
                          ", this build has " + std::to_string(kCudaPluginAbi) + "); rebuild it");
  char error[512] = "";
  Executor* exec = create(&net, &config, device, error, sizeof error);
  if (!exec) throw Error("", std::string("CUDA backend: ") + error);
  return std::unique_ptr<Executor>(exec);
}

}  // namespace

DeviceChoice device_parse(const std::string& text) {
  DeviceChoice c;
  if (text == "auto") return c;
  if (text == "cpu") {
    c.kind = DeviceChoice::cpu;
    return c;
  }
  uint64_t index = 0;
  if (text == "cuda" ||
      (text.rfind("cuda:", 0) == 0 && uint_parse(text.substr(5), index) && index < 1024)) {
    c.kind = DeviceChoice::cuda;
    c.index = static_cast<int>(index);
    return c;
  }
  throw InvalidArgument("--device", "must be auto, cpu, cuda or cuda:N, got '" + text + "'");
}

int cuda_device_count(std::string& why) {
  // Kept open: the plugin's runtime uses the same driver library.
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) {
    why = "no NVIDIA driver (libcuda.so.1 not found)";
    return 0;
  }
  auto* init = reinterpret_cast<CuInit*>(dlsym(driver, "cuInit"));
  auto* count = reinterpret_cast<CuDeviceGetCount*>(dlsym(driver, "cuDeviceGetCount"));
  auto* error_string = reinterpret_cast<CuGetErrorString*>(dlsym(driver, "cuGetErrorString"));
  if (!init || !count) {
    why = "libcuda.so.1 lacks cuInit or cuDeviceGetCount";
    return 0;
  }
  const auto describe = [&](int status) {
    const char* text = nullptr;
    if (error_string) error_string(status, &text);
    return text ? std::string(text) : "CUDA driver error " + std::to_string(status);
  };
  int n = 0;
  if (const int status = init(0); status != 0) {
    why = "the NVIDIA driver found no usable device (cuInit: " + describe(status) + ")";
    return 0;
  }
  if (const int status = count(&n); status != 0 || n <= 0) {
    why =
        status != 0 ? "cuDeviceGetCount: " + describe(status) : "the driver reports no CUDA device";
    return 0;
  }
  return n;
}

std::string cuda_plugin_path() { return plugin_path("POPUP_CUDA_PLUGIN", "libpopup-cuda.so"); }

std::unique_ptr<Executor> executor_create(const Network& net, const ExecutorConfig& config,
                                          const DeviceChoice& choice, std::string& note) {
  note.clear();
  if (choice.kind == DeviceChoice::cpu) return executor_cpu_create(net, config);
  std::string why;
  const int devices = cuda_device_count(why);
  if (choice.kind == DeviceChoice::cuda) {
    if (devices == 0) throw Error("", "--device cuda: " + why);
    if (choice.index >= devices)
      throw InvalidArgument("--device", "cuda:" + std::to_string(choice.index) +
                                            " does not exist (" + std::to_string(devices) +
                                            " CUDA device" + (devices == 1 ? "" : "s") + ")");
    return cuda_plugin_create(net, config, choice.index);
  }
  if (devices == 0) {
    if (!choice.quiet_fallback) note = why + "; using the CPU";
    return executor_cpu_create(net, config);
  }
  try {
    return cuda_plugin_create(net, config, 0);
  } catch (const Error& e) {
    note = std::string(e.what()) + "; using the CPU";
    return executor_cpu_create(net, config);
  }
}

}  // namespace popup

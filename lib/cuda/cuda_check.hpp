// Status checks for the CUDA runtime, cuDNN and cuBLAS: a failed call throws popup::Error
// naming the call and the library's own description of the status. DeviceScope: the device
// an entry point works on.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "error.hpp"

namespace popup {

inline void cuda_check(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw Error("", std::string("CUDA: ") + call + ": " + cudaGetErrorString(status));
}

inline void cudnn_check(cudnnStatus_t status, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw Error("", std::string("cuDNN: ") + call + ": " + cudnnGetErrorString(status));
}

inline void cublas_check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error("", std::string("cuBLAS: ") + call + ": " + cublasGetStatusString(status));
}

}  // namespace popup

#define CUDA_CHECK(call) ::popup::cuda_check((call), #call)
#define CUDNN_CHECK(call) ::popup::cudnn_check((call), #call)
#define CUBLAS_CHECK(call) ::popup::cublas_check((call), #call)

namespace popup {

// A device current on the calling thread for one public entry of the executor or the score
// engine, the caller's again after: allocations and launches must not follow whatever device
// another thread made current (cuda:N with N > 0).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) CUDA_CHECK(cudaSetDevice(device));
    changed_ = previous_ != device;
  }
  ~DeviceScope() {
    if (changed_) cudaSetDevice(previous_);  // no throw from a destructor
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

}  // namespace popup

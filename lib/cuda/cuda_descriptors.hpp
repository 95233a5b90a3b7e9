// Owning handles of the CUDA runtime, cuDNN and cuBLAS objects the CUDA executor holds, and
// the cuDNN tensor, filter and convolution descriptors it builds (cuda_descriptors.cpp).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <type_traits>

#include "net/arch.hpp"

namespace popup {
namespace cuda_impl {

// Owning handles, destroyed with their library's function (its status ignored: destructors
// must not throw).
template <typename Handle, auto Destroy>
struct HandleDelete {
  void operator()(std::remove_pointer_t<Handle>* h) const noexcept {
    static_cast<void>(Destroy(h));
  }
};
template <typename Handle, auto Destroy>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, HandleDelete<Handle, Destroy>>;

using Stream = Owned<cudaStream_t, cudaStreamDestroy>;
using Event = Owned<cudaEvent_t, cudaEventDestroy>;
using CudnnHandle = Owned<cudnnHandle_t, cudnnDestroy>;
using CublasHandle = Owned<cublasHandle_t, cublasDestroy>;
using TensorDesc = Owned<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor>;
using FilterDesc = Owned<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor>;
using ConvDesc = Owned<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor>;

// cuDNN and cuBLAS take int dimensions (InvalidArgument beyond INT_MAX).
int to_int(int64_t v);

// [n, c, h, w] fp32 NCHW.
TensorDesc tensor_desc(int64_t n, int64_t c, int64_t h, int64_t w);

// A conv tensor's weights [out, in, kh, kw], fp32.
FilterDesc filter_desc(const TensorSpec& spec);

// Its stride and padding, as cross-correlation (as PyTorch and oneDNN convolve).
ConvDesc conv_desc(const TensorSpec& spec);

}  // namespace cuda_impl
}  // namespace popup

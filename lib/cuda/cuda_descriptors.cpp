// The cuDNN descriptors of the CUDA executor (see cuda_descriptors.hpp).
#include "cuda/cuda_descriptors.hpp"

#include <climits>
#include <string>

#include "cuda/cuda_check.hpp"
#include "error.hpp"

namespace popup {
namespace cuda_impl {

// cuDNN and cuBLAS take int dimensions.
int to_int(int64_t v) {
  if (v < 0 || v > INT_MAX)
    throw InvalidArgument("", "dimension " + std::to_string(v) + " is too large for cuDNN");
  return static_cast<int>(v);
}

TensorDesc tensor_desc(int64_t n, int64_t c, int64_t h, int64_t w) {
  cudnnTensorDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  TensorDesc owned(d);
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(n),
                                         to_int(c), to_int(h), to_int(w)));
  return owned;
}

FilterDesc filter_desc(const TensorSpec& spec) {
  cudnnFilterDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
  FilterDesc owned(d);
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                         to_int(spec.shape[0]), to_int(spec.shape[1]),
                                         to_int(spec.shape[2]), to_int(spec.shape[3])));
  return owned;
}

// Cross-correlation, as PyTorch and oneDNN convolve.
ConvDesc conv_desc(const TensorSpec& spec) {
  cudnnConvolutionDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  ConvDesc owned(d);
  const int pad = to_int(spec.pad), stride = to_int(spec.stride);
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, pad, pad, stride, stride, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  return owned;
}

}  // namespace cuda_impl
}  // namespace popup

// The CUDA executor (DESIGN.md §7): a Network on one GPU with cuDNN (convolution, pooling,
// BatchNorm) and cuBLAS (linear layers), everything queued on one stream (in a data-parallel
// run, DESIGN.md §8, NCCL's gradient sums on a second one). Besides the
// Executor interface it gives the CUDA score engine its weight and gradient buffers, so that
// a training step never goes through host memory.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "backend/executor.hpp"

namespace popup {

class ExecutorCuda : public Executor {
 public:
  // Throws popup::Error when the device cannot be used (no device, out of memory, cuDNN or
  // cuBLAS cannot start).
  static std::unique_ptr<ExecutorCuda> create(const Network& net, const ExecutorConfig& config,
                                              int device);

  // The stream every operation of this executor is queued on.
  virtual cudaStream_t stream() const = 0;

  // Device array of tensor t's effective weights, row-major in the shape of
  // Network::tensors[t] (cuDNN's KCRS for convolutions, [out, in] for linear layers). Writers
  // queue on stream() and then call weights_written(t).
  virtual float* weights_device(size_t t) = 0;
  virtual void weights_written(size_t t) = 0;

  // Executor::backward with device outputs: gradients of the mean loss with respect to each
  // tensor's effective weights into grads[t] (device, numel floats, row-major; null skipped),
  // queued on stream() without waiting. In a data-parallel run (ExecutorConfig::comm) they are
  // already summed over the ranks for whatever stream() runs next.
  virtual void backward_device(const std::vector<float*>& grads) = 0;
};

// The score engine of this executor's training runs (score_engine_cuda.cpp).
std::unique_ptr<ScoreEngine> score_engine_cuda_create(ExecutorCuda& exec,
                                                      const OptimizerConfig& config);

}  // namespace popup

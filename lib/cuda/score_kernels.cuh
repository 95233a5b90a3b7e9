// The CUDA score engine's kernels behind a plain C++ interface (no CUDA types but the
// stream): per-layer top-k by radix selection with the exact tie-break of topk.hpp, fused
// with w_eff = w * mask, the fused straight-through gradient + optimiser update of
// optimizer.cpp, and IteRand's scatter of redrawn weights. Everything is queued on the given
// stream; nothing waits for the device.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/device_buffer.hpp"

namespace popup {

// One scored tensor's device arrays, n elements each (adam_v null for SGD).
struct ScoreTensorDevice {
  int64_t n = 0;
  float* scores = nullptr;
  const float* weights = nullptr;
  const float* grad = nullptr;  // dL/dw_eff
  float* first = nullptr;       // SGD momentum or Adam's m
  float* adam_v = nullptr;
};

// optimizer.cpp's per-step constants, in float32 as it computes them.
struct SgdStep {
  float rate = 0, weight_decay = 0, momentum = 0;
  bool nesterov = false;
  bool first = false;  // the first step: the momentum buffer starts as the gradient
};
struct AdamStep {
  float weight_decay = 0, beta1 = 0, beta2 = 0, eps = 0;
  float step_size = 0;         // rate / correction1
  float correction2_sqrt = 0;  // sqrt(1 - beta2^step)
};

class ScoreKernels {
 public:
  // Device memory for the selection's state between its passes, zeroed on `stream`.
  // Uses the current device.
  explicit ScoreKernels(cudaStream_t stream);

  // mask[i] = 1 for the `keep` elements of largest |scores[i]| (ties: lower index), else 0,
  // and w_eff[i] = mask[i] ? weights[i] : 0 (topk_mask's result, bit for bit). n <= 2^32.
  void topk_mask(const float* scores, const float* weights, int64_t n, int64_t keep, uint8_t* mask,
                 float* w_eff, cudaStream_t stream);

  // Straight-through dL/ds = dL/dw_eff * w * sign(s), then one optimiser update of the
  // scores and the state (Optimizer::update, same float operations in the same order).
  void sgd_step(const ScoreTensorDevice& t, const SgdStep& c, cudaStream_t stream);
  void adam_step(const ScoreTensorDevice& t, const AdamStep& c, cudaStream_t stream);

  // weights[index[j]] = values[j] for j < count (device arrays; the indices in range and
  // distinct, as RedrawState hands them).
  void scatter(const int64_t* index, const float* values, int64_t count, float* weights,
               cudaStream_t stream);

 private:
  int blocks(int64_t n) const;  // grid of a grid-stride loop over n elements

  DeviceArray<unsigned long long> select_state_;  // SelectState (score_kernels.cu)
  int max_blocks_ = 1;
};

}  // namespace popup

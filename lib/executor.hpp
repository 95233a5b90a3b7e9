// The backend interface: one Network executed on one device for batches of up to a fixed
// size. The algorithm (masks, top-k, score gradients, optimiser) stays in backend-independent
// code and only hands the executor effective weights and takes back their gradients.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "network.hpp"

namespace popup {

struct ExecutorConfig {
  int64_t max_batch = 128;       // forward() takes 1 .. max_batch examples
  float label_smoothing = 0.0f;  // PyTorch's CrossEntropyLoss(label_smoothing=...)
  bool train = true;             // false: inference only (no backward buffers)
};

// Sums over the examples of one forward.
struct BatchStats {
  double loss_sum = 0;     // sum of the per-example losses (smoothed if configured)
  int64_t correct1 = 0;    // top-1 correct
  int64_t correct5 = 0;    // top-5 correct (top-min(5, classes))
};

// A named float array: BatchNorm running statistics.
struct NamedArray {
  std::string name;  // "<bn>.running_mean" or "<bn>.running_var"
  std::vector<float> values;
};

class Executor {
 public:
  virtual ~Executor() = default;

  // Effective weights of tensor t (w * mask, or dense weights), row-major in the shape of
  // Network::tensors[t]. Copied (reordered) into the executor's own layout.
  virtual void set_weights(size_t t, const float* weights) = 0;

  // One batch of n examples: images [n, C, H, W] row-major (normalised), labels in
  // [0, classes). training: BatchNorm normalises with batch statistics and updates its
  // running statistics (momentum 0.1, unbiased variance), and backward() may follow;
  // otherwise BatchNorm uses the running statistics.
  virtual BatchStats forward(const float* images, const int32_t* labels, int64_t n,
                             bool training) = 0;

  // After a training forward: the gradient of the MEAN loss over its n examples with respect
  // to each tensor's effective weights, row-major, into grads[t] (numel floats); a null
  // grads[t] is skipped. No gradient is computed for the images.
  virtual void backward(const std::vector<float*>& grads) = 0;

  // Logits of the last forward, [n, classes] row-major.
  virtual const float* logits() = 0;

  // BatchNorm running statistics (network order: mean then var of each BatchNorm), and
  // setting them back (names must match).
  virtual std::vector<NamedArray> running_stats() const = 0;
  virtual void set_running_stats(const std::vector<NamedArray>& stats) = 0;
};

// The CPU backend (oneDNN). Threads: the OpenMP pool (omp_set_num_threads).
std::unique_ptr<Executor> executor_cpu_create(const Network& net, const ExecutorConfig& config);

}  // namespace popup

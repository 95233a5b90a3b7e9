// The CUDA score engine: weights, scores, masks, gradients and optimiser state live on the
// executor's device; masks and w * mask are written straight into the executor's weight
// buffers and a training step never goes through host memory nor waits for the device
// (IteRand's redrawn weights come from the host, between steps: set_weights_at waits).
// Computes what score_engine_host.cpp computes (masks identical, scores bit for bit).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/executor_cuda.hpp"
#include "cuda/score_kernels.cuh"
#include "error.hpp"
#include "train/optimizer.hpp"
#include "train/score_engine.hpp"

namespace popup {
namespace {

// The device current when the engine is made: the executor's (it made it current).
int current_device() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

class ScoreEngineCuda final : public ScoreEngine {
 public:
  ScoreEngineCuda(ExecutorCuda& exec, const OptimizerConfig& config)
      : exec_(exec), config_(config), device_(current_device()), kernels_(exec.stream()) {}

  void load(size_t t, int64_t n, const float* weights, const float* scores, int64_t keep) override;
  void refresh() override;
  void step(double lr) override;
  void scores(size_t t, float* out) override;
  void set_scores(size_t t, const float* in) override;
  void mask(size_t t, uint8_t* out) override;
  void set_weights_at(size_t t, const int64_t* index, const float* values, int64_t count) override;
  std::vector<std::string> state_names() const override;
  void state(const std::string& name, size_t t, float* out) override;
  void set_state(const std::string& name, size_t t, const float* in) override;
  int64_t steps() const override { return steps_; }
  void set_steps(int64_t steps) override { steps_ = steps; }

 private:
  struct Layer {
    int64_t n = 0;
    int64_t keep = 0;
    bool dense = true;
    DeviceArray<float> weights;  // frozen
    // Scored layers only:
    DeviceArray<float> scores, grad, first, second;  // first/second: optimizer.cpp's state
    DeviceArray<uint8_t> mask;
  };
  Layer& layer(size_t t);
  Layer& scored(size_t t);
  DeviceArray<float>& state_array(const std::string& name, size_t t);
  void refresh_layer(size_t t);
  void update_layer(Layer& l, double lr);
  void to_device(void* dst, const void* src, size_t bytes);
  void to_host(void* dst, const void* src, size_t bytes);

  ExecutorCuda& exec_;
  OptimizerConfig config_;
  int device_;  // the executor's
  ScoreKernels kernels_;
  std::vector<Layer> layers_;
  // set_weights_at's uploads: grown to the largest count seen, never shrunk
  DeviceArray<int64_t> scatter_index_;
  DeviceArray<float> scatter_values_;
  int64_t steps_ = 0;
  bool started_ = false;  // after the first step or state access no tensor can be added
};

// Synchronous copies: the host arrays belong to the caller and may go once we return.
void ScoreEngineCuda::to_device(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, exec_.stream()));
  CUDA_CHECK(cudaStreamSynchronize(exec_.stream()));
}

void ScoreEngineCuda::to_host(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, exec_.stream()));
  CUDA_CHECK(cudaStreamSynchronize(exec_.stream()));
}

void ScoreEngineCuda::load(size_t t, int64_t n, const float* weights, const float* scores,
                           int64_t keep) {
  const DeviceScope scope(device_);
  if (started_ || t != layers_.size())
    throw InvalidArgument("", "score engine: tensors are loaded once, in order, before training");
  const size_t count = static_cast<size_t>(n);
  Layer l;
  l.n = n;
  l.keep = keep;
  l.dense = scores == nullptr;
  l.weights.resize(count);
  to_device(l.weights.data(), weights, l.weights.bytes());
  if (!l.dense) {
    l.scores.resize(count);
    to_device(l.scores.data(), scores, l.scores.bytes());
    l.grad.resize(count);
    l.mask.resize(count);
    // All kept until the first refresh, as the host engine's mask (mask() may come first).
    CUDA_CHECK(cudaMemsetAsync(l.mask.data(), 1, l.mask.bytes(), exec_.stream()));
    // Optimizer state starts at zero, as optimizer.cpp's; SGD keeps a momentum array even
    // at momentum 0 so that its state reads back as the CPU's does.
    l.first.resize(count);
    CUDA_CHECK(cudaMemsetAsync(l.first.data(), 0, l.first.bytes(), exec_.stream()));
    if (config_.kind == OptimizerKind::adam) {
      l.second.resize(count);
      CUDA_CHECK(cudaMemsetAsync(l.second.data(), 0, l.second.bytes(), exec_.stream()));
    }
  }
  layers_.push_back(std::move(l));
}

ScoreEngineCuda::Layer& ScoreEngineCuda::layer(size_t t) {
  if (t >= layers_.size())
    throw InvalidArgument("", "score engine: no tensor " + std::to_string(t));
  return layers_[t];
}

ScoreEngineCuda::Layer& ScoreEngineCuda::scored(size_t t) {
  Layer& l = layer(t);
  if (l.dense) throw InvalidArgument("", "score engine: tensor " + std::to_string(t) + " is dense");
  return l;
}

void ScoreEngineCuda::refresh_layer(size_t t) {
  Layer& l = layers_[t];
  float* w_eff = exec_.weights_device(t);
  if (l.dense)
    CUDA_CHECK(cudaMemcpyAsync(w_eff, l.weights.data(), l.weights.bytes(), cudaMemcpyDeviceToDevice,
                               exec_.stream()));
  else
    kernels_.topk_mask(l.scores.data(), l.weights.data(), l.n, l.keep, l.mask.data(), w_eff,
                       exec_.stream());
  exec_.weights_written(t);
}

void ScoreEngineCuda::refresh() {
  const DeviceScope scope(device_);
  for (size_t t = 0; t < layers_.size(); ++t) refresh_layer(t);
}

// One Optimizer::update of a scored layer, after begin_step (steps_ already counts it).
void ScoreEngineCuda::update_layer(Layer& l, double lr) {
  ScoreTensorDevice d;
  d.n = l.n;
  d.scores = l.scores.data();
  d.weights = l.weights.data();
  d.grad = l.grad.data();
  d.first = l.first.data();
  d.adam_v = l.second.data();
  const float rate = static_cast<float>(lr);
  const float wd = static_cast<float>(config_.weight_decay);
  if (config_.kind == OptimizerKind::sgd) {
    SgdStep c;
    c.rate = rate;
    c.weight_decay = wd;
    c.momentum = static_cast<float>(config_.momentum);
    c.nesterov = config_.nesterov;
    c.first = steps_ == 1;  // PyTorch: the buffer starts as the first gradient
    kernels_.sgd_step(d, c, exec_.stream());
    return;
  }
  // Bias corrections in double, then float, exactly as optimizer.cpp.
  const double step = static_cast<double>(steps_);
  const float correction1 = static_cast<float>(1.0 - std::pow(config_.beta1, step));
  AdamStep c;
  c.weight_decay = wd;
  c.beta1 = static_cast<float>(config_.beta1);
  c.beta2 = static_cast<float>(config_.beta2);
  c.eps = static_cast<float>(config_.eps);
  c.step_size = rate / correction1;
  c.correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(config_.beta2, step)));
  kernels_.adam_step(d, c, exec_.stream());
}

void ScoreEngineCuda::step(double lr) {
  const DeviceScope scope(device_);
  std::vector<float*> grads(layers_.size(), nullptr);
  for (size_t t = 0; t < layers_.size(); ++t)
    if (!layers_[t].dense) grads[t] = layers_[t].grad.data();
  // In a data-parallel run backward_device leaves the gradients summed over the ranks (the
  // stream waits for the sums), so every rank's update below sees the same gradient.
  exec_.backward_device(grads);
  started_ = true;
  ++steps_;  // Optimizer::begin_step
  for (size_t t = 0; t < layers_.size(); ++t) {
    if (layers_[t].dense) continue;
    update_layer(layers_[t], lr);
    refresh_layer(t);
  }
}

void ScoreEngineCuda::scores(size_t t, float* out) {
  const DeviceScope scope(device_);
  Layer& l = scored(t);
  to_host(out, l.scores.data(), l.scores.bytes());
}

void ScoreEngineCuda::set_scores(size_t t, const float* in) {
  const DeviceScope scope(device_);
  Layer& l = scored(t);
  to_device(l.scores.data(), in, l.scores.bytes());
}

void ScoreEngineCuda::mask(size_t t, uint8_t* out) {
  const DeviceScope scope(device_);
  Layer& l = layer(t);
  if (l.dense)
    std::fill(out, out + l.n, uint8_t{1});
  else
    to_host(out, l.mask.data(), l.mask.bytes());
}

// Uploads the positions and values, scatters them into the frozen weights on the stream and
// waits (the host arrays may go once we return), as ScoreEngineHost::set_weights_at.
void ScoreEngineCuda::set_weights_at(size_t t, const int64_t* index, const float* values,
                                     int64_t count) {
  const DeviceScope scope(device_);
  Layer& l = layer(t);
  if (count < 0)
    throw InvalidArgument("", "score engine: " + std::to_string(count) + " weights to set");
  if (count == 0) return;
  for (int64_t j = 0; j < count; ++j)  // the host engine's .at() check, before any upload
    if (index[j] < 0 || index[j] >= l.n)
      throw InvalidArgument("", "score engine: weight " + std::to_string(index[j]) +
                                    " is outside tensor " + std::to_string(t) + " (" +
                                    std::to_string(l.n) + " weights)");
  const size_t m = static_cast<size_t>(count);
  if (scatter_index_.size() < m) {
    // nothing queued reads the old buffers: every call waits for its scatter
    scatter_index_.resize(m);
    scatter_values_.resize(m);
  }
  CUDA_CHECK(cudaMemcpyAsync(scatter_index_.data(), index, m * sizeof(int64_t),
                             cudaMemcpyHostToDevice, exec_.stream()));
  CUDA_CHECK(cudaMemcpyAsync(scatter_values_.data(), values, m * sizeof(float),
                             cudaMemcpyHostToDevice, exec_.stream()));
  kernels_.scatter(scatter_index_.data(), scatter_values_.data(), count, l.weights.data(),
                   exec_.stream());
  CUDA_CHECK(cudaStreamSynchronize(exec_.stream()));
}

std::vector<std::string> ScoreEngineCuda::state_names() const {
  return optimizer_state_names(config_.kind);
}

// The names Optimizer::state accepts, with its error for any other.
DeviceArray<float>& ScoreEngineCuda::state_array(const std::string& name, size_t t) {
  Layer& l = scored(t);
  started_ = true;
  if (name == "momentum" || name == "adam_m") return l.first;
  if (name == "adam_v" && config_.kind == OptimizerKind::adam) return l.second;
  throw InvalidArgument("", "no optimiser state '" + name + "'");
}

void ScoreEngineCuda::state(const std::string& name, size_t t, float* out) {
  const DeviceScope scope(device_);
  DeviceArray<float>& s = state_array(name, t);
  to_host(out, s.data(), s.bytes());
}

void ScoreEngineCuda::set_state(const std::string& name, size_t t, const float* in) {
  const DeviceScope scope(device_);
  DeviceArray<float>& s = state_array(name, t);
  to_device(s.data(), in, s.bytes());
}

}  // namespace

std::unique_ptr<ScoreEngine> score_engine_cuda_create(ExecutorCuda& exec,
                                                      const OptimizerConfig& config) {
  return std::make_unique<ScoreEngineCuda>(exec, config);
}

}  // namespace popup

// The reference score engine: host arrays, per-layer top-k by selection (topk.hpp), the
// straight-through gradient and the optimiser (optimizer.hpp); weights and mask go to the
// executor with Executor::set_masked_weights and gradients come back with Executor::backward.
// Per step and scored layer: one parallel pass forms the straight-through gradient and updates
// the scores (Optimizer::update_straight_through), one finds the mask (TopkSelector, which
// reuses the last step's threshold), and the executor applies the mask to the weights
// (Executor::set_masked_weights). No allocation after the first step.
#include <algorithm>
#include <chrono>
#include <utility>

#include "error.hpp"
#include "backend/executor.hpp"
#include "train/score_engine.hpp"
#include "train/topk.hpp"

namespace popup {
namespace {

class ScoreEngineHost final : public ScoreEngineOnHost {
 public:
  ScoreEngineHost(Executor& exec, const OptimizerConfig& config)
      : ScoreEngineOnHost(config), exec_(exec) {}

  void load(size_t t, int64_t n, const float* weights, const float* scores, int64_t keep) override;
  void refresh() override;
  void step(double lr) override;
  void scores(size_t t, float* out) override;
  void set_scores(size_t t, const float* in) override;
  void mask(size_t t, uint8_t* out) override;
  void set_weights_at(size_t t, const int64_t* index, const float* values, int64_t count) override;
  StepProfile profile() const override { return profile_; }

 private:
  struct Layer {
    std::vector<float> weights;  // frozen
    std::vector<float> scores;   // empty: dense
    std::vector<uint8_t> mask;
    std::vector<float> grad;  // dL/dw_eff from the executor
    int64_t keep = 0;
    TopkSelector selector;
  };
  Layer& layer(size_t t);
  Layer& scored(size_t t);
  void scored_check(size_t t) override { scored(t); }
  void refresh_layer(size_t t);

  Executor& exec_;
  std::vector<Layer> layers_;
  std::vector<uint64_t> topk_scratch_;  // shared by the layers' selectors
  std::vector<float*> grads_;           // Executor::backward's destinations
  StepProfile profile_;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point& start) {  // and restarts the clock
  const Clock::time_point now = Clock::now();
  const double s = std::chrono::duration<double>(now - start).count();
  start = now;
  return s;
}

void ScoreEngineHost::load(size_t t, int64_t n, const float* weights, const float* scores,
                           int64_t keep) {
  if (optimizer_.made() || t != layers_.size())
    throw InvalidArgument("", "score engine: tensors are loaded once, in order, before training");
  Layer l;
  l.keep = keep;
  l.weights.assign(weights, weights + n);
  l.mask.assign(static_cast<size_t>(n), uint8_t{1});
  if (scores) {
    l.scores.assign(scores, scores + n);
    l.grad.assign(static_cast<size_t>(n), 0.0f);
  }
  optimizer_.tensor_add(static_cast<int64_t>(l.scores.size()));
  layers_.push_back(std::move(l));
}

ScoreEngineHost::Layer& ScoreEngineHost::layer(size_t t) {
  if (t >= layers_.size())
    throw InvalidArgument("", "score engine: no tensor " + std::to_string(t));
  return layers_[t];
}

ScoreEngineHost::Layer& ScoreEngineHost::scored(size_t t) {
  Layer& l = layer(t);
  if (l.scores.empty())
    throw InvalidArgument("", "score engine: tensor " + std::to_string(t) + " is dense");
  return l;
}

void ScoreEngineHost::refresh_layer(size_t t) {
  Layer& l = layers_[t];
  const int64_t n = static_cast<int64_t>(l.weights.size());
  uint8_t* mask = l.mask.data();
  Clock::time_point clock = Clock::now();
  if (!l.scores.empty()) {
    l.selector.select(l.scores.data(), n, l.keep, mask, topk_scratch_);
    profile_.topk += seconds_since(clock);
  }
  exec_.set_masked_weights(t, n, l.weights.data(), mask);
  profile_.masked_weights += seconds_since(clock);
}

void ScoreEngineHost::refresh() {
  for (size_t t = 0; t < layers_.size(); ++t) refresh_layer(t);
}

void ScoreEngineHost::step(double lr) {
  Clock::time_point clock = Clock::now();
  grads_.assign(layers_.size(), nullptr);
  for (size_t t = 0; t < layers_.size(); ++t)
    if (!layers_[t].scores.empty()) grads_[t] = layers_[t].grad.data();
  exec_.backward(grads_);
  profile_.backward += seconds_since(clock);
  Optimizer& opt = optimizer_.get();
  opt.begin_step();
  for (size_t t = 0; t < layers_.size(); ++t) {
    Layer& l = layers_[t];
    if (l.scores.empty()) continue;
    // Straight-through: dL/ds = dL/dw_eff * w * sign(s) (sign(0) = 0, as |s|' in PyTorch).
    clock = Clock::now();
    opt.update_straight_through(t, l.scores.data(), l.grad.data(), l.weights.data(), lr);
    profile_.optimizer += seconds_since(clock);
    refresh_layer(t);
  }
}

void ScoreEngineHost::scores(size_t t, float* out) {
  const Layer& l = scored(t);
  std::copy(l.scores.begin(), l.scores.end(), out);
}

void ScoreEngineHost::set_scores(size_t t, const float* in) {
  Layer& l = scored(t);
  std::copy(in, in + l.scores.size(), l.scores.begin());
}

void ScoreEngineHost::mask(size_t t, uint8_t* out) {
  const Layer& l = layer(t);
  std::copy(l.mask.begin(), l.mask.end(), out);
}

void ScoreEngineHost::set_weights_at(size_t t, const int64_t* index, const float* values,
                                     int64_t count) {
  Layer& l = layer(t);
  for (int64_t j = 0; j < count; ++j) l.weights.at(static_cast<size_t>(index[j])) = values[j];
}

}  // namespace

void ScoreEngine::set_weights_at(size_t, const int64_t*, const float*, int64_t) {
  throw InvalidArgument("",
                        "this score engine does not redraw weights (IteRand runs on the "
                        "edge-popup engines)");
}

std::unique_ptr<ScoreEngine> score_engine_host_create(Executor& exec,
                                                      const OptimizerConfig& config) {
  return std::make_unique<ScoreEngineHost>(exec, config);
}

}  // namespace popup

// The parameter work of the methods other than edge-popup (DESIGN.md §4), on host arrays for
// any executor (Executor::set_weights and Executor::backward), so that they run on every
// device: global top-k, biprop, dense training and the supermask. Edge-popup keeps its own
// engines (score_engine.hpp), which this one does not change.
#pragma once

#include <cstdint>
#include <vector>

#include "train/method.hpp"
#include "train/optimizer.hpp"
#include "train/score_engine.hpp"
#include "train/topk.hpp"

namespace popup {

class Executor;

// Per method, with s the trained parameter of a scored layer, w its frozen weights and g the
// executor's dL/dw_eff:
//   global     w_eff = w * mask, mask: the keep largest |s| over all scored layers together
//              (ties: lower layer, then lower element); dL/ds = g * w * sign(s)
//   biprop     w_eff = sign(w) * alpha * mask, mask the per-layer top-k of |s|, alpha the mean
//              |w| of the kept weights; dL/ds = g * w * sign(s) (the reference's backward
//              passes g * |w| to |s|, alpha held constant)
//   dense      s is the weight itself: w_eff = s, dL/ds = g
//   supermask  s is a logit, p = sigmoid(s); w_eff = w * m with m ~ Bernoulli(p) drawn anew for
//              each training forward (method.hpp's supermask_sample, draw = the optimiser
//              step); straight-through dL/ds = g * w * p (1 - p); mask() and evaluation use
//              the deterministic mask p > 0.5 (s > 0)
// Layers loaded without scores (kept dense) hand w to the executor and have no state.
class MethodEngine final : public ScoreEngineOnHost {
 public:
  MethodEngine(Executor& exec, const OptimizerConfig& config, Method method, uint64_t seed);

  // `keep` is per layer for biprop (global: set_keep_fraction decides; dense and supermask:
  // unused). For dense, `scores` are the initial weights.
  void load(size_t t, int64_t n, const float* weights, const float* scores, int64_t keep) override;
  void refresh() override;
  void step(double lr) override;
  void scores(size_t t, float* out) override;
  void set_scores(size_t t, const float* in) override;
  void mask(size_t t, uint8_t* out) override;

  // global: the fraction of all scored weights kept (the ramp's); refresh() applies it.
  void set_keep_fraction(double k) { keep_fraction_ = k; }
  // supermask: hand the executor the deterministic mask's weights (true) or the current
  // step's sample again (false). Other methods: nothing changes.
  void set_evaluation(bool on);
  // biprop: layer t's alpha after the last refresh (0 for a layer kept dense).
  float alpha(size_t t) const { return layers_.at(t).alpha; }

 private:
  struct Layer {
    std::vector<float> weights;  // frozen (dense method: the initial weights, unused)
    bool scored = false;
    int64_t offset = 0, n = 0;  // slice of params_ / masks_ / grads_
    int64_t keep = 0;
    float alpha = 0;
    TopkSelector selector;
  };
  Layer& scored(size_t t);
  void scored_check(size_t t) override { scored(t); }
  void masks_update();
  void weights_hand(size_t t);

  Executor& exec_;
  Method method_;
  uint64_t seed_;
  double keep_fraction_ = 1;
  bool evaluation_ = false;
  std::vector<Layer> layers_;
  std::vector<float> params_, grads_;  // the scored layers' slices, contiguous, in order
  std::vector<uint8_t> masks_;
  TopkSelector global_selector_;
  std::vector<float> work_;
  std::vector<uint64_t> topk_scratch_;
};

}  // namespace popup

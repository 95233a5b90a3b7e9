// Edge-popup's per-tensor parameter work, run where a backend keeps its weights (DESIGN.md §4):
// the frozen weights, the scores, the per-layer top-k masks (count and tie-break of topk.hpp),
// w_eff = w * mask handed to the executor, the straight-through score gradient
// dL/ds = dL/dw_eff * w * sign(s), and the optimiser update (optimizer.hpp's formulas).
// The CPU engine (score_engine_host.cpp) is the reference; the CUDA engine computes the same.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "train/optimizer.hpp"

namespace popup {

class Executor;

// Where a training step's parameter work goes, in seconds summed since the engine was made:
// the executor's backward, the straight-through gradient with the optimiser update, the top-k
// selection, and producing w * mask for the executor. Engines that run asynchronously (the
// GPU) report zeros.
struct StepProfile {
  double backward = 0, optimizer = 0, topk = 0, masked_weights = 0;
};

class ScoreEngine {
 public:
  virtual ~ScoreEngine() = default;

  // Tensor t's n frozen weights (row-major, as Network::tensors[t]) and, unless the layer is
  // dense (scores null: the mask keeps every weight), its n scores and how many weights it
  // keeps. Every tensor is loaded once, in order, before refresh().
  virtual void load(size_t t, int64_t n, const float* weights, const float* scores,
                    int64_t keep) = 0;

  // Recompute every mask from the scores and hand w * mask to the executor.
  virtual void refresh() = 0;

  // After a training forward of the executor: its backward, the straight-through score
  // gradient, one optimiser step at learning rate lr for every scored tensor, then refresh().
  virtual void step(double lr) = 0;

  // IteRand (redraw.hpp): frozen weights index[0 .. count) of tensor t become values[..]. w * mask
  // is not handed again: refresh() before the next forward unless the mask drops them all.
  // Engines that do not redraw (MethodEngine) throw InvalidArgument.
  virtual void set_weights_at(size_t t, const int64_t* index, const float* values, int64_t count);

  // Host copies (they wait for queued work). Dense layers have no scores nor state.
  virtual void scores(size_t t, float* out) = 0;
  virtual void set_scores(size_t t, const float* in) = 0;  // refresh() before the next forward
  virtual void mask(size_t t, uint8_t* out) = 0;           // one byte per weight: 0 or 1

  // Optimiser state for checkpoints: "momentum" (SGD) or "adam_m" and "adam_v" (Adam).
  virtual std::vector<std::string> state_names() const = 0;
  virtual void state(const std::string& name, size_t t, float* out) = 0;
  virtual void set_state(const std::string& name, size_t t, const float* in) = 0;
  virtual int64_t steps() const = 0;  // optimiser steps taken (Adam's bias correction)
  virtual void set_steps(int64_t steps) = 0;

  virtual StepProfile profile() const { return StepProfile(); }
};

// The optimiser state of an engine whose parameters live on the host (score_engine_host.cpp,
// method_engine.hpp), written once: a derived engine says which tensors have state.
class ScoreEngineOnHost : public ScoreEngine {
 public:
  explicit ScoreEngineOnHost(const OptimizerConfig& config) : optimizer_(config) {}

  std::vector<std::string> state_names() const final { return optimizer_.state_names(); }
  void state(const std::string& name, size_t t, float* out) final {
    scored_check(t);
    optimizer_.state(name, t, out);
  }
  void set_state(const std::string& name, size_t t, const float* in) final {
    scored_check(t);
    optimizer_.set_state(name, t, in);
  }
  int64_t steps() const final { return optimizer_.steps(); }
  void set_steps(int64_t steps) final { optimizer_.set_steps(steps); }

 protected:
  // Throws InvalidArgument unless tensor t has scores (and so optimiser state).
  virtual void scored_check(size_t t) = 0;

  LazyOptimizer optimizer_;
};

// The reference engine: host arrays, Executor::set_weights and Executor::backward.
std::unique_ptr<ScoreEngine> score_engine_host_create(Executor& exec,
                                                      const OptimizerConfig& config);

}  // namespace popup

// Optimisers for the scores (DESIGN.md §4), as PyTorch defines them: SGD with momentum
// (no dampening, optional Nesterov) and weight decay added to the gradient; Adam with L2
// weight decay. State per tensor, exported for checkpoints. The element loops are parallel
// (OpenMP); every element's update is independent, so thread count never changes a bit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace popup {

enum class OptimizerKind { sgd, adam };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
};

OptimizerKind optimizer_parse(const std::string& name);  // "sgd" | "adam"; InvalidArgument
const char* optimizer_name(OptimizerKind kind);

// The names of the state arrays each tensor has: "momentum" (SGD), or "adam_m" and "adam_v".
std::vector<std::string> optimizer_state_names(OptimizerKind kind);

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, const std::vector<int64_t>& sizes);

  // One update of tensor t's parameters from its gradient at learning rate lr. Call
  // begin_step() once before the updates of one optimisation step.
  void begin_step() { ++steps_; }
  void update(size_t t, float* params, const float* grad, double lr);
  // update() of edge-popup's scores from dL/dw_eff, with the straight-through gradient
  // dL/ds = dL/dw_eff * w * sign(s) (sign(0) = 0) formed inside the same pass: the same float
  // operations in the same order as forming it first and calling update(), so the same bits.
  void update_straight_through(size_t t, float* scores, const float* grad_w, const float* weights,
                               double lr);

  int64_t steps() const { return steps_; }
  // State for checkpoints: named arrays per tensor ("momentum", or "adam_m" and "adam_v").
  std::vector<std::string> state_names() const;
  std::vector<float>& state(const std::string& name, size_t t);
  const std::vector<float>& state(const std::string& name, size_t t) const {
    return const_cast<Optimizer&>(*this).state(name, t);
  }
  void set_steps(int64_t steps) { steps_ = steps; }

 private:
  OptimizerConfig config_;
  std::vector<int64_t> sizes_;
  std::vector<std::vector<float>> first_, second_;  // momentum / Adam moments
  int64_t steps_ = 0;
};

// The optimiser of a host score engine (score_engine_host.cpp, method_engine.cpp) and the
// ScoreEngine's state accessors on it: the engine adds each tensor as it loads it, the
// optimiser is made at the first step or state access, and the step count set before then (a
// resumed checkpoint) is kept for it.
class LazyOptimizer {
 public:
  explicit LazyOptimizer(const OptimizerConfig& config) : config_(config) {}

  // The next tensor's number of parameters (0: a tensor without state, one kept dense).
  void tensor_add(int64_t n) { sizes_.push_back(n); }
  bool made() const { return optimizer_ != nullptr; }
  Optimizer& get();  // made on the first call, for the tensors added so far

  int64_t steps() const { return optimizer_ ? optimizer_->steps() : steps_; }
  void set_steps(int64_t steps);
  std::vector<std::string> state_names() const { return optimizer_state_names(config_.kind); }
  // Host copies of Optimizer::state(name, t).
  void state(const std::string& name, size_t t, float* out);
  void set_state(const std::string& name, size_t t, const float* in);

 private:
  OptimizerConfig config_;
  std::vector<int64_t> sizes_;
  std::unique_ptr<Optimizer> optimizer_;
  int64_t steps_ = 0;
};

}  // namespace popup

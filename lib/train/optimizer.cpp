// SGD and Adam updates in float32, in the order of PyTorch's implementations; the host
// engines' optimiser made on demand.
#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "error.hpp"

namespace popup {

OptimizerKind optimizer_parse(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "adam") return OptimizerKind::adam;
  throw InvalidArgument("", "unknown optimiser '" + name + "' (known: sgd, adam)");
}

const char* optimizer_name(OptimizerKind kind) {
  return kind == OptimizerKind::sgd ? "sgd" : "adam";
}

std::vector<std::string> optimizer_state_names(OptimizerKind kind) {
  if (kind == OptimizerKind::sgd) return {"momentum"};
  return {"adam_m", "adam_v"};
}

Optimizer::Optimizer(const OptimizerConfig& config, const std::vector<int64_t>& sizes)
    : config_(config), sizes_(sizes) {
  for (const int64_t n : sizes) {
    first_.emplace_back(static_cast<size_t>(n), 0.0f);
    if (config.kind == OptimizerKind::adam) second_.emplace_back(static_cast<size_t>(n), 0.0f);
  }
}

namespace {

constexpr int64_t kParallelMin = 16384;  // smaller tensors: one thread (no fork-join cost)

// SGD's loop, one instantiation per case so that the loop body has no branch and vectorises;
// the arithmetic of each element is PyTorch's whatever the case.
template <bool kMomentum, bool kFirst, bool kNesterov, class Gradient>
void sgd_loop(int64_t n, float* p, float* m, Gradient grad, float wd, float mu, float rate) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float d = grad(i) + wd * p[i];
    if (kMomentum) {
      m[i] = kFirst ? d : mu * m[i] + d;  // PyTorch: the buffer starts as the first gradient
      d = kNesterov ? d + mu * m[i] : m[i];
    }
    p[i] -= rate * d;
  }
}

// The update of one tensor, the gradient of element i given by grad(i) (read before p[i]
// changes). PyTorch's float order; -ffp-contract=off keeps every product and sum rounded.
template <class Gradient>
void update_tensor(const OptimizerConfig& config, int64_t steps, int64_t n, float* p, float* m,
                   float* v, Gradient grad, double lr) {
  const float wd = static_cast<float>(config.weight_decay);
  const float rate = static_cast<float>(lr);
  if (config.kind == OptimizerKind::sgd) {
    const float mu = static_cast<float>(config.momentum);
    const bool first = steps == 1;
    if (mu == 0.0f)
      sgd_loop<false, false, false>(n, p, m, grad, wd, mu, rate);
    else if (first && config.nesterov)
      sgd_loop<true, true, true>(n, p, m, grad, wd, mu, rate);
    else if (first)
      sgd_loop<true, true, false>(n, p, m, grad, wd, mu, rate);
    else if (config.nesterov)
      sgd_loop<true, false, true>(n, p, m, grad, wd, mu, rate);
    else
      sgd_loop<true, false, false>(n, p, m, grad, wd, mu, rate);
    return;
  }
  const float b1 = static_cast<float>(config.beta1), b2 = static_cast<float>(config.beta2);
  const double step = static_cast<double>(steps);
  const float correction1 = static_cast<float>(1.0 - std::pow(config.beta1, step));
  const float correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(config.beta2, step)));
  const float step_size = rate / correction1;
  const float eps = static_cast<float>(config.eps);
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float d = grad(i) + wd * p[i];
    m[i] = b1 * m[i] + (1.0f - b1) * d;
    v[i] = b2 * v[i] + (1.0f - b2) * d * d;
    p[i] -= step_size * (m[i] / (std::sqrt(v[i]) / correction2_sqrt + eps));
  }
}

}  // namespace

void Optimizer::update(size_t t, float* p, const float* g, double lr) {
  float* v = config_.kind == OptimizerKind::adam ? second_[t].data() : nullptr;
  update_tensor(
      config_, steps_, sizes_[t], p, first_[t].data(), v, [g](int64_t i) { return g[i]; }, lr);
}

void Optimizer::update_straight_through(size_t t, float* s, const float* grad_w, const float* w,
                                        double lr) {
  float* v = config_.kind == OptimizerKind::adam ? second_[t].data() : nullptr;
  update_tensor(
      config_, steps_, sizes_[t], s, first_[t].data(), v,
      [s, grad_w, w](int64_t i) {
        const float sign = static_cast<float>((s[i] > 0.0f) - (s[i] < 0.0f));
        return grad_w[i] * w[i] * sign;
      },
      lr);
}

std::vector<std::string> Optimizer::state_names() const {
  return optimizer_state_names(config_.kind);
}

std::vector<float>& Optimizer::state(const std::string& name, size_t t) {
  if (name == "momentum" || name == "adam_m") return first_.at(t);
  if (name == "adam_v" && config_.kind == OptimizerKind::adam) return second_.at(t);
  throw InvalidArgument("", "no optimiser state '" + name + "'");
}

Optimizer& LazyOptimizer::get() {
  if (!optimizer_) {
    optimizer_ = std::make_unique<Optimizer>(config_, sizes_);
    optimizer_->set_steps(steps_);
  }
  return *optimizer_;
}

void LazyOptimizer::set_steps(int64_t steps) {
  steps_ = steps;
  if (optimizer_) optimizer_->set_steps(steps);
}

void LazyOptimizer::state(const std::string& name, size_t t, float* out) {
  const std::vector<float>& s = std::as_const(get()).state(name, t);
  std::copy(s.begin(), s.end(), out);
}

void LazyOptimizer::set_state(const std::string& name, size_t t, const float* in) {
  std::vector<float>& s = get().state(name, t);
  std::copy(in, in + s.size(), s.begin());
}

}  // namespace popup

// SGD and Adam updates in float32, in the order of PyTorch's implementations.
#include "optimizer.hpp"

#include <cmath>

#include "error.hpp"

namespace popup {

OptimizerKind optimizer_parse(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "adam") return OptimizerKind::adam;
  throw InvalidArgument("", "unknown optimiser '" + name + "' (known: sgd, adam)");
}

const char* optimizer_name(OptimizerKind kind) { return kind == OptimizerKind::sgd ? "sgd" : "adam"; }

Optimizer::Optimizer(const OptimizerConfig& config, const std::vector<int64_t>& sizes)
    : config_(config), sizes_(sizes) {
  for (const int64_t n : sizes) {
    first_.emplace_back(static_cast<size_t>(n), 0.0f);
    if (config.kind == OptimizerKind::adam) second_.emplace_back(static_cast<size_t>(n), 0.0f);
  }
}

void Optimizer::update(size_t t, float* p, const float* g, double lr) {
  const int64_t n = sizes_[t];
  float* m = first_[t].data();
  const float wd = static_cast<float>(config_.weight_decay);
  const float rate = static_cast<float>(lr);
  if (config_.kind == OptimizerKind::sgd) {
    const float mu = static_cast<float>(config_.momentum);
    const bool first = steps_ == 1;  // PyTorch: the buffer starts as the first gradient
    const bool nesterov = config_.nesterov;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i] + wd * p[i];
      if (mu != 0.0f) {
        m[i] = first ? d : mu * m[i] + d;
        d = nesterov ? d + mu * m[i] : m[i];
      }
      p[i] -= rate * d;
    }
    return;
  }
  float* v = second_[t].data();
  const float b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
  const double step = static_cast<double>(steps_);
  const float correction1 = static_cast<float>(1.0 - std::pow(config_.beta1, step));
  const float correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(config_.beta2, step)));
  const float step_size = rate / correction1;
  const float eps = static_cast<float>(config_.eps);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float d = g[i] + wd * p[i];
    m[i] = b1 * m[i] + (1.0f - b1) * d;
    v[i] = b2 * v[i] + (1.0f - b2) * d * d;
    p[i] -= step_size * (m[i] / (std::sqrt(v[i]) / correction2_sqrt + eps));
  }
}

std::vector<std::string> Optimizer::state_names() const {
  if (config_.kind == OptimizerKind::sgd) return {"momentum"};
  return {"adam_m", "adam_v"};
}

std::vector<float>& Optimizer::state(const std::string& name, size_t t) {
  if (name == "momentum" || name == "adam_m") return first_.at(t);
  if (name == "adam_v" && config_.kind == OptimizerKind::adam) return second_.at(t);
  throw InvalidArgument("", "no optimiser state '" + name + "'");
}

}  // namespace popup

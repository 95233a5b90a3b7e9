// Learning-rate schedules.
#include "train/schedule.hpp"

#include <cmath>

#include "error.hpp"

namespace popup {

ScheduleKind schedule_parse(const std::string& name) {
  if (name == "cosine") return ScheduleKind::cosine;
  if (name == "cosine-step") return ScheduleKind::cosine_step;
  if (name == "constant") return ScheduleKind::constant;
  if (name == "step") return ScheduleKind::step;
  throw InvalidArgument(
      "", "unknown schedule '" + name + "' (known: cosine, cosine-step, constant, step)");
}

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::cosine: return "cosine";
    case ScheduleKind::cosine_step: return "cosine-step";
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
  }
  return "?";
}

double schedule_lr(const ScheduleConfig& c, int64_t epoch, int64_t batch, int64_t batches) {
  if (epoch < c.warmup_epochs)
    return c.base_lr * static_cast<double>(epoch + 1) / static_cast<double>(c.warmup_epochs);
  const double e = static_cast<double>(epoch - c.warmup_epochs);
  const double span = static_cast<double>(c.epochs - c.warmup_epochs);
  switch (c.kind) {
    case ScheduleKind::cosine: return 0.5 * (1.0 + std::cos(M_PI * e / span)) * c.base_lr;
    case ScheduleKind::cosine_step: {
      const double fraction = static_cast<double>(batch) / static_cast<double>(batches);
      return 0.5 * (1.0 + std::cos(M_PI * (e + fraction) / span)) * c.base_lr;
    }
    case ScheduleKind::constant: return c.base_lr;
    case ScheduleKind::step:
      return c.base_lr * std::pow(c.gamma, static_cast<double>(epoch / c.step_size));
  }
  return c.base_lr;
}

}  // namespace popup

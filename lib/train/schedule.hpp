// Learning-rate schedules (DESIGN.md §4): cosine (the reference sets it once per epoch,
// lr = base * (1 + cos(pi * e / E)) / 2 for e = 0 .. E-1; per step as an option), constant,
// step decay; all with an optional linear warm-up of W epochs (base * (e + 1) / W), after which
// the cosine runs over the remaining E - W epochs, as the reference's cosine_lr does.
#pragma once

#include <cstdint>
#include <string>

namespace popup {

enum class ScheduleKind { cosine, cosine_step, constant, step };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::cosine;
  double base_lr = 0.1;
  int64_t epochs = 1;
  int64_t warmup_epochs = 0;
  int64_t step_size = 30;  // step: multiply by gamma every step_size epochs
  double gamma = 0.1;
};

ScheduleKind schedule_parse(const std::string& name);  // cosine, cosine-step, constant, step
const char* schedule_name(ScheduleKind kind);

// The learning rate for batch `batch` of `batches` in epoch `epoch` (0-based).
double schedule_lr(const ScheduleConfig& config, int64_t epoch, int64_t batch, int64_t batches);

}  // namespace popup

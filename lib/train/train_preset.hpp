// Named training recipes (popup-train --preset NAME): the hyperparameters of the official
// edge-popup configurations (allenai/hidden-networks, configs/largescale and configs/smallscale)
// as defaults; an option given on the command line overrides the preset's value.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/train_config.hpp"

namespace popup {

struct TrainPreset {
  std::string name;
  std::string description;  // one line, for --help and the man page
  std::string source;       // the official configuration files it follows
  int64_t epochs;
  int64_t batch_size;
  double lr;
  int64_t warmup_epochs;
  ScheduleKind schedule;
  double momentum;
  bool nesterov;
  double weight_decay;
  double label_smoothing;
  double k;  // fraction of weights kept per layer (the official code's prune_rate, see .cpp)
};

// Every preset, in the order --help lists them.
const std::vector<TrainPreset>& train_presets();

// The preset called `name`; InvalidArgument("--preset") naming the known ones otherwise.
const TrainPreset& train_preset_find(const std::string& name);

// Set the preset's values in `config` (epochs and base rate in config.schedule; SGD), except
// those of the options for which on_command_line(option) is true ("--epochs", "--batch-size",
// "--lr", "--warmup", "--schedule", "--momentum", "--nesterov", "--weight-decay",
// "--label-smoothing", "--k", "--optimizer"). The values it sets count as given in `given`, so
// that train_config_method_defaults keeps them (--method dense --preset imagenet trains with
// lr 0.256, as the official dense baseline does). Throws InvalidArgument("--preset") when the
// preset's warm-up would not be shorter than the epochs given, and when --optimizer adam is
// given (every preset is SGD's).
void train_preset_apply(const std::string& name, TrainConfig& config, GivenOptions& given,
                        const std::function<bool(const std::string& option)>& on_command_line);

// "NAME: description" lines, one per preset, for --help (no newline after the last).
std::string train_presets_help();

}  // namespace popup

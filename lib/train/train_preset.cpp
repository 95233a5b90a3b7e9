// The named training recipes of popup-train --preset: values read from the official edge-popup
// configuration files (allenai/hidden-networks), applied under the options given.
//
// Fraction kept: the official SubnetConv keeps the top prune_rate of each layer's scores
// (GetSubnet zeroes the lowest int((1 - k) * n)), so its prune_rate is popup's --k, although its
// README calls it "1 - weights remaining" (upstream issue 9). The paper's ImageNet results are
// quoted at 30% of the weights kept: k 0.3.
#include "train/train_preset.hpp"

#include "error.hpp"

namespace popup {

const std::vector<TrainPreset>& train_presets() {
  static const std::vector<TrainPreset> presets = {
      {"imagenet",
       "ImageNet (configs/largescale): 100 epochs, batch 256, SGD lr 0.256, 5 warm-up epochs "
       "then cosine, momentum 0.875, weight decay 3.0517578125e-5, label smoothing 0.1, k 0.3",
       "configs/largescale/subnetonly/*-usc-unsigned.yaml, configs/largescale/baselines/"
       "*-dense.yaml",
       100, 256, 0.256, 5, ScheduleKind::cosine, 0.875, false, 3.0517578125e-5, 0.1, 0.3},
      {"cifar",
       "CIFAR-10 conv2/4/6/8 (configs/smallscale): 100 epochs, batch 128, SGD lr 0.1, cosine, "
       "momentum 0.9, weight decay 1e-4, k 0.5",
       "configs/smallscale/conv{2,4,6,8}/*_usc_unsigned.yml", 100, 128, 0.1, 0,
       ScheduleKind::cosine, 0.9, false, 1e-4, 0, 0.5},
      {"cifar-resnet18",
       "CIFAR-10 ResNet-18 (configs/smallscale/resnet18): 100 epochs, batch 256, SGD lr 0.1, "
       "cosine, momentum 0.9, weight decay 5e-4, k 0.5",
       "configs/smallscale/resnet18/resnet18-usc-unsigned.yaml", 100, 256, 0.1, 0,
       ScheduleKind::cosine, 0.9, false, 5e-4, 0, 0.5},
  };
  return presets;
}

const TrainPreset& train_preset_find(const std::string& name) {
  std::string known;
  for (const TrainPreset& p : train_presets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw InvalidArgument("--preset", "unknown preset '" + name + "' (known: " + known + ")");
}

void train_preset_apply(const std::string& name, TrainConfig& config, GivenOptions& given,
                        const std::function<bool(const std::string& option)>& on_command_line) {
  const TrainPreset& p = train_preset_find(name);
  if (config.method == Method::supermask)
    throw InvalidArgument("--preset", name +
                                          " is edge-popup's recipe; --method supermask has its "
                                          "own rates (give them without --preset)");
  if (on_command_line("--optimizer") && config.optimizer.kind != OptimizerKind::sgd)
    throw InvalidArgument("--preset", name + " is an SGD recipe; it does not take --optimizer " +
                                          optimizer_name(config.optimizer.kind));
  const auto set = [&](const char* option, auto& field, auto value) {
    if (on_command_line(option)) return false;
    field = value;
    return true;
  };
  set("--epochs", config.schedule.epochs, p.epochs);
  if (set("--batch-size", config.batch_size, p.batch_size)) given.batch_size = true;
  if (set("--lr", config.schedule.base_lr, p.lr)) given.lr = true;
  set("--warmup", config.schedule.warmup_epochs, p.warmup_epochs);
  if (set("--schedule", config.schedule.kind, p.schedule)) given.schedule = true;
  set("--momentum", config.optimizer.momentum, p.momentum);
  set("--nesterov", config.optimizer.nesterov, p.nesterov);
  if (set("--weight-decay", config.optimizer.weight_decay, p.weight_decay))
    given.weight_decay = true;
  set("--label-smoothing", config.label_smoothing, p.label_smoothing);
  if (config.method != Method::dense) set("--k", config.k, p.k);
  config.optimizer.kind = OptimizerKind::sgd;
  if (config.schedule.warmup_epochs >= config.schedule.epochs && !on_command_line("--warmup"))
    throw InvalidArgument("--preset", name + "'s " + std::to_string(config.schedule.warmup_epochs) +
                                          " warm-up epochs need more --epochs than " +
                                          std::to_string(config.schedule.epochs) +
                                          " (give --warmup N below --epochs, or 0)");
}

std::string train_presets_help() {
  std::string text;
  for (const TrainPreset& p : train_presets())
    text += (text.empty() ? "" : "\n") + p.name + ": " + p.description;
  return text;
}

}  // namespace popup

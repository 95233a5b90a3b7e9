// popup.train.* metadata from a training configuration, and the defaults of each --method.
#include "train/train_config.hpp"

#include "format/number_text.hpp"

namespace popup {

void train_config_method_defaults(TrainConfig& c, const GivenOptions& given) {
  if (c.method == Method::dense) {
    const bool adam = c.optimizer.kind == OptimizerKind::adam;
    if (!given.lr) c.schedule.base_lr = adam ? 3e-4 : 0.01;
    if (adam && !given.batch_size) c.batch_size = 60;
    if (adam && !given.schedule) c.schedule.kind = ScheduleKind::constant;
  } else if (c.method == Method::supermask) {
    if (!given.lr) c.schedule.base_lr = 200;
    if (!given.weight_decay) c.optimizer.weight_decay = 0;
  }
}

Metadata train_config_metadata(const TrainConfig& c) {
  const OptimizerConfig& o = c.optimizer;
  Metadata m{
      {"popup.train.method", method_name(c.method)},
      {"popup.train.k", double_format(c.k)},
      {"popup.train.first_layer_dense", c.first_layer_dense ? "1" : "0"},
      {"popup.train.last_layer_dense", c.last_layer_dense ? "1" : "0"},
      {"popup.train.epochs", std::to_string(c.schedule.epochs)},
      {"popup.train.batch_size", std::to_string(c.batch_size)},
      {"popup.train.seed", std::to_string(c.seed)},
      {"popup.train.optimizer", optimizer_name(o.kind)},
      {"popup.train.lr", double_format(c.schedule.base_lr)},
      {"popup.train.schedule", schedule_name(c.schedule.kind)},
      {"popup.train.warmup_epochs", std::to_string(c.schedule.warmup_epochs)},
      {"popup.train.weight_decay", double_format(o.weight_decay)},
      {"popup.train.label_smoothing", double_format(c.label_smoothing)},
      {"popup.train.data", c.data_name},
      {"popup.train.val_split", double_format(c.val_split)},
      {"popup.train.limit_train", std::to_string(c.limit_train)},
      {"popup.train.limit_test", std::to_string(c.limit_test)},
  };
  if (o.kind == OptimizerKind::sgd) {
    m["popup.train.momentum"] = double_format(o.momentum);
    m["popup.train.nesterov"] = o.nesterov ? "1" : "0";
  } else {
    m["popup.train.beta1"] = double_format(o.beta1);
    m["popup.train.beta2"] = double_format(o.beta2);
    m["popup.train.eps"] = double_format(o.eps);
  }
  if (c.schedule.kind == ScheduleKind::step) {
    m["popup.train.step_size"] = std::to_string(c.schedule.step_size);
    m["popup.train.gamma"] = double_format(c.schedule.gamma);
  }
  if (c.precision != Precision::fp32) m["popup.train.precision"] = precision_name(c.precision);
  if (c.learn_bn) m["popup.train.learn_bn"] = "1";  // absent otherwise: masks as they were
  // Method-specific keys; edge-popup's are as they always were.
  if (c.method == Method::dense || c.method == Method::supermask) {
    m.erase("popup.train.k");  // no fraction is asked
    if (c.method == Method::dense) {
      m.erase("popup.train.first_layer_dense");
      m.erase("popup.train.last_layer_dense");
    }
  }
  if (c.method == Method::supermask) m["popup.train.score_init"] = double_format(c.score_init);
  if (c.method == Method::global) m["popup.train.ramp_epochs"] = std::to_string(c.ramp_epochs);
  return m;
}

}  // namespace popup

// popup.train.* metadata from a training configuration and its checks when read, and the
// defaults of each --method.
#include "train/train_config.hpp"

#include <cmath>

#include "data/dataset_info.hpp"
#include "error.hpp"
#include "format/json.hpp"
#include "format/json_write.hpp"
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

std::string classes_json(const std::vector<std::string>& classes) {
  JsonWriter w;
  w.array_begin();
  for (const std::string& c : classes) w.string(c);
  return w.array_end().text();
}

std::vector<std::string> classes_recorded(const Metadata& metadata, const std::string& file) {
  std::vector<std::string> recorded;
  const auto it = metadata.find("popup.data.classes");
  if (it == metadata.end()) return recorded;
  try {
    const JsonDocument doc(it->second);
    doc.root().for_each_item([&](JsonView item) { recorded.push_back(item.text()); });
  } catch (const JsonError& e) {
    throw FormatError(file, std::string("popup.data.classes is not a JSON array: ") + e.what());
  }
  return recorded;
}

void classes_check(const std::string& data_name, const std::vector<std::string>& classes,
                   const Metadata& metadata, const std::string& file) {
  const auto it = metadata.find("popup.data.classes");
  if (classes.empty() || it == metadata.end() || it->second == classes_json(classes)) return;
  const std::vector<std::string> recorded = classes_recorded(metadata, file);
  size_t i = 0;
  while (i < classes.size() && i < recorded.size() && classes[i] == recorded[i]) ++i;
  const auto name = [](const std::vector<std::string>& list, size_t k) {
    return k < list.size() ? "'" + text_excerpt(list[k]) + "'" : std::string("none");
  };
  throw MismatchError(data_name, "its " + std::to_string(classes.size()) +
                                     " classes differ from the " + std::to_string(recorded.size()) +
                                     " " + file + " was trained on: class " + std::to_string(i) +
                                     " is " + name(classes, i) + ", not " + name(recorded, i));
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
  if (c.conv_algo != ConvAlgo::direct) {
    m["popup.train.conv_algo"] = conv_algo_name(c.conv_algo);
    m["popup.train.conv_plan"] = conv_plan_text(c.conv_plan);
  }
  if (c.image_size > 0) m["popup.train.image_size"] = std::to_string(c.image_size);
  if (!c.classes.empty()) m["popup.data.classes"] = classes_json(c.classes);
  if (c.learn_bn) m["popup.train.learn_bn"] = "1";  // absent otherwise: masks as they were
  if (c.ranks > 1) m["popup.train.ranks"] = std::to_string(c.ranks);
  if (c.sync_bn) m["popup.train.sync_bn"] = "1";
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
  if (c.method == Method::iterand) {
    m["popup.train.rerandomize_every"] = std::to_string(c.rerandomize_every);
    m["popup.train.rerandomize_rate"] = double_format(c.rerandomize_rate);
  }
  return m;
}

namespace {

// What a popup.train.* value must be. `measured` is a result the run recorded (never used as a
// setting): a number in range, or nan/inf when the run diverged.
enum class Rule { name, flag, integer, real, measured };

struct KeyRule {
  const char* key;  // after "popup.train."; a trailing '.' matches any layer name after it
  Rule rule;
  double min, max;                              // integer, real: the closed range
  bool min_open = false;                        // real: min itself excluded
  void (*parse)(const std::string&) = nullptr;  // name: throws an Error when unknown
};

constexpr double kHuge = 1e300;
constexpr double kCount = 1e9;  // epochs and image counts: far above any real run

const KeyRule kRules[] = {
    {"method", Rule::name, 0, 0, false, [](const std::string& v) { method_parse(v); }},
    {"optimizer", Rule::name, 0, 0, false, [](const std::string& v) { optimizer_parse(v); }},
    {"schedule", Rule::name, 0, 0, false, [](const std::string& v) { schedule_parse(v); }},
    {"precision", Rule::name, 0, 0, false, [](const std::string& v) { precision_parse(v); }},
    {"conv_algo", Rule::name, 0, 0, false, [](const std::string& v) { conv_algo_parse(v); }},
    {"conv_plan", Rule::name, 0, 0, false, [](const std::string& v) { conv_plan_parse(v); }},
    {"data", Rule::name, 0, 0, false,
     [](const std::string& v) {
       if (!dataset_name_known(v)) throw InvalidArgument("", "unknown data set");
     }},
    {"first_layer_dense", Rule::flag, 0, 1},
    {"last_layer_dense", Rule::flag, 0, 1},
    {"nesterov", Rule::flag, 0, 1},
    {"learn_bn", Rule::flag, 0, 1},
    {"sync_bn", Rule::flag, 0, 1},
    {"ranks", Rule::integer, 2, 1e6},
    {"epochs", Rule::integer, 1, kCount},
    {"epochs_done", Rule::integer, 0, kCount},
    {"warmup_epochs", Rule::integer, 0, kCount},
    {"ramp_epochs", Rule::integer, 0, kCount},
    {"rerandomize_every", Rule::integer, 1, kCount},
    {"rerandomize_rate", Rule::real, 0, 1, true},
    {"step_size", Rule::integer, 1, kCount},
    {"batch_size", Rule::integer, 1, 65536},
    {"image_size", Rule::integer, 16, 1024},
    {"limit_train", Rule::integer, 0, kCount},
    {"limit_test", Rule::integer, 0, kCount},
    {"seed", Rule::integer, 0, 0},  // any 64-bit unsigned integer
    {"k", Rule::real, 0, 1, true},
    {"lr", Rule::real, 0, kHuge, true},
    {"weight_decay", Rule::real, 0, kHuge},
    {"label_smoothing", Rule::real, 0, 1},
    {"val_split", Rule::real, 0, 1},
    {"momentum", Rule::real, 0, kHuge},
    {"beta1", Rule::real, 0, 1},
    {"beta2", Rule::real, 0, 1},
    {"eps", Rule::real, 0, kHuge, true},
    {"gamma", Rule::real, 0, kHuge, true},
    {"score_init", Rule::real, -kHuge, kHuge},
    {"train_acc", Rule::real, 0, 1},
    {"test_acc", Rule::real, 0, 1},
    {"val_acc", Rule::real, 0, 1},
    {"test_loss", Rule::measured, 0, kHuge},
    {"density.", Rule::real, 0, 1},
    {"alpha.", Rule::real, -kHuge, kHuge},
};

const KeyRule* rule_of(const std::string& name) {
  for (const KeyRule& r : kRules) {
    const std::string key = r.key;
    if (key.back() == '.' ? name.rfind(key, 0) == 0 && name.size() > key.size() : name == key)
      return &r;
  }
  return nullptr;
}

std::string range_text(const KeyRule& r) {
  const auto bound = [](double v) {
    return v == kHuge ? std::string("inf") : v == -kHuge ? std::string("-inf") : double_format(v);
  };
  return std::string(r.min_open ? "(" : "[") + bound(r.min) + ", " + bound(r.max) + "]";
}

// Empty when `value` obeys `r`, else what is wrong.
std::string value_problem(const KeyRule& r, const std::string& value) {
  switch (r.rule) {
    case Rule::name:
      try {
        r.parse(value);
        return "";
      } catch (const Error&) {
        return "unknown name";
      }
    case Rule::flag: return value == "0" || value == "1" ? "" : "not 0 or 1";
    case Rule::integer: {
      uint64_t v = 0;
      if (!uint_parse(value, v)) return "not a whole number from 0 to 2^64-1";
      if (r.max == 0) return "";
      if (v < r.min || v > r.max)
        return "not between " + double_format(r.min) + " and " + double_format(r.max);
      return "";
    }
    case Rule::real:
    case Rule::measured: {
      double v = 0;
      const bool parsed = double_parse(value, v);
      if (r.rule == Rule::measured && parsed && !std::isfinite(v)) return "";
      if (!parsed || !std::isfinite(v)) return "not a finite number";
      if (v < r.min || v > r.max || (r.min_open && v == r.min)) return "not in " + range_text(r);
      return "";
    }
  }
  return "";
}

}  // namespace

void train_metadata_check(const Metadata& metadata, const std::string& file) {
  const std::string prefix = "popup.train.";
  for (auto it = metadata.lower_bound(prefix); it != metadata.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    const KeyRule* r = rule_of(it->first.substr(prefix.size()));
    if (!r) continue;
    const std::string problem = value_problem(*r, it->second);
    if (!problem.empty())
      throw FormatError(file, text_excerpt(it->first) + ": " + problem + ", got '" +
                                  text_excerpt(it->second) + "'");
  }
}

std::vector<ConvAlgo> conv_plan_recorded(const Metadata& metadata, const Network& net,
                                         const std::string& file) {
  const auto found = metadata.find("popup.train.conv_plan");
  if (found == metadata.end()) return {};
  std::vector<ConvAlgo> plan;
  try {
    plan = conv_plan_parse(found->second);
  } catch (const InvalidArgument&) {
    throw FormatError(
        file,
        "popup.train.conv_plan: not a comma list of direct, winograd, winograd-f2x3 and "
        "winograd-f4x3-grad");
  }
  if (plan.size() != network_conv_count(net))
    throw FormatError(file, "popup.train.conv_plan lists " + std::to_string(plan.size()) +
                                " convolutions; the network has " +
                                std::to_string(network_conv_count(net)));
  return plan;
}

}  // namespace popup

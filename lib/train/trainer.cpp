// The training loop: masks from scores, the straight-through score gradient, the optimiser
// step (edge-popup on the executor's score engine, the other methods on a MethodEngine),
// evaluation per epoch, checkpoints.
#include "train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "error.hpp"
#include "format/number_text.hpp"
#include "train/topk.hpp"

namespace popup {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Scores U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the scores stream of the training seed,
// as the reference's kaiming_uniform_(a=sqrt(5)) bound.
std::vector<float> scores_init(uint64_t seed, uint32_t tensor, const TensorSpec& spec) {
  std::vector<float> s(static_cast<size_t>(spec.numel()));
  const double bound = 1.0 / std::sqrt(static_cast<double>(spec.fan_in));
  const int64_t n = spec.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const double u = random_uniform53(philox_element(seed, RandomStream::scores, tensor,
                                                     static_cast<uint64_t>(i)));
    s[static_cast<size_t>(i)] = static_cast<float>(bound * (2.0 * u - 1.0));
  }
  return s;
}

std::string meta_text(const Metadata& m, const std::string& key, const std::string& file) {
  return metadata_require(m, key, file);
}

int64_t meta_int(const Metadata& m, const std::string& key, const std::string& file) {
  uint64_t v = 0;
  if (!uint_parse(metadata_require(m, key, file), v))
    throw FormatError(file, key + " is not a count");
  return static_cast<int64_t>(v);
}

// Hex text of a double's bits: exact for checkpoints.
std::string double_exact(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(bits));
  return buf;
}

double double_from_exact(const std::string& text, const std::string& key, const std::string& file) {
  if (text.size() != 16 || text.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw FormatError(file, key + " is not 16 lowercase hex digits");
  const uint64_t bits = std::stoull(text, nullptr, 16);
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

}  // namespace

ExecutorConfig trainer_executor_config(const TrainConfig& config) {
  ExecutorConfig ec;
  ec.max_batch = config.batch_size;
  ec.label_smoothing = static_cast<float>(config.label_smoothing);
  ec.precision = config.precision;
  ec.affine_bn = config.learn_bn;
  return ec;
}

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

Trainer::Trainer(const Recipe& recipe, std::vector<std::vector<float>> weights, const Dataset& data,
                 const TrainConfig& config, std::unique_ptr<Executor> executor)
    : recipe_(recipe), config_(config), data_(data), exec_(std::move(executor)) {
  net_ = arch_network(recipe.arch, recipe.input, recipe.classes);
  dataset_check_shape(data, recipe.input, recipe.classes);
  if (!exec_) exec_ = executor_cpu_create(net_, trainer_executor_config(config));
  if (config.method == Method::edge_popup) {
    engine_ = exec_->score_engine(config.optimizer);
  } else {  // the host engine of the other methods, whatever the executor's device
    auto engine = std::make_unique<MethodEngine>(*exec_, config.optimizer, config.method, config.seed);
    method_ = engine.get();
    engine_ = std::move(engine);
  }
  if (config.method == Method::dense && !config.learn_bn && !network_batchnorms(net_).empty())
    throw InvalidArgument("--method", "dense training of " + recipe.arch + " trains its "
                                      "BatchNorm too (learn_bn; popup-train sets it)");
  if (config.learn_bn) {
    bn_names_ = network_batchnorms(net_);
    if (bn_names_.empty())
      throw InvalidArgument("--learn-bn", recipe.arch + " has no BatchNorm to learn (only the "
                                              "ResNets have BatchNorm)");
    if (exec_->bn_count() != bn_names_.size())
      throw InvalidArgument("--learn-bn", "the executor was built without affine BatchNorm "
                                          "(trainer_executor_config sets it)");
    std::vector<int64_t> sizes;
    for (size_t b = 0; b < bn_names_.size(); ++b) {
      const int64_t c = exec_->bn_channels(b);
      bn_gamma_.emplace_back(static_cast<size_t>(c), 1.0f);
      bn_beta_.emplace_back(static_cast<size_t>(c), 0.0f);
      bn_dgamma_.emplace_back(static_cast<size_t>(c), 0.0f);
      bn_dbeta_.emplace_back(static_cast<size_t>(c), 0.0f);
      sizes.insert(sizes.end(), {c, c});
    }
    bn_optimizer_ = std::make_unique<Optimizer>(config.optimizer, sizes);
    bn_hand();
  }
  const size_t layers = net_.tensors.size();
  for (size_t t = 0; t < layers; ++t) {
    const TensorSpec& spec = net_.tensors[t];
    const bool dense = config.method != Method::dense &&
                       ((t == 0 && config.first_layer_dense) ||
                        (t + 1 == layers && config.last_layer_dense));
    dense_.push_back(dense);
    std::vector<float> scores;
    if (!dense) {
      if (config.method == Method::dense)  // the parameter is the weight itself
        scores = weights.at(t);
      else if (config.method == Method::supermask)
        scores.assign(static_cast<size_t>(spec.numel()), static_cast<float>(config.score_init));
      else
        scores = scores_init(config.seed, static_cast<uint32_t>(t), spec);
    }
    engine_->load(t, spec.numel(), weights.at(t).data(), dense ? nullptr : scores.data(),
                  topk_keep_count(spec.numel(), dense ? 1.0 : config.k));
    std::vector<float>().swap(weights[t]);  // the engine holds its own copy
  }
  keep_fraction_apply();
  engine_->refresh();
  // Backends that can (the GPU) keep the data and cut batches themselves.
  data_train_ = exec_->data_upload(data.train);
  if (data.val.n > 0) data_val_ = exec_->data_upload(data.val);
  data_test_ = exec_->data_upload(data.test);
}

Trainer::~Trainer() = default;

bool Trainer::finished() const { return epoch_ >= config_.schedule.epochs; }

void Trainer::bn_hand() {
  for (size_t b = 0; b < bn_names_.size(); ++b)
    exec_->set_bn_params(b, bn_gamma_[b].data(), bn_beta_[b].data());
}

// After the engine's step (whose backward computed the BatchNorm gradients too): gamma and
// beta by the same optimiser rule, rate and step count as the method's parameters.
void Trainer::bn_step(double lr) {
  Optimizer& opt = *bn_optimizer_;
  opt.set_steps(engine_->steps() - 1);
  opt.begin_step();
  for (size_t b = 0; b < bn_names_.size(); ++b) {
    exec_->bn_grads(b, bn_dgamma_[b].data(), bn_dbeta_[b].data());
    opt.update(2 * b, bn_gamma_[b].data(), bn_dgamma_[b].data(), lr);
    opt.update(2 * b + 1, bn_beta_[b].data(), bn_dbeta_[b].data(), lr);
  }
  bn_hand();
}

void Trainer::keep_fraction_apply() {
  if (config_.method != Method::global) return;
  const double k = global_keep_fraction(config_.k, epoch_, config_.ramp_epochs);
  if (k == keep_fraction_) return;
  const bool first = keep_fraction_ < 0;  // the constructor refreshes itself
  keep_fraction_ = k;
  method_->set_keep_fraction(k);
  if (!first) engine_->refresh();
}

// Adds the executor's statistics of the batches queued since the last take.
void Trainer::stats_take() {
  const BatchStats s = exec_->stats_take();
  loss_sum_ += s.loss_sum;
  correct_ += s.correct1;
  seen_ += queued_;
  queued_ = 0;
  if (!std::isfinite(loss_sum_))
    throw DivergenceError("", "training diverged: the loss is not finite at epoch " +
                                  std::to_string(epoch_ + 1) + ", batch " + std::to_string(batch_));
}

EpochReport Trainer::finish_epoch(double lr, double seconds, double train_seconds,
                                  int64_t trained) {
  EpochReport r;
  r.epoch = epoch_ + 1;
  r.epochs = config_.schedule.epochs;
  r.lr = lr;
  r.train_loss = seen_ ? loss_sum_ / static_cast<double>(seen_) : 0;
  r.train_acc = seen_ ? static_cast<double>(correct_) / static_cast<double>(seen_) : 0;
  // Evaluation batches have the training batch size, as popup-eval's default for this mask.
  // The supermask is evaluated with its deterministic mask, the one the mask file holds.
  if (method_) method_->set_evaluation(true);
  if (data_.val.n > 0)
    r.val_acc = evaluate(*exec_, data_.val, config_.batch_size, false, data_val_).top1;
  const EvalResult test = evaluate(*exec_, data_.test, config_.batch_size, false, data_test_);
  if (method_) method_->set_evaluation(false);
  r.test_acc = test.top1;
  r.test_loss = test.loss;
  r.images_per_second = train_seconds > 0 ? static_cast<double>(trained) / train_seconds : 0;
  r.seconds = seconds;
  r.device = exec_->device_name();
  return r;
}

void Trainer::run(const TrainHooks& hooks) {
  stopped_ = false;
  while (!finished()) {
    const auto epoch_start = std::chrono::steady_clock::now();
    keep_fraction_apply();
    BatchLoader loader(data_.train, config_.batch_size, /*shuffle=*/true, data_.augment,
                       config_.seed, epoch_, batch_, /*images=*/data_train_ < 0);
    const int64_t batches = loader.batches();
    double lr = 0, train_seconds = 0;
    int64_t trained = 0;  // images trained by this process in this epoch (not by a resumed run)
    Batch b;
    while (true) {
      const auto step_start = std::chrono::steady_clock::now();
      if (!loader.next(b)) break;
      lr = schedule_lr(config_.schedule, epoch_, batch_, batches);
      if (data_train_ >= 0)
        exec_->forward_queue_examples(data_train_, b.examples, b.draws, b.n, /*training=*/true);
      else
        exec_->forward_queue(b.images, b.labels, b.n, /*training=*/true);
      engine_->step(lr);
      if (config_.learn_bn) bn_step(lr);
      ++batch_;
      queued_ += b.n;
      trained += b.n;
      const bool stop = hooks.stop && hooks.stop->load();
      const bool take = batch_ % exec_->stats_interval() == 0 || batch_ == batches || stop;
      if (take) stats_take();
      train_seconds += seconds_since(step_start);
      if (take && hooks.on_step) {
        StepReport s{epoch_ + 1, batch_, batches, loss_sum_ / static_cast<double>(seen_),
                     static_cast<double>(correct_) / static_cast<double>(seen_),
                     static_cast<double>(trained) / train_seconds,
                     train_seconds / static_cast<double>(trained) * static_cast<double>(b.n)};
        hooks.on_step(s);
      }
      if (stop && batch_ < batches) {
        stopped_ = true;
        if (!hooks.checkpoint_path.empty()) write_checkpoint(hooks.checkpoint_path);
        return;
      }
    }
    last_ = finish_epoch(lr, seconds_since(epoch_start), train_seconds, trained);
    ++epoch_;
    batch_ = 0;
    loss_sum_ = 0;
    correct_ = seen_ = 0;
    if (hooks.on_epoch) hooks.on_epoch(last_);
    const bool stop = hooks.stop && hooks.stop->load();
    const bool due = hooks.checkpoint_every > 0 && epoch_ % hooks.checkpoint_every == 0;
    if (!hooks.checkpoint_path.empty() && (due || (stop && !finished())))
      write_checkpoint(hooks.checkpoint_path);
    if (stop && !finished()) {
      stopped_ = true;
      return;
    }
  }
}

Mask Trainer::mask() const {
  if (config_.method == Method::dense)
    throw InvalidArgument("", "dense training writes weights, not a mask");
  Mask m;
  m.recipe = recipe_;
  // The supermask asks no fraction: popup.k and every layer's k are 1, and the densities it
  // reached are recorded (as global's, whose layers differ from the k asked overall).
  const bool supermask = config_.method == Method::supermask;
  m.k = supermask ? 1.0 : config_.k;
  m.extra = train_config_metadata(config_);
  std::vector<uint8_t> bytes;
  for (size_t t = 0; t < net_.tensors.size(); ++t) {
    const TensorSpec& spec = net_.tensors[t];
    bytes.resize(static_cast<size_t>(spec.numel()));
    engine_->mask(t, bytes.data());
    m.layers.push_back(layer_mask_make(spec, dense_[t] || supermask ? 1.0 : config_.k, bytes.data()));
    if (config_.method == Method::global || supermask)
      m.extra["popup.train.density." + spec.name] = double_format(
          static_cast<double>(m.layers.back().kept) / static_cast<double>(spec.numel()));
    if (config_.method == Method::biprop && !dense_[t])
      m.extra["popup.train.alpha." + spec.name] = double_format(method_->alpha(t));
  }
  m.state = state_tensors();
  for (const auto& [key, value] : results_metadata()) m.extra[key] = value;
  return m;
}

std::vector<Tensor> Trainer::state_tensors() const {
  std::vector<Tensor> state;
  const auto add = [&](const std::string& name, const std::vector<float>& values) {
    Tensor t;
    t.info.name = name;
    t.info.dtype = Dtype::F32;
    t.info.shape = {static_cast<int64_t>(values.size())};
    t.f32 = values;
    state.push_back(std::move(t));
  };
  for (const NamedArray& a : exec_->running_stats()) {
    // learn_bn: a BatchNorm's weight (gamma) and bias (beta) before its running statistics
    for (size_t b = 0; b < bn_names_.size(); ++b)
      if (a.name == bn_names_[b] + ".running_mean") {
        add(bn_names_[b] + ".weight", bn_gamma_[b]);
        add(bn_names_[b] + ".bias", bn_beta_[b]);
      }
    add(a.name, a.values);
  }
  return state;
}

Metadata Trainer::results_metadata() const {
  Metadata m;
  if (epoch_ > 0) {
    m["popup.train.epochs_done"] = std::to_string(epoch_);
    m["popup.train.train_acc"] = double_format(last_.train_acc);
    m["popup.train.test_acc"] = double_format(last_.test_acc);
    m["popup.train.test_loss"] = double_format(last_.test_loss);
    if (last_.val_acc >= 0) m["popup.train.val_acc"] = double_format(last_.val_acc);
  }
  return m;
}

void Trainer::write_weights(OutputFile& out) const {
  if (config_.method != Method::dense)
    throw InvalidArgument("", "only dense training writes weights");
  Metadata extra = train_config_metadata(config_);
  for (const auto& [key, value] : results_metadata()) extra[key] = value;
  std::vector<std::vector<float>> arrays;
  std::vector<TensorRef> refs;
  arrays.reserve(net_.tensors.size());
  for (size_t t = 0; t < net_.tensors.size(); ++t) {
    const TensorSpec& spec = net_.tensors[t];
    arrays.emplace_back(static_cast<size_t>(spec.numel()));
    engine_->scores(t, arrays.back().data());
    refs.push_back({spec.name, Dtype::F32, spec.shape, arrays.back().data()});
  }
  const std::vector<Tensor> state = state_tensors();  // ResNets: BatchNorm (affine)
  for (const Tensor& t : state) refs.push_back({t.info.name, Dtype::F32, t.info.shape, t.f32.data()});
  popup_file_write(out, FileKind::weights, recipe_, extra, refs);
}

void Trainer::write_scores(const std::string& path) const {
  OutputFile out(path);
  write_scores(out);
}

void Trainer::write_scores(OutputFile& out) const {
  if (config_.method == Method::dense)
    throw InvalidArgument("--scores-out", "dense training has no scores");
  // Layers kept dense have no scores: written as zeros.
  std::vector<std::vector<float>> scores;
  for (size_t t = 0; t < net_.tensors.size(); ++t) {
    scores.emplace_back(static_cast<size_t>(net_.tensors[t].numel()), 0.0f);
    if (!dense_[t]) engine_->scores(t, scores.back().data());
  }
  scores_write(out, recipe_, scores, train_config_metadata(config_));
}

void Trainer::write_checkpoint(const std::string& path) const {
  Metadata extra = train_config_metadata(config_);
  extra["popup.checkpoint.epoch"] = std::to_string(epoch_);
  extra["popup.checkpoint.batch"] = std::to_string(batch_);
  extra["popup.checkpoint.steps"] = std::to_string(engine_->steps());
  extra["popup.checkpoint.loss_sum"] = double_exact(loss_sum_);
  extra["popup.checkpoint.correct"] = std::to_string(correct_);
  extra["popup.checkpoint.seen"] = std::to_string(seen_);
  // The last finished epoch's results, so that a mask written after resuming reports them.
  extra["popup.checkpoint.last_lr"] = double_exact(last_.lr);
  extra["popup.checkpoint.last_train_loss"] = double_exact(last_.train_loss);
  extra["popup.checkpoint.last_train_acc"] = double_exact(last_.train_acc);
  extra["popup.checkpoint.last_val_acc"] = double_exact(last_.val_acc);
  extra["popup.checkpoint.last_test_loss"] = double_exact(last_.test_loss);
  extra["popup.checkpoint.last_test_acc"] = double_exact(last_.test_acc);
  std::vector<TensorRef> refs;
  const std::string param_prefix = config_.method == Method::dense ? "weights." : "scores.";
  std::vector<std::vector<float>> arrays;  // host copies; reserved so that pointers stay put
  arrays.reserve(net_.tensors.size() * (1 + engine_->state_names().size()));
  for (size_t t = 0; t < net_.tensors.size(); ++t) {
    if (dense_[t]) continue;
    const TensorSpec& spec = net_.tensors[t];
    arrays.emplace_back(static_cast<size_t>(spec.numel()));
    engine_->scores(t, arrays.back().data());
    refs.push_back({param_prefix + spec.name, Dtype::F32, spec.shape, arrays.back().data()});
    for (const std::string& name : engine_->state_names()) {
      arrays.emplace_back(static_cast<size_t>(spec.numel()));
      engine_->state(name, t, arrays.back().data());
      refs.push_back({name + "." + spec.name, Dtype::F32, spec.shape, arrays.back().data()});
    }
  }
  const std::vector<NamedArray> stats = exec_->running_stats();
  for (const NamedArray& a : stats)
    refs.push_back({"bn." + a.name, Dtype::F32, {static_cast<int64_t>(a.values.size())},
                    a.values.data()});
  // learn_bn: gamma and beta of each BatchNorm with their optimiser state
  const auto bn_param_add = [&](const std::string& name, const std::vector<float>& values,
                                size_t t) {
    const std::vector<int64_t> shape{static_cast<int64_t>(values.size())};
    refs.push_back({name, Dtype::F32, shape, values.data()});
    for (const std::string& state : bn_optimizer_->state_names())
      refs.push_back({state + "." + name, Dtype::F32, shape,
                      std::as_const(*bn_optimizer_).state(state, t).data()});
  };
  for (size_t b = 0; b < bn_names_.size(); ++b) {
    bn_param_add("bn." + bn_names_[b] + ".weight", bn_gamma_[b], 2 * b);
    bn_param_add("bn." + bn_names_[b] + ".bias", bn_beta_[b], 2 * b + 1);
  }
  popup_file_write(path, FileKind::checkpoint, recipe_, extra, refs);
}

void Trainer::resume(const PopupFile& f) {
  if (f.kind != FileKind::checkpoint)
    throw FormatError(f.path, std::string("is a ") + kind_name(f.kind) + " file, expected a checkpoint");
  recipe_check_same(recipe_, f.recipe, f.path);
  // fp32 is recorded by the key's absence (so fp32 files are as they always were)
  const auto recorded = f.metadata.find("popup.train.precision");
  const std::string precision = recorded == f.metadata.end() ? "fp32" : recorded->second;
  if (precision != precision_name(config_.precision))
    throw MismatchError(f.path, "checkpoint was made with popup.train.precision = " + precision +
                                    ", this run has " + precision_name(config_.precision));
  // learn_bn likewise (recorded only when on)
  const bool learned_bn = f.metadata.count("popup.train.learn_bn") > 0;
  if (learned_bn != config_.learn_bn)
    throw MismatchError(f.path, std::string("checkpoint was made ") +
                                    (learned_bn ? "with" : "without") + " --learn-bn, this run " +
                                    (config_.learn_bn ? "has it" : "has not"));
  for (const auto& [key, value] : train_config_metadata(config_)) {
    const auto it = f.metadata.find(key);
    const std::string found = it == f.metadata.end() ? "(missing)" : it->second;
    if (found != value)
      throw MismatchError(f.path, "checkpoint was made with " + key + " = " + found +
                                      ", this run has " + value);
  }
  epoch_ = meta_int(f.metadata, "popup.checkpoint.epoch", f.path);
  batch_ = meta_int(f.metadata, "popup.checkpoint.batch", f.path);
  engine_->set_steps(meta_int(f.metadata, "popup.checkpoint.steps", f.path));
  loss_sum_ = double_from_exact(meta_text(f.metadata, "popup.checkpoint.loss_sum", f.path),
                                "popup.checkpoint.loss_sum", f.path);
  correct_ = meta_int(f.metadata, "popup.checkpoint.correct", f.path);
  seen_ = meta_int(f.metadata, "popup.checkpoint.seen", f.path);
  const int64_t batches = (data_.train.n + config_.batch_size - 1) / config_.batch_size;
  if (epoch_ > config_.schedule.epochs || batch_ > batches || (epoch_ == config_.schedule.epochs && batch_ > 0))
    throw FormatError(f.path, "checkpoint position (epoch " + std::to_string(epoch_) + ", batch " +
                                  std::to_string(batch_) + ") is outside this run's " +
                                  std::to_string(config_.schedule.epochs) + " epochs of " +
                                  std::to_string(batches) + " batches");
  const auto exact = [&](const std::string& key) {
    return double_from_exact(meta_text(f.metadata, key, f.path), key, f.path);
  };
  last_.epoch = epoch_;
  last_.epochs = config_.schedule.epochs;
  last_.lr = exact("popup.checkpoint.last_lr");
  last_.train_loss = exact("popup.checkpoint.last_train_loss");
  last_.train_acc = exact("popup.checkpoint.last_train_acc");
  last_.val_acc = exact("popup.checkpoint.last_val_acc");
  last_.test_loss = exact("popup.checkpoint.last_test_loss");
  last_.test_acc = exact("popup.checkpoint.last_test_acc");
  std::vector<NamedArray> stats;
  const auto find = [&](const std::string& name, size_t numel) -> const std::vector<float>& {
    for (const Tensor& t : f.tensors)
      if (t.info.name == name) {
        if (t.f32.size() != numel) throw MismatchError(f.path, "tensor " + name + " has the wrong size");
        return t.f32;
      }
    throw FormatError(f.path, "checkpoint lacks tensor " + name);
  };
  const std::string param_prefix = config_.method == Method::dense ? "weights." : "scores.";
  for (size_t t = 0; t < net_.tensors.size(); ++t) {
    if (dense_[t]) continue;
    const std::string& name = net_.tensors[t].name;
    const size_t numel = static_cast<size_t>(net_.tensors[t].numel());
    engine_->set_scores(t, find(param_prefix + name, numel).data());
    for (const std::string& state : engine_->state_names())
      engine_->set_state(state, t, find(state + "." + name, numel).data());
  }
  for (NamedArray a : exec_->running_stats()) {
    a.values = find("bn." + a.name, a.values.size());
    stats.push_back(std::move(a));
  }
  exec_->set_running_stats(stats);
  for (size_t b = 0; b < bn_names_.size(); ++b) {
    const std::string name = "bn." + bn_names_[b];
    bn_gamma_[b] = find(name + ".weight", bn_gamma_[b].size());
    bn_beta_[b] = find(name + ".bias", bn_beta_[b].size());
    for (const std::string& state : bn_optimizer_->state_names()) {
      bn_optimizer_->state(state, 2 * b) = find(state + "." + name + ".weight", bn_gamma_[b].size());
      bn_optimizer_->state(state, 2 * b + 1) = find(state + "." + name + ".bias", bn_beta_[b].size());
    }
  }
  bn_hand();
  keep_fraction_apply();
  engine_->refresh();
}

}  // namespace popup

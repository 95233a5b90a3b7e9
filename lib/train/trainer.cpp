// The training loop: masks from scores, the straight-through score gradient, the optimiser
// step (edge-popup on the executor's score engine, the other methods on a MethodEngine),
// evaluation per epoch, checkpoints when due (their I/O: checkpoint.cpp), and what a finished
// run writes (mask, scores, dense weights).
#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <utility>

#include "dist/communicator.hpp"
#include "error.hpp"
#include "format/crc32.hpp"
#include "format/number_text.hpp"
#include "train/topk.hpp"

namespace popup {
namespace {

std::string crc32_hex(uint32_t crc) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", crc);
  return text;
}

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
    const double u = random_uniform53(
        philox_element(seed, RandomStream::scores, tensor, static_cast<uint64_t>(i)));
    s[static_cast<size_t>(i)] = static_cast<float>(bound * (2.0 * u - 1.0));
  }
  return s;
}

}  // namespace

void checkpoint_every_parse(const std::string& text, CheckpointEvery& every) {
  const size_t digits = text.find_first_not_of("0123456789");
  const std::string number = text.substr(0, digits);
  const std::string unit = digits == std::string::npos ? "" : text.substr(digits);
  const auto bad = [&](const std::string& why) {
    return InvalidArgument("--checkpoint-every", why + ", got '" + text + "'");
  };
  if (number.empty()) throw bad("must be a count with an optional unit (epochs, steps, s, min, h)");
  if (number.size() > 10 || std::stoll(number) > 1000000000) throw bad("must be from 0 to 10^9");
  const int64_t n = std::stoll(number);
  if (n == 0 && (unit.empty() || unit == "epochs" || unit == "epoch")) return;  // 0: never
  if (n == 0) throw bad("must be from 1 to 10^9 " + unit);
  if (unit.empty() || unit == "epochs" || unit == "epoch")
    every.epochs = n;
  else if (unit == "steps" || unit == "step")
    every.steps = n;
  else if (unit == "s" || unit == "min" || unit == "h")
    every.seconds = static_cast<double>(n) * (unit == "s" ? 1 : unit == "min" ? 60 : 3600);
  else
    throw bad("unit must be epochs (the default), steps, s, min or h");
}

ExecutorConfig trainer_executor_config(const TrainConfig& config, Communicator* comm) {
  ExecutorConfig ec;
  ec.comm = comm;
  ec.sync_bn = comm && config.sync_bn;
  ec.max_batch = config.batch_size;
  ec.label_smoothing = static_cast<float>(config.label_smoothing);
  ec.precision = config.precision;
  ec.conv_algo = config.conv_algo;
  ec.conv_plan = config.conv_plan;
  ec.affine_bn = config.learn_bn;
  return ec;
}

Trainer::Trainer(const Recipe& recipe, std::vector<std::vector<float>> weights, const Dataset& data,
                 const TrainConfig& config, std::unique_ptr<Executor> executor, Communicator* comm)
    : recipe_(recipe), config_(config), data_(data), exec_(std::move(executor)), comm_(comm) {
  net_ = arch_network(recipe.arch, recipe.input, recipe.classes);
  dataset_check_shape(data, recipe.input, recipe.classes);
  if ((comm ? comm->size() : 1) != config.ranks)
    throw InvalidArgument("", "the training configuration has " + std::to_string(config.ranks) +
                                  " ranks, the communicator " +
                                  std::to_string(comm ? comm->size() : 1));
  if (config.batch_size % config.ranks != 0)
    throw InvalidArgument("--batch-size", std::to_string(config.batch_size) +
                                              " does not split into " +
                                              std::to_string(config.ranks) +
                                              " equal shares (give a multiple of the ranks)");
  if (!exec_) exec_ = executor_cpu_create(net_, trainer_executor_config(config, comm));
  config_.conv_plan = exec_->conv_plan();  // recorded, replayed by a resumed run
  if (config.method == Method::edge_popup || config.method == Method::iterand) {
    engine_ = exec_->score_engine(config.optimizer);
  } else {  // the host engine of the other methods, whatever the executor's device
    auto engine =
        std::make_unique<MethodEngine>(*exec_, config.optimizer, config.method, config.seed);
    method_ = engine.get();
    engine_ = std::move(engine);
  }
  if (config.method == Method::dense && !config.learn_bn && !network_batchnorms(net_).empty())
    throw InvalidArgument("--method", "dense training of " + recipe.arch +
                                          " trains its "
                                          "BatchNorm too (learn_bn; popup-train sets it)");
  if (config.learn_bn) {
    bn_names_ = network_batchnorms(net_);
    if (bn_names_.empty())
      throw InvalidArgument("--learn-bn", recipe.arch +
                                              " has no BatchNorm to learn (only the "
                                              "ResNets have BatchNorm)");
    if (exec_->bn_count() != bn_names_.size())
      throw InvalidArgument("--learn-bn",
                            "the executor was built without affine BatchNorm "
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
    const bool dense =
        config.method != Method::dense &&
        ((t == 0 && config.first_layer_dense) || (t + 1 == layers && config.last_layer_dense));
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
  if (config.method == Method::iterand) {
    const int64_t batches = (data.train.n + config.batch_size - 1) / config.batch_size;
    const std::string problem =
        redraw_events_problem(config.rerandomize_every, config.schedule.epochs * batches);
    if (!problem.empty()) throw InvalidArgument("--rerandomize-every", problem);
    redraw_ =
        std::make_unique<RedrawState>(recipe, net_, dense_, config.seed, config.rerandomize_rate);
  }
  keep_fraction_apply();
  engine_->refresh();
  // Backends that can (the GPU) keep the data and cut batches themselves.
  const auto upload = [&](const DataSplit& split) {
    return split.n == 0 ? -1 : exec_->data_upload(split);
  };
  data_train_ = upload(data.train);
  data_val_ = upload(data.val);
  data_test_ = upload(data.test);
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

// Adds the executor's statistics of the batches queued since the last take (data-parallel:
// every rank's, summed in rank order, so that every rank has the same sums).
void Trainer::stats_take() {
  const BatchStats s = exec_->stats_take();
  double loss = s.loss_sum;
  int64_t counts[2] = {s.correct1, queued_};
  if (comm_) {
    comm_->sum(&loss, 1);
    comm_->sum(counts, 2);
  }
  loss_sum_ += loss;
  correct_ += counts[0];
  seen_ += counts[1];
  queued_ = 0;
  if (!std::isfinite(loss_sum_))
    throw DivergenceError("", "training diverged: the loss is not finite at epoch " +
                                  std::to_string(epoch_ + 1) + ", batch " + std::to_string(batch_));
}

bool Trainer::writer() const { return !comm_ || comm_->rank() == 0; }

void Trainer::running_stats_share() {
  if (!comm_ || config_.sync_bn) return;  // sync_bn: every rank has the same statistics
  std::vector<NamedArray> stats = exec_->running_stats();
  if (stats.empty()) return;
  for (NamedArray& a : stats)
    comm_->broadcast(a.values.data(), static_cast<int64_t>(a.values.size() * sizeof(float)), 0);
  exec_->set_running_stats(stats);
}

void Trainer::replicas_check() const {
  if (!comm_) return;
  uint32_t crc = 0;
  std::vector<float> values;
  std::vector<uint8_t> bits;
  for (size_t t = 0; t < net_.tensors.size(); ++t) {
    const size_t n = static_cast<size_t>(net_.tensors[t].numel());
    bits.resize(n);
    engine_->mask(t, bits.data());
    crc = crc32_update(crc, bits.data(), n);
    if (dense_[t]) continue;
    values.resize(n);
    engine_->scores(t, values.data());
    crc = crc32_update(crc, values.data(), n * sizeof(float));
    if (redraw_) crc = crc32_update(crc, redraw_->counts(t).data(), n * sizeof(uint16_t));
  }
  for (const Tensor& state : state_tensors())
    crc = crc32_update(crc, state.f32.data(), state.f32.size() * sizeof(float));
  std::vector<uint32_t> all(static_cast<size_t>(comm_->size()));
  comm_->all_gather(&crc, all.data(), sizeof crc);
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw Error("", "rank " + std::to_string(r) + " finished with other scores, masks or " +
                          "BatchNorm state than rank 0 (CRC-32 " + crc32_hex(all[r]) + " against " +
                          crc32_hex(all[0]) + "): the ranks diverged");
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
  running_stats_share();
  if (data_.val.n > 0)
    r.val_acc =
        evaluate(*exec_, data_.val, config_.batch_size, false, data_val_, false, comm_).top1;
  const EvalResult test =
      evaluate(*exec_, data_.test, config_.batch_size, false, data_test_, false, comm_);
  if (method_) method_->set_evaluation(false);
  r.test_acc = test.top1;
  r.test_loss = test.loss;
  r.images_per_second = train_seconds > 0 ? static_cast<double>(trained) / train_seconds : 0;
  r.seconds = seconds;
  r.device = exec_->device_name();
  if (redraw_) r.kept_redrawn = redraw_->kept_redrawn(*engine_);
  return r;
}

// loader.next(b); when it throws (too many unreadable images), first the checkpoint of the
// steps done, if a path was given, so that the run can resume once the files are mended.
bool Trainer::next_batch(BatchLoader& loader, Batch& b, const std::string& checkpoint_path) {
  try {
    return loader.next(b);
  } catch (const FormatError&) {
    // Data-parallel: none (taking the statistics is a collective the other ranks are not in;
    // the error ends every rank and the last checkpoint stays).
    if (!checkpoint_path.empty() && !comm_) {
      stats_take();
      write_checkpoint(checkpoint_path);
    }
    throw;
  }
}

void Trainer::run(const TrainHooks& hooks) {
  stopped_ = false;
  const CheckpointEvery& every = hooks.checkpoint_every;
  auto last_checkpoint = std::chrono::steady_clock::now();
  const auto checkpoint_write = [&] {
    if (writer()) write_checkpoint(hooks.checkpoint_path);
    last_checkpoint = std::chrono::steady_clock::now();
  };
  const auto stop_seen = [&] { return hooks.stop && hooks.stop->load(); };
  const auto time_due = [&] {
    return every.seconds > 0 && seconds_since(last_checkpoint) >= every.seconds;
  };
  // a step or time checkpoint that fell on the last batch of an epoch, for the epoch's end
  bool checkpoint_waiting = false;
  while (!finished()) {
    const auto epoch_start = std::chrono::steady_clock::now();
    keep_fraction_apply();
    BatchLoader loader(data_.train, config_.batch_size, /*shuffle=*/true, data_.augment,
                       config_.seed, epoch_, batch_, /*images=*/data_train_ < 0,
                       comm_ ? comm_->rank() : 0, static_cast<int>(config_.ranks));
    const int64_t batches = loader.batches();
    const int64_t first_batch = batch_;
    const int64_t first_step = engine_->steps();
    const CommTraffic traffic = comm_ ? comm_->traffic() : CommTraffic();
    double lr = 0, train_seconds = 0;
    int64_t trained = 0;  // images trained in this epoch by this run (every rank's)
    Batch b;
    while (true) {
      const auto step_start = std::chrono::steady_clock::now();
      if (!next_batch(loader, b, hooks.checkpoint_path)) break;
      lr = schedule_lr(config_.schedule, epoch_, batch_, batches);
      // A streamed batch whose every image was unreadable is no step (its position counts).
      // Data-parallel: the ranks agree before the step on its images, on whether some share
      // is empty (then no rank steps), on a stop and on rank 0's clock for a checkpoint.
      bool step = b.n > 0, stop = false, timed = false;
      int64_t images = b.n;
      if (comm_) {
        int64_t agreed[4] = {b.n, b.n == 0, stop_seen(), comm_->rank() == 0 && time_due()};
        comm_->sum(agreed, 4);
        images = agreed[0];
        step = agreed[1] == 0;
        stop = agreed[2] > 0;
        timed = agreed[3] > 0;
      }
      if (step) {
        if (data_train_ >= 0)
          exec_->forward_queue_examples(data_train_, b.examples, b.draws, b.n,
                                        /*training=*/true);
        else
          exec_->forward_queue(b.images, b.labels, b.n, /*training=*/true);
        engine_->step(lr);
        if (config_.learn_bn) bn_step(lr);
        // iterand: after every K-th step, from the masks the next step will use
        if (redraw_ && engine_->steps() % config_.rerandomize_every == 0)
          redraw_->event(*engine_,
                         static_cast<uint32_t>(engine_->steps() / config_.rerandomize_every));
      }
      ++batch_;
      if (step) {
        queued_ += b.n;
        trained += images;
      }
      if (!comm_) {  // one process: what holds after the step
        stop = stop_seen();
        timed = time_due();
      }
      const bool due = !hooks.checkpoint_path.empty() &&
                       ((every.steps > 0 && step && engine_->steps() % every.steps == 0) || timed);
      if (due && batch_ == batches) checkpoint_waiting = true;
      const bool checkpoint = due && batch_ < batches && !stop;
      // A checkpoint takes the statistics at its step; a run resumed from it takes them
      // there too, so its sums (and log) are the uninterrupted run's.
      const bool take =
          batch_ % exec_->stats_interval() == 0 || batch_ == batches || stop || checkpoint;
      if (take) stats_take();
      train_seconds += seconds_since(step_start);
      if (take && hooks.on_step && seen_ > 0 && trained > 0) {
        StepReport s;
        s.epoch = epoch_ + 1;
        s.batch = batch_;
        s.batches = batches;
        s.loss = loss_sum_ / static_cast<double>(seen_);
        s.acc = static_cast<double>(correct_) / static_cast<double>(seen_);
        s.images_per_second = static_cast<double>(trained) / train_seconds;
        s.batch_seconds = train_seconds / static_cast<double>(batch_ - first_batch);
        s.data_share = train_seconds > 0 ? loader.wait_seconds() / train_seconds : 0;
        hooks.on_step(s);
      }
      if (stop && batch_ < batches) {
        stopped_ = true;
        if (!hooks.checkpoint_path.empty() && writer()) write_checkpoint(hooks.checkpoint_path);
        return;
      }
      if (checkpoint) checkpoint_write();
    }
    last_ = finish_epoch(lr, seconds_since(epoch_start), train_seconds, trained);
    last_.data_share = train_seconds > 0 ? loader.wait_seconds() / train_seconds : 0;
    if (comm_) {
      const CommTraffic now = comm_->traffic();
      const double steps = static_cast<double>(std::max<int64_t>(1, engine_->steps() - first_step));
      last_.ranks = comm_->size();
      last_.reduce_seconds = (now.seconds - traffic.seconds) / steps;
      last_.reduce_bytes = static_cast<double>(now.bytes_sent - traffic.bytes_sent) / steps;
    }
    ++epoch_;
    batch_ = 0;
    loss_sum_ = 0;
    correct_ = seen_ = 0;
    if (hooks.on_epoch) hooks.on_epoch(last_);
    int64_t stop_count = stop_seen();
    if (comm_) comm_->sum(&stop_count, 1);
    const bool stop = stop_count > 0;
    const bool due = checkpoint_waiting || (every.epochs > 0 && epoch_ % every.epochs == 0);
    checkpoint_waiting = false;
    if (!hooks.checkpoint_path.empty() && (due || (stop && !finished()))) checkpoint_write();
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
    m.layers.push_back(
        layer_mask_make(spec, dense_[t] || supermask ? 1.0 : config_.k, bytes.data()));
    if (config_.method == Method::global || supermask)
      m.extra["popup.train.density." + spec.name] = double_format(
          static_cast<double>(m.layers.back().kept) / static_cast<double>(spec.numel()));
    if (config_.method == Method::biprop && !dense_[t])
      m.extra["popup.train.alpha." + spec.name] = double_format(method_->alpha(t));
  }
  if (redraw_) redraw_->record(m);
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
  for (const Tensor& t : state)
    refs.push_back({t.info.name, Dtype::F32, t.info.shape, t.f32.data()});
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

}  // namespace popup

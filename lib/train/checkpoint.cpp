// Checkpoint I/O of the trainer (formats/checkpoint.md): Trainer::write_checkpoint writes the
// position, the running sums, the last epoch's results (doubles as exact hex bits), every
// scored tensor's parameters and optimiser state, BatchNorm statistics and, with learn_bn,
// gamma and beta with their state; Trainer::resume checks the configuration and reads them back.
#include <cstdio>
#include <cstring>
#include <utility>

#include "error.hpp"
#include "format/number_text.hpp"
#include "train/trainer.hpp"

namespace popup {
namespace {

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
  if (redraw_) {  // iterand: every scored layer's redraw counts (checkpoint version 2)
    extra["popup.redraw"] = std::to_string(kRedrawVersion);
    for (size_t t = 0; t < net_.tensors.size(); ++t)
      if (!dense_[t])
        refs.push_back({"redraws." + net_.tensors[t].name, Dtype::U16, net_.tensors[t].shape,
                        redraw_->counts(t).data()});
  }
  const std::vector<NamedArray> stats = exec_->running_stats();
  for (const NamedArray& a : stats)
    refs.push_back(
        {"bn." + a.name, Dtype::F32, {static_cast<int64_t>(a.values.size())}, a.values.data()});
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
    throw FormatError(f.path,
                      std::string("is a ") + kind_name(f.kind) + " file, expected a checkpoint");
  recipe_check_same(recipe_, f.recipe, f.path);
  // fp32 is recorded by the key's absence (so fp32 files are as they always were)
  const auto recorded = f.metadata.find("popup.train.precision");
  const std::string precision = recorded == f.metadata.end() ? "fp32" : recorded->second;
  if (precision != precision_name(config_.precision))
    throw MismatchError(f.path, "checkpoint was made with popup.train.precision = " + precision +
                                    ", this run has " + precision_name(config_.precision));
  // the convolution algorithm likewise (recorded only when not direct)
  const auto algo_found = f.metadata.find("popup.train.conv_algo");
  const std::string algo = algo_found == f.metadata.end() ? "direct" : algo_found->second;
  if (algo != conv_algo_name(config_.conv_algo))
    throw MismatchError(f.path, "checkpoint was made with popup.train.conv_algo = " + algo +
                                    ", this run has " + conv_algo_name(config_.conv_algo) +
                                    " (give --conv-algo " + algo + ")");
  // learn_bn likewise (recorded only when on)
  const bool learned_bn = f.metadata.count("popup.train.learn_bn") > 0;
  if (learned_bn != config_.learn_bn)
    throw MismatchError(f.path, std::string("checkpoint was made ") +
                                    (learned_bn ? "with" : "without") + " --learn-bn, this run " +
                                    (config_.learn_bn ? "has it" : "has not"));
  // ranks and sync_bn likewise (recorded only when above 1, when on): the same -np to resume
  const auto ranks_found = f.metadata.find("popup.train.ranks");
  const std::string ranks = ranks_found == f.metadata.end() ? "1" : ranks_found->second;
  if (ranks != std::to_string(config_.ranks))
    throw MismatchError(f.path, "checkpoint was made by " + ranks + " ranks (mpirun -np " + ranks +
                                    "), this run has " + std::to_string(config_.ranks));
  if ((f.metadata.count("popup.train.sync_bn") > 0) != config_.sync_bn)
    throw MismatchError(
        f.path, std::string("checkpoint was made ") + (config_.sync_bn ? "without" : "with") +
                    " --sync-bn, this run " + (config_.sync_bn ? "has it" : "has not"));
  for (const auto& [key, value] : train_config_metadata(config_)) {
    const auto it = f.metadata.find(key);
    const std::string found = it == f.metadata.end() ? "(missing)" : it->second;
    if (found != value)
      throw MismatchError(
          f.path, "checkpoint was made with " + key + " = " + found + ", this run has " + value);
  }
  epoch_ = meta_int(f.metadata, "popup.checkpoint.epoch", f.path);
  batch_ = meta_int(f.metadata, "popup.checkpoint.batch", f.path);
  engine_->set_steps(meta_int(f.metadata, "popup.checkpoint.steps", f.path));
  loss_sum_ = double_from_exact(meta_text(f.metadata, "popup.checkpoint.loss_sum", f.path),
                                "popup.checkpoint.loss_sum", f.path);
  correct_ = meta_int(f.metadata, "popup.checkpoint.correct", f.path);
  seen_ = meta_int(f.metadata, "popup.checkpoint.seen", f.path);
  const int64_t batches = (data_.train.n + config_.batch_size - 1) / config_.batch_size;
  if (epoch_ > config_.schedule.epochs || batch_ > batches ||
      (epoch_ == config_.schedule.epochs && batch_ > 0))
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
        if (t.f32.size() != numel)
          throw MismatchError(f.path, "tensor " + name + " has the wrong size");
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
  if (redraw_) {
    if (f.metadata.count("popup.redraw") == 0 ||
        f.metadata.at("popup.redraw") != std::to_string(kRedrawVersion))
      throw FormatError(f.path, "checkpoint of an iterand run lacks popup.redraw = " +
                                    std::to_string(kRedrawVersion));
    for (size_t t = 0; t < net_.tensors.size(); ++t) {
      if (dense_[t]) continue;
      const std::string name = "redraws." + net_.tensors[t].name;
      const Tensor* found = nullptr;
      for (const Tensor& x : f.tensors)
        if (x.info.name == name) found = &x;
      if (!found) throw FormatError(f.path, "checkpoint lacks tensor " + name);
      const size_t n = static_cast<size_t>(net_.tensors[t].numel());
      if (found->info.dtype != Dtype::U16 || found->u8.size() != n * sizeof(uint16_t))
        throw MismatchError(f.path, "tensor " + name + " must be U16 of the weight's size");
      std::vector<uint16_t> counts(n);
      std::memcpy(counts.data(), found->u8.data(), found->u8.size());
      redraw_->set_counts(t, counts.data());
    }
    redraw_->apply(*engine_);  // before the refresh below: kept weights may be redrawn ones
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
      bn_optimizer_->state(state, 2 * b) =
          find(state + "." + name + ".weight", bn_gamma_[b].size());
      bn_optimizer_->state(state, 2 * b + 1) =
          find(state + "." + name + ".bias", bn_beta_[b].size());
    }
  }
  bn_hand();
  keep_fraction_apply();
  engine_->refresh();
}

}  // namespace popup

// The CPU backend (DESIGN.md §7): a Network executed with oneDNN, one plan of primitives per
// batch size, weights kept in the primitives' layouts (and data type: f32, or bf16 when asked),
// BatchNorm running statistics and, with affine_bn, BatchNorm scales and shifts.
#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <utility>

#include "cpu/dnnl_arena.hpp"
#include "cpu/dnnl_plan.hpp"
#include "backend/network_graph.hpp"
#include "train/softmax_cross_entropy.hpp"
#include "error.hpp"
#include "backend/executor.hpp"

namespace popup {
namespace {

constexpr float bn_momentum = 0.1f;  // PyTorch's BatchNorm default

// Runs f, turning oneDNN's exceptions into popup::Error with oneDNN's status text.
template <typename F>
auto dnnl_checked(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    throw Error("", std::string("oneDNN: ") + e.what() + ": " + dnnl_status2str(e.status));
  }
}

class ExecutorCpu final : public Executor {
 public:
  ExecutorCpu(const Network& net, const ExecutorConfig& config);

  void set_weights(size_t t, const float* weights) override;
  BatchStats forward(const float* images, const int32_t* labels, int64_t n, bool training) override;
  void backward(const std::vector<float*>& grads) override;
  const float* logits() override { return logits_.data(); }
  std::vector<NamedArray> running_stats() const override;
  void set_running_stats(const std::vector<NamedArray>& stats) override;
  size_t bn_count() const override { return bn_ops_.size(); }
  int64_t bn_channels(size_t b) const override { return net_.ops[bn_op(b)].c; }
  void set_bn_params(size_t b, const float* gamma, const float* beta) override;
  void bn_params(size_t b, float* gamma, float* beta) const override;
  void bn_grads(size_t b, float* dgamma, float* dbeta) const override;

 private:
  size_t bn_op(size_t b) const;
  DnnlPlan& plan_for(int64_t n);
  void running_stats_update(const DnnlPlan& plan);

  const Network net_;
  const ExecutorConfig config_;
  DnnlState state_;
  dnnl::stream stream_;
  DnnlArena arena_;
  std::map<int64_t, DnnlPlan> plans_;  // by batch size; built on first use
  std::vector<bool> weights_set_;
  std::vector<float> logits_, diff_logits_;
  DnnlPlan* last_ = nullptr;  // the plan of the last forward
  bool last_training_ = false;
  std::vector<int> bn_ops_;      // affine_bn: the BatchNorm ops, numbered as bn_* number them
  bool bn_grads_ready_ = false;  // a backward has followed the last training forward
};

ExecutorCpu::ExecutorCpu(const Network& net, const ExecutorConfig& config)
    : net_(net),
      config_(config),
      weights_set_(net.tensors.size(), false),
      bn_ops_(affine_bn_ops(net, config)) {
  if (config.max_batch < 1)
    throw InvalidArgument("",
                          "max_batch must be at least 1, not " + std::to_string(config.max_batch));
  if (!(config.label_smoothing >= 0 && config.label_smoothing <= 1))
    throw InvalidArgument("", "label smoothing must be in [0, 1]");
  if (net.classes < 1) throw InvalidArgument("", "network has no classes");
  network_graph(net, config.affine_bn);  // throws for a graph that cannot be executed, before
                                         // sizing anything
  logits_.assign(static_cast<size_t>(config.max_batch * net.classes), 0.f);
  diff_logits_.assign(logits_.size(), 0.f);
  state_.running_mean.resize(net.ops.size());
  state_.running_var.resize(net.ops.size());
  for (size_t i = 0; i < net.ops.size(); ++i)
    if (net.ops[i].kind == OpKind::batchnorm) {
      state_.running_mean[i].assign(static_cast<size_t>(net.ops[i].c), 0.f);
      state_.running_var[i].assign(static_cast<size_t>(net.ops[i].c), 1.f);
    }
  state_.affine_bn = config.affine_bn;
  state_.bn_scale_shift.resize(net.ops.size());
  state_.bn_diff_scale_shift.resize(net.ops.size());
  for (int i : bn_ops_) {
    const auto c = static_cast<size_t>(net.ops[static_cast<size_t>(i)].c);
    state_.bn_scale_shift[static_cast<size_t>(i)].assign(2 * c, 0.f);  // gamma 1, beta 0
    std::fill_n(state_.bn_scale_shift[static_cast<size_t>(i)].begin(), c, 1.f);
    state_.bn_diff_scale_shift[static_cast<size_t>(i)].assign(2 * c, 0.f);
  }
  state_.tensors.resize(net.tensors.size());
  const bool bf16 = config.precision == Precision::bf16;
  if (bf16) state_.data_type = dnnl::memory::data_type::bf16;
  dnnl_checked([&] {
    state_.engine = dnnl::engine(dnnl::engine::kind::cpu, 0);
    stream_ = dnnl::stream(state_.engine);
    try {
      plan_for(config.max_batch);  // fixes the weights' layouts
    } catch (const dnnl::error& e) {
      // oneDNN 2.x implements bf16 only on AVX-512 CPUs (natively with AVX512-BF16)
      if (bf16 && e.status == dnnl_unimplemented)
        throw Error("",
                    "precision bf16: oneDNN has no bf16 implementation of this network's "
                    "primitives on this CPU (it needs AVX-512, ideally with AVX512-BF16); "
                    "use fp32");
      throw;
    }
  });
}

DnnlPlan& ExecutorCpu::plan_for(int64_t n) {
  auto found = plans_.find(n);
  if (found == plans_.end())
    found = plans_
                .emplace(n, dnnl_plan_build(net_, n, config_.train, state_, arena_, logits_.data(),
                                            diff_logits_.data()))
                .first;
  dnnl_plan_bind(found->second, arena_);
  return found->second;
}

void ExecutorCpu::set_weights(size_t t, const float* weights) {
  if (t >= state_.tensors.size())
    throw InvalidArgument("", "no weight tensor " + std::to_string(t));
  DnnlTensor& tensor = state_.tensors[t];
  dnnl_checked([&] {
    // the reorders only read the caller's array
    tensor.plain.set_data_handle(const_cast<float*>(weights));
    dnnl_steps_run(tensor.from_plain, stream_);
    stream_.wait();
  });
  weights_set_[t] = true;
}

BatchStats ExecutorCpu::forward(const float* images, const int32_t* labels, int64_t n,
                                bool training) {
  executor_forward_check(net_, config_, weights_set_, labels, n, training);
  last_training_ = false;
  bn_grads_ready_ = false;
  dnnl_checked([&] {
    last_ = &plan_for(n);
    last_->images.set_data_handle(const_cast<float*>(images));  // only read
    dnnl_steps_run(training ? last_->forward_train : last_->forward_infer, stream_);
    stream_.wait();
  });
  if (training) running_stats_update(*last_);
  const BatchStats stats =
      softmax_cross_entropy(logits_.data(), labels, n, net_.classes, config_.label_smoothing,
                            training ? diff_logits_.data() : nullptr);
  last_training_ = training;
  return stats;
}

// running = (1 - momentum) running + momentum batch, with the unbiased batch variance.
void ExecutorCpu::running_stats_update(const DnnlPlan& plan) {
  for (const DnnlBatchStats& batch : plan.batch_stats) {
    const auto* mean = static_cast<const float*>(batch.mean.get_data_handle());
    const auto* var = static_cast<const float*>(batch.var.get_data_handle());
    const double unbiased =
        batch.count > 1 ? static_cast<double>(batch.count) / (batch.count - 1) : 1.0;
    std::vector<float>& running_mean = state_.running_mean[batch.op];
    std::vector<float>& running_var = state_.running_var[batch.op];
    for (size_t c = 0; c < running_mean.size(); ++c) {
      running_mean[c] = bn_momentum * mean[c] + (1 - bn_momentum) * running_mean[c];
      running_var[c] =
          bn_momentum * static_cast<float>(var[c] * unbiased) + (1 - bn_momentum) * running_var[c];
    }
  }
}

void ExecutorCpu::backward(const std::vector<float*>& grads) {
  if (!last_training_) throw Error("", "backward without a training forward before it");
  if (grads.size() != state_.tensors.size())
    throw InvalidArgument("", std::to_string(grads.size()) + " gradient arrays for " +
                                  std::to_string(state_.tensors.size()) + " tensors");
  dnnl_checked([&] {
    for (size_t t = 0; t < grads.size(); ++t)
      if (grads[t]) state_.tensors[t].grad.set_data_handle(grads[t]);
    dnnl_plan_bind(*last_, arena_);
    dnnl_steps_run(last_->backward, stream_, &grads);
    stream_.wait();
  });
  bn_grads_ready_ = true;
}

std::vector<NamedArray> ExecutorCpu::running_stats() const {
  std::vector<NamedArray> stats;
  for (size_t i = 0; i < net_.ops.size(); ++i)
    if (net_.ops[i].kind == OpKind::batchnorm) {
      stats.push_back({net_.ops[i].name + ".running_mean", state_.running_mean[i]});
      stats.push_back({net_.ops[i].name + ".running_var", state_.running_var[i]});
    }
  return stats;
}

void ExecutorCpu::set_running_stats(const std::vector<NamedArray>& stats) {
  const std::vector<RunningStatTarget> targets = running_stats_targets(net_, stats);
  // copied into place: the plans' BatchNorm primitives read these arrays
  for (size_t k = 0; k < stats.size(); ++k) {
    const auto op = static_cast<size_t>(targets[k].op);
    std::vector<float>& to = targets[k].var ? state_.running_var[op] : state_.running_mean[op];
    std::copy(stats[k].values.begin(), stats[k].values.end(), to.begin());
  }
}

size_t ExecutorCpu::bn_op(size_t b) const {
  if (!config_.affine_bn) bn_unavailable(b);
  return static_cast<size_t>(affine_bn_op(bn_ops_, b));
}

// scale_shift is [2, c]: gamma, then beta. The plans' BatchNorm primitives read it in place.
void ExecutorCpu::set_bn_params(size_t b, const float* gamma, const float* beta) {
  std::vector<float>& to = state_.bn_scale_shift[bn_op(b)];
  const size_t c = to.size() / 2;
  std::copy(gamma, gamma + c, to.begin());
  std::copy(beta, beta + c, to.begin() + static_cast<std::ptrdiff_t>(c));
}

void ExecutorCpu::bn_params(size_t b, float* gamma, float* beta) const {
  const std::vector<float>& from = state_.bn_scale_shift[bn_op(b)];
  const size_t c = from.size() / 2;
  std::copy(from.begin(), from.begin() + static_cast<std::ptrdiff_t>(c), gamma);
  std::copy(from.begin() + static_cast<std::ptrdiff_t>(c), from.end(), beta);
}

void ExecutorCpu::bn_grads(size_t b, float* dgamma, float* dbeta) const {
  const std::vector<float>& from = state_.bn_diff_scale_shift[bn_op(b)];
  if (!bn_grads_ready_)
    throw Error("",
                "BatchNorm gradients asked for without a backward after the last training "
                "forward");
  const size_t c = from.size() / 2;
  std::copy(from.begin(), from.begin() + static_cast<std::ptrdiff_t>(c), dgamma);
  std::copy(from.begin() + static_cast<std::ptrdiff_t>(c), from.end(), dbeta);
}

}  // namespace

std::unique_ptr<Executor> executor_cpu_create(const Network& net, const ExecutorConfig& config) {
  return std::make_unique<ExecutorCpu>(net, config);
}

}  // namespace popup

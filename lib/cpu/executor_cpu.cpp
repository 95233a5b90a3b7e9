// The CPU backend (DESIGN.md §7): a Network executed with oneDNN, one plan of primitives per
// batch size, weights kept in the primitives' layouts (and data type: f32, or bf16 when asked),
// BatchNorm running statistics and, with affine_bn, BatchNorm scales and shifts. Data-parallel
// (DESIGN.md §8): the loss gradient over the global batch, the weight gradients summed over the
// ranks in buckets that start while the backward still runs, SyncBatchNorm (dnnl_sync_bn.hpp).
#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <utility>

#include "cpu/dnnl_arena.hpp"
#include "cpu/dnnl_plan.hpp"
#include "cpu/executor_cpu.hpp"
#include "dist/communicator.hpp"
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

// The convolutions' algorithms: decided by the first plan, or config.conv_plan's, one per
// conv op in op order.
void conv_plan_replay(const Network& net, const ExecutorConfig& config, DnnlState& state) {
  state.conv_algo = config.conv_algo;
  state.conv_choice.assign(net.ops.size(), ConvAlgo::direct);
  if (config.conv_plan.empty()) return;
  std::vector<size_t> convs;
  for (size_t i = 0; i < net.ops.size(); ++i)
    if (net.ops[i].kind == OpKind::conv) convs.push_back(i);
  if (config.conv_plan.size() != convs.size())
    throw InvalidArgument("", "a convolution plan of " + std::to_string(config.conv_plan.size()) +
                                  " entries for a network of " + std::to_string(convs.size()) +
                                  " convolutions");
  for (size_t c = 0; c < convs.size(); ++c) {
    if (config.conv_plan[c] == ConvAlgo::automatic)
      throw InvalidArgument("",
                            "a convolution plan holds direct, winograd, winograd-f2x3 or "
                            "winograd-f4x3-grad, not auto");
    state.conv_choice[convs[c]] = config.conv_plan[c];
  }
  state.conv_decided = true;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class ExecutorCpu final : public Executor {
 public:
  ExecutorCpu(const Network& net, const ExecutorConfig& config, const CpuReduceOptions& reduce);

  void set_weights(size_t t, const float* weights) override;
  void set_masked_weights(size_t t, int64_t n, const float* weights, const uint8_t* mask) override;
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
  std::vector<ConvAlgo> conv_plan() const override;
  const CpuReduceTimes& reduce_times() const { return times_; }

 private:
  // A gradient array that backward() sums over the ranks, final after backward step `step`.
  struct ReduceItem {
    size_t step;
    float* data;
    int64_t n;
    int64_t offset;  // in staging_ when its bucket is packed, else -1
  };
  // Consecutive items summed as one array: in place (one item) or packed into staging_.
  struct ReduceBucket {
    size_t first, end;  // items_[first, end)
    size_t step;        // the step after which all of them are final
    float* data;
    int64_t n;
  };
  size_t bn_op(size_t b) const;
  DnnlPlan& plan_for(int64_t n);
  void running_stats_update(const DnnlPlan& plan);
  void reduce_plan(const DnnlPlan& plan, const std::vector<float*>& grads);
  void bucket_pack(const ReduceBucket& bucket);
  void backward_reduced(const std::vector<float*>& grads);

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
  // data-parallel (config_.comm)
  const CpuReduceOptions reduce_;
  int64_t global_n_ = 0;  // the global batch of the last training forward
  std::vector<ReduceItem> items_;
  std::vector<ReduceBucket> buckets_;
  std::vector<float> staging_;
  std::vector<int64_t> tensor_step_;
  CpuReduceTimes times_;
};

ExecutorCpu::ExecutorCpu(const Network& net, const ExecutorConfig& config,
                         const CpuReduceOptions& reduce)
    : net_(net),
      config_(config),
      weights_set_(net.tensors.size(), false),
      bn_ops_(affine_bn_ops(net, config)),
      reduce_(reduce) {
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
  conv_plan_replay(net, config, state_);
  const bool bf16 = config.precision == Precision::bf16;
  state_.comm = config.comm;
  state_.sync_bn = config.comm && config.sync_bn && config.train;
  if (state_.sync_bn && bf16)
    throw InvalidArgument("", "sync_bn: the CPU backend synchronises BatchNorm in fp32 only");
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

std::vector<ConvAlgo> ExecutorCpu::conv_plan() const {
  std::vector<ConvAlgo> plan;
  for (size_t i = 0; i < net_.ops.size(); ++i)
    if (net_.ops[i].kind == OpKind::conv) plan.push_back(state_.conv_choice[i]);
  return plan;
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

// The steps that lay out the weights (popup's masked reorder, the Winograd transforms) apply
// the mask as they read the weights. A tensor with a oneDNN reorder among them (bf16) takes
// w * mask through set_weights: oneDNN 2.6's reorders cannot mask, and its binary primitive
// between two layouts is its reference loop.
void ExecutorCpu::set_masked_weights(size_t t, int64_t n, const float* weights,
                                     const uint8_t* mask) {
  if (t >= state_.tensors.size())
    throw InvalidArgument("", "no weight tensor " + std::to_string(t));
  DnnlTensor& tensor = state_.tensors[t];
  if (!tensor.mask) return Executor::set_masked_weights(t, n, weights, mask);
  if (n != static_cast<int64_t>(tensor.mask.get_desc().get_size()))
    throw InvalidArgument("", "weight tensor " + std::to_string(t) + " has " +
                                  std::to_string(tensor.mask.get_desc().get_size()) +
                                  " weights, not " + std::to_string(n));
  dnnl_checked([&] {
    tensor.plain.set_data_handle(const_cast<float*>(weights));
    tensor.mask.set_data_handle(const_cast<uint8_t*>(mask));
    try {
      dnnl_steps_run(tensor.from_plain, stream_);
      stream_.wait();
    } catch (...) {
      tensor.mask.set_data_handle(DNNL_MEMORY_NONE);  // set_weights must not see this mask
      throw;
    }
    tensor.mask.set_data_handle(DNNL_MEMORY_NONE);
  });
  weights_set_[t] = true;
}

BatchStats ExecutorCpu::forward(const float* images, const int32_t* labels, int64_t n,
                                bool training) {
  executor_forward_check(net_, config_, weights_set_, labels, n, training);
  last_training_ = false;
  bn_grads_ready_ = false;
  global_n_ = n;
  if (training && config_.comm) config_.comm->sum(&global_n_, 1);
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
  if (training && global_n_ != n) {
    // the gradient of the global batch's mean loss: (softmax - target) / M, not / n
    const double scale = static_cast<double>(n) / static_cast<double>(global_n_);
    for (int64_t k = 0; k < n * net_.classes; ++k)
      diff_logits_[k] = static_cast<float>(diff_logits_[k] * scale);
  }
  last_training_ = training;
  return stats;
}

// running = (1 - momentum) running + momentum batch, with the unbiased batch variance.
void ExecutorCpu::running_stats_update(const DnnlPlan& plan) {
  for (const DnnlBatchStats& batch : plan.batch_stats) {
    const auto* mean = static_cast<const float*>(batch.mean.get_data_handle());
    const auto* var = static_cast<const float*>(batch.var.get_data_handle());
    const int64_t count = batch.sync ? batch.sync->global_count : batch.count;
    const double unbiased = count > 1 ? static_cast<double>(count) / (count - 1) : 1.0;
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
    if (config_.comm) {
      backward_reduced(grads);
    } else {
      dnnl_steps_run(last_->backward, stream_, &grads);
      stream_.wait();
    }
  });
  bn_grads_ready_ = true;
}

// The arrays to sum over the ranks in the order the backward finishes them: each asked-for
// weight gradient (after its reorder into the caller's array, the last step of its tensor)
// and, with affine_bn but without sync_bn (whose gradients come out global), each BatchNorm's
// gamma/beta gradient. The backward visits the ops in reverse network order in every plan, so
// the items, and the buckets cut from them by size alone, are the same on every rank whatever
// its share of the batch; only the steps after which they start differ.
void ExecutorCpu::reduce_plan(const DnnlPlan& plan, const std::vector<float*>& grads) {
  items_.clear();
  buckets_.clear();
  const std::vector<DnnlStep>& steps = plan.backward;
  std::vector<int64_t>& tensor_step = tensor_step_;  // the last step of each tensor
  tensor_step.assign(grads.size(), -1);
  for (size_t k = 0; k < steps.size(); ++k)
    if (steps[k].tensor >= 0) tensor_step[static_cast<size_t>(steps[k].tensor)] = int64_t(k);
  for (size_t k = 0; k < steps.size(); ++k) {
    const int t = steps[k].tensor;
    if (t >= 0 && grads[static_cast<size_t>(t)] &&
        tensor_step[static_cast<size_t>(t)] == int64_t(k))
      items_.push_back(
          {k, grads[static_cast<size_t>(t)], net_.tensors[static_cast<size_t>(t)].numel(), -1});
    const int b = steps[k].bn_op;
    if (b >= 0 && state_.affine_bn && !state_.sync_bn) {
      std::vector<float>& d = state_.bn_diff_scale_shift[static_cast<size_t>(b)];
      items_.push_back({k, d.data(), static_cast<int64_t>(d.size()), -1});
    }
  }
  const int64_t limit = reduce_.bucket_bytes / static_cast<int64_t>(sizeof(float));
  int64_t packed = 0;
  size_t first = 0;
  int64_t floats = 0;
  const auto close = [&](size_t end) {
    if (end == first) return;
    ReduceBucket bucket{first, end, items_[end - 1].step, items_[first].data, floats};
    if (end - first > 1) {
      for (size_t k = first; k < end; ++k) {
        items_[k].offset = packed;
        packed += items_[k].n;
      }
    }
    buckets_.push_back(bucket);
    first = end;
    floats = 0;
  };
  for (size_t k = 0; k < items_.size(); ++k) {
    if (limit > 0 && items_[k].n >= limit) close(k);  // alone, in place
    floats += items_[k].n;
    if (floats >= limit) close(k + 1);
  }
  close(items_.size());
  if (staging_.size() < static_cast<size_t>(packed)) staging_.resize(static_cast<size_t>(packed));
  for (ReduceBucket& bucket : buckets_)
    if (bucket.end - bucket.first > 1) bucket.data = staging_.data() + items_[bucket.first].offset;
}

void ExecutorCpu::bucket_pack(const ReduceBucket& bucket) {
  if (bucket.end - bucket.first < 2) return;
  for (size_t k = bucket.first; k < bucket.end; ++k)
    std::copy(items_[k].data, items_[k].data + items_[k].n, staging_.data() + items_[k].offset);
}

// The backward with the sums over the ranks: each bucket packed and started after the step
// that finishes it (overlap), the started sums advanced after every later step, and waited
// for at the end; or, without overlap, blocking sums after the steps. The results are the
// same bits either way (rank-ordered sums of the same arrays).
void ExecutorCpu::backward_reduced(const std::vector<float*>& grads) {
  const auto start = std::chrono::steady_clock::now();
  Communicator& comm = *config_.comm;
  reduce_plan(*last_, grads);
  size_t next = 0;  // the next bucket to start
  dnnl_steps_run(last_->backward, stream_, &grads, [&](size_t k) {
    if (!reduce_.overlap) return;
    for (; next < buckets_.size() && buckets_[next].step <= k; ++next) {
      bucket_pack(buckets_[next]);
      comm.sum_start(buckets_[next].data, buckets_[next].n);
    }
    if (next > 0) comm.sum_progress();
  });
  stream_.wait();
  const auto finish = std::chrono::steady_clock::now();
  if (reduce_.overlap) {
    comm.sum_finish();
  } else {
    for (const ReduceBucket& bucket : buckets_) {
      bucket_pack(bucket);
      comm.sum(bucket.data, bucket.n);
    }
  }
  times_.floats = 0;
  for (const ReduceBucket& bucket : buckets_) {
    times_.floats += bucket.n;
    if (bucket.end - bucket.first < 2) continue;
    for (size_t k = bucket.first; k < bucket.end; ++k)
      std::copy(staging_.data() + items_[k].offset,
                staging_.data() + items_[k].offset + items_[k].n, items_[k].data);
  }
  times_.buckets = static_cast<int64_t>(buckets_.size());
  times_.finish = seconds_since(finish);
  times_.steps = std::chrono::duration<double>(finish - start).count();
  times_.backward = seconds_since(start);
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
  return std::make_unique<ExecutorCpu>(net, config, CpuReduceOptions());
}

std::unique_ptr<Executor> executor_cpu_create(const Network& net, const ExecutorConfig& config,
                                              const CpuReduceOptions& reduce) {
  if (reduce.bucket_bytes < 0) throw InvalidArgument("", "bucket_bytes must not be negative");
  return std::make_unique<ExecutorCpu>(net, config, reduce);
}

CpuReduceTimes executor_cpu_reduce_times(const Executor& executor) {
  const auto* cpu = dynamic_cast<const ExecutorCpu*>(&executor);
  if (!cpu) throw InvalidArgument("", "not a CPU executor");
  return cpu->reduce_times();
}

bool cpu_native_bf16(std::string& isa) {
  using dnnl::cpu_isa;
  const cpu_isa effective = dnnl::get_effective_cpu_isa();
  const std::pair<cpu_isa, const char*> names[] = {{cpu_isa::sse41, "SSE4.1"},
                                                   {cpu_isa::avx, "AVX"},
                                                   {cpu_isa::avx2, "AVX2"},
                                                   {cpu_isa::avx2_vnni, "AVX2-VNNI"},
                                                   {cpu_isa::avx512_core, "AVX-512"},
                                                   {cpu_isa::avx512_core_vnni, "AVX-512 VNNI"},
                                                   {cpu_isa::avx512_core_bf16, "AVX512-BF16"},
                                                   {cpu_isa::avx512_core_amx, "AMX"}};
  isa = "an instruction set older than SSE4.1";
  for (const auto& [value, name] : names)
    if (effective == value) isa = name;
  return effective == cpu_isa::avx512_core_bf16 || effective == cpu_isa::avx512_core_amx;
}

}  // namespace popup

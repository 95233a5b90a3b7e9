// The forward half of a DnnlPlan: one primitive per op, activations in the layouts their
// producers chose (format_tag::any), what the backward half needs kept per op.
#include <omp.h>

#include <string>
#include <utility>
#include <vector>

#include "cpu/dnnl_conv_algo.hpp"
#include "cpu/dnnl_plan_builder.hpp"
#include "cpu/relu_bits.hpp"
#include "cpu/winograd_f2x3.hpp"
#include "error.hpp"

namespace popup {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using Tag = memory::format_tag;

}  // namespace

// The ops in order, each output in the layout its producer chose.
void DnnlPlanBuilder::forward() {
  const int count = static_cast<int>(net_.ops.size());
  act_.assign(count, memory());
  act_desc_.assign(count, memory::desc());
  fwd_.assign(count, DnnlOpForward());
  for (int i = 0; i < count; ++i) {
    switch (net_.ops[i].kind) {
      case OpKind::conv: forward_conv(i); break;
      case OpKind::linear: forward_linear(i); break;
      case OpKind::relu: forward_relu(i); break;
      case OpKind::maxpool:
      case OpKind::global_avgpool: forward_pool(i); break;
      case OpKind::batchnorm: forward_bn(i); break;
      case OpKind::add: forward_add(i); break;
    }
  }
}

// The layout of input j for a consumer: its producer's, or for the network input, the first
// consumer's choice (`flexible`: a convolution or inner product may choose) or plain NCHW.
memory::desc DnnlPlanBuilder::src_desc(int j, bool flexible) {
  if (j >= 0) return act_desc_[j];
  if (!input_desc_.is_zero()) return input_desc_;
  if (flexible) return any_desc(j);
  input_fix(j, plain_desc(j));
  return input_desc_;
}

// Fixes the network input's layout once its first consumer has chosen it.
void DnnlPlanBuilder::input_fix(int j, const memory::desc& md) {
  if (j >= 0 || !input_desc_.is_zero()) return;
  input_desc_ = md;
  input_ = slot_memory(md);
}

void DnnlPlanBuilder::act_define(int i, const memory::desc& md) {
  act_desc_[i] = md;
  act_[i] = graph_.in_place[i] ? act_[net_.ops[i].inputs[0]] : slot_memory(md);
}

// mem as a primitive that wants layout md reads it: itself, or a copy reordered each step.
memory DnnlPlanBuilder::operand_forward(const memory& mem, const memory::desc& md) {
  if (mem.get_desc() == md) return mem;
  const memory copy = slot_memory(md);
  step_forward(reorder_step(mem, copy));
  return copy;
}

void DnnlPlanBuilder::forward_conv(int i) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  const memory::dims strides{spec.stride, spec.stride}, pad{spec.pad, spec.pad};
  ConvAlgo choice = conv_algorithm(i);
  if (choice == ConvAlgo::winograd_f2x3) {
    if (const int64_t block = f2x3_block(i)) return forward_conv_f2x3(i, block);
    choice = state_.conv_choice[static_cast<size_t>(i)] = ConvAlgo::direct;
  }
  const memory::desc w_md =
      dnnl_weights_desc(state_.tensors[op.tensor].forward, spec.shape, state_.data_type);
  const algorithm algo = dnnl_conv_algorithm(choice);
  // Winograd infers with its training kernel: an inference one transforms the weights in
  // their reorder, which rounds differently, and popup-eval must compute what training did.
  const bool training_kind = train_ || algo == algorithm::convolution_winograd;
  const auto make = [&](const memory::desc& src, const memory::desc& dst) {
    const dnnl::convolution_forward::desc desc(
        training_kind ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
        algo, src, w_md, dst, strides, pad, pad);
    return dnnl::convolution_forward::primitive_desc(desc, attr_, state_.engine);
  };
  DnnlOpForward& f = fwd_[i];
  f.conv_algo = algo;
  // Winograd takes its input in its own layout (a reorder where the producer's differs).
  const memory::desc src = src_desc(j, true);
  f.conv = dnnl_pd_preferring(
      make, algo == algorithm::convolution_winograd ? dnnl_any_like(src) : src, any_desc(i));
  input_fix(j, f.conv.src_desc());
  f.src = operand_forward(act(j), f.conv.src_desc());
  weights_forward(op.tensor, spec.shape, f.conv.weights_desc());
  act_define(i, f.conv.dst_desc());
  if (choice == ConvAlgo::winograd_f4x3_grad && train_) {  // popup's gradient, oneDNN's layouts
    f.f4x3_grad = dnnl_winograd_block(f.src.get_desc(), spec.shape[1], spec.shape[0]);
    if (!f.f4x3_grad) state_.conv_choice[static_cast<size_t>(i)] = ConvAlgo::winograd;
  }
  step_forward(step_make(f.conv, {{DNNL_ARG_SRC, f.src},
                                  {DNNL_ARG_WEIGHTS, state_.tensors[op.tensor].forward},
                                  {DNNL_ARG_DST, act(i)}}));
}

// The channel block popup's Winograd runs conv op i in: its input's, nChw16c (AVX-512's) or
// nChw8c (AVX2's), where both channel counts are multiples of it; 8 for the network input; 0
// when the input is in another layout (the conv then runs direct: a layout of its own would
// mix layouts where the graph shares gradients, at adds).
int64_t DnnlPlanBuilder::f2x3_block(int i) const {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  if (j < 0 && input_desc_.is_zero()) return 8;
  return dnnl_winograd_block(act_desc(j), spec.shape[1], spec.shape[0]);
}

// Conv op i with popup's Winograd F(2x2, 3x3): a host step over activations in its input's
// blocked layout and transformed weights (its backward: backward_conv_f2x3).
void DnnlPlanBuilder::forward_conv_f2x3(int i, int64_t block) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  const Tag tag = block == 16 ? Tag::nChw16c : Tag::nChw8c;
  const memory::desc src(dims(j), memory::data_type::f32, tag),
      dst(dims(i), memory::data_type::f32, tag);
  DnnlOpForward& f = fwd_[i];
  f.f2x3 = block;
  input_fix(j, src);
  f.src = operand_forward(act(j), src);
  weights_f2x3(op.tensor, spec.shape, false);
  act_define(i, dst);
  const WinogradShape shape{n_, spec.shape[1], spec.shape[0], dims(i)[2], dims(i)[3], block};
  const memory x = f.src, u = state_.tensors[op.tensor].forward, y = act(i);
  const int threads = omp_get_max_threads();
  const auto scratch = host_scratch(winograd_f2x3_run_scratch(shape, threads));
  step_forward(host_step(
      [shape, x, u, y, scratch, threads] {
        winograd_f2x3_run(shape, static_cast<const float*>(x.get_data_handle()),
                          static_cast<const float*>(u.get_data_handle()),
                          static_cast<float*>(y.get_data_handle()), false,
                          static_cast<float*>(scratch->get_data_handle()), threads);
      },
      {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, u}, {DNNL_ARG_DST, y}}));
}

// The algorithm of conv op i: the one state_ has decided, or, for the first plan, as
// state_.conv_algo asks (a replayed Winograd this CPU cannot run runs direct).
ConvAlgo DnnlPlanBuilder::conv_algorithm(int i) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  DnnlConvShape shape;
  shape.src = dims(j);
  shape.weights = spec.shape;
  shape.dst = dims(i);
  shape.strides = {spec.stride, spec.stride};
  shape.pad = {spec.pad, spec.pad};
  shape.train = train_;
  shape.data_grad = j >= 0 && graph_.needs_diff[j];
  ConvAlgo& choice = state_.conv_choice[static_cast<size_t>(i)];
  if (state_.data_type != memory::data_type::f32)
    choice = ConvAlgo::direct;
  else if (!state_.conv_decided)
    choice = dnnl_conv_choose(state_.engine, state_.conv_algo, shape);
  else if (choice == ConvAlgo::winograd_f2x3 && !winograd_f2x3_fits(shape))
    choice = ConvAlgo::direct;
  else if (choice == ConvAlgo::winograd || choice == ConvAlgo::winograd_f4x3_grad) {
    if (!dnnl_winograd_available(state_.engine, shape))
      choice = ConvAlgo::direct;
    else if (!winograd_f2x3_fits(shape))  // popup's gradient does not run here
      choice = ConvAlgo::winograd;
  }
  return choice;
}

void DnnlPlanBuilder::forward_linear(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const memory::dims w_dims = dnnl_linear_weights_dims(op, dims(j));
  const memory::desc w_md =
      dnnl_weights_desc(state_.tensors[op.tensor].forward, w_dims, state_.data_type);
  const auto make = [&](const memory::desc& src, const memory::desc& dst) {
    const dnnl::inner_product_forward::desc desc(
        train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, src, w_md,
        dst);
    return dnnl::inner_product_forward::primitive_desc(desc, attr_, state_.engine);
  };
  DnnlOpForward& f = fwd_[i];
  f.linear = dnnl_pd_preferring(make, src_desc(j, true), any_desc(i));
  input_fix(j, f.linear.src_desc());
  f.src = operand_forward(act(j), f.linear.src_desc());
  weights_forward(op.tensor, w_dims, f.linear.weights_desc());
  act_define(i, f.linear.dst_desc());
  step_forward(step_make(f.linear, {{DNNL_ARG_SRC, f.src},
                                    {DNNL_ARG_WEIGHTS, state_.tensors[op.tensor].forward},
                                    {DNNL_ARG_DST, act(i)}}));
}

// Popup's ReLU (relu_bits.hpp) where the convolutions are not all direct (like the other
// kernels of its own: a direct run computes what earlier builds did, bit for bit) in f32, except
// before a max-pool, whose backward takes the ReLU's with it (pool_relu_step), and on the
// network's input. It computes what oneDNN's does, bit for bit; in training it keeps a bit per
// value for its backward (which a Winograd convolution's backward-data may take with it).
bool DnnlPlanBuilder::own_relu(int i) const {
  const std::vector<int>& next = graph_.consumers[i];
  const int j = net_.ops[i].inputs[0];
  return state_.conv_algo != ConvAlgo::direct && state_.data_type == memory::data_type::f32 &&
         relu_bits_supported() && j >= 0 && act_desc_[j].get_size() % 32 == 0 &&
         !(next.size() == 1 && net_.ops[next[0]].kind == OpKind::maxpool);
}

void DnnlPlanBuilder::forward_relu(int i) {
  const int j = net_.ops[i].inputs[0];
  DnnlOpForward& f = fwd_[i];
  if (own_relu(i)) {
    f.own_relu = true;
    act_define(i, src_desc(j, false));
    const int64_t n = static_cast<int64_t>(act_desc_[i].get_size() / sizeof(float));
    if (train_)
      f.relu_bits = slot_memory(memory::desc({relu_bits_bytes(n)}, memory::data_type::u8, Tag::x));
    const memory x = act(j), y = act(i), bits = f.relu_bits;
    Args args{{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, y}};
    if (bits) args.emplace_back(DNNL_ARG_WORKSPACE, bits);
    step_forward(host_step(
        [n, x, y, bits] {
          relu_bits_forward(static_cast<const float*>(x.get_data_handle()),
                            static_cast<float*>(y.get_data_handle()),
                            bits ? static_cast<uint8_t*>(bits.get_data_handle()) : nullptr, n);
        },
        std::move(args)));
    return;
  }
  // relu_use_dst_for_bwd: the backward reads the output, so the input may be overwritten
  const dnnl::eltwise_forward::desc desc(
      train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      algorithm::eltwise_relu_use_dst_for_bwd, src_desc(j, false), 0.f, 0.f);
  f.relu = dnnl::eltwise_forward::primitive_desc(desc, attr_, state_.engine);
  act_define(i, f.relu.dst_desc());
  step_forward(step_make(f.relu, {{DNNL_ARG_SRC, act(j)}, {DNNL_ARG_DST, act(i)}}));
}

// maxpool (the floor of the output size drops what no window reaches; the training forward
// keeps the position of each maximum in the workspace for the backward) and global_avgpool
// (one window over the whole image).
void DnnlPlanBuilder::forward_pool(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const bool max = op.kind == OpKind::maxpool;
  const PoolWindow window = pool_window(i);
  const dnnl::pooling_forward::desc desc(
      train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      max ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding, src_desc(j, false),
      any_desc(i), window.strides, window.kernel, window.pad, window.pad);
  DnnlOpForward& f = fwd_[i];
  f.pool = dnnl::pooling_forward::primitive_desc(desc, attr_, state_.engine);
  act_define(i, f.pool.dst_desc());
  Args args{{DNNL_ARG_SRC, act(j)}, {DNNL_ARG_DST, act(i)}};
  if (max && train_) {
    f.workspace = slot_memory(f.pool.workspace_desc());
    args.emplace_back(DNNL_ARG_WORKSPACE, f.workspace);
  }
  step_forward(step_make(f.pool, std::move(args)));
}

// BatchNorm: batch statistics in training (kept for the backward and the running
// statistics), running statistics in inference; with affine_bn, then each channel's gamma and
// beta (oneDNN's scale_shift, read from the state that the plans of all batch sizes share).
void DnnlPlanBuilder::forward_bn(int i) {
  const int j = net_.ops[i].inputs[0];
  const memory::desc src = src_desc(j, false);
  const auto affine = state_.affine_bn ? dnnl::normalization_flags::use_scale_shift
                                       : dnnl::normalization_flags::none;
  const dnnl::batch_normalization_forward::desc infer_desc(
      dnnl::prop_kind::forward_inference, src, bn_epsilon,
      dnnl::normalization_flags::use_global_stats | affine);
  const dnnl::batch_normalization_forward::primitive_desc infer(infer_desc, attr_, state_.engine);
  act_define(i, infer.dst_desc());
  const memory running_mean(infer.mean_desc(), state_.engine, state_.running_mean[i].data());
  const memory running_var(infer.variance_desc(), state_.engine, state_.running_var[i].data());
  Args infer_args{{DNNL_ARG_SRC, act(j)},
                  {DNNL_ARG_MEAN, running_mean},
                  {DNNL_ARG_VARIANCE, running_var},
                  {DNNL_ARG_DST, act(i)}};
  if (state_.affine_bn)
    infer_args.emplace_back(DNNL_ARG_SCALE_SHIFT,
                            bn_params_memory(i, infer.weights_desc(), state_.bn_scale_shift[i]));
  plan_.forward_infer.push_back(step_make(infer, std::move(infer_args)));
  if (!train_) return;
  const dnnl::batch_normalization_forward::desc train_desc(dnnl::prop_kind::forward_training, src,
                                                           bn_epsilon, affine);
  DnnlOpForward& f = fwd_[i];
  f.bn = dnnl::batch_normalization_forward::primitive_desc(train_desc, attr_, state_.engine);
  f.mean = slot_memory(f.bn.mean_desc());
  f.var = slot_memory(f.bn.variance_desc());
  Args train_args{{DNNL_ARG_SRC, act(j)},
                  {DNNL_ARG_DST, act(i)},
                  {DNNL_ARG_MEAN, f.mean},
                  {DNNL_ARG_VARIANCE, f.var}};
  if (state_.affine_bn)
    train_args.emplace_back(DNNL_ARG_SCALE_SHIFT,
                            bn_params_memory(i, f.bn.weights_desc(), state_.bn_scale_shift[i]));
  plan_.forward_train.push_back(step_make(f.bn, std::move(train_args)));
  const OpShape in = op_shape(net_, j);
  plan_.batch_stats.push_back({i, f.mean, f.var, n_ * in.h * in.w, nullptr});
  if (!state_.sync_bn) return;
  // SyncBatchNorm: the step above gives this rank's statistics (its output is overwritten);
  // they become the global batch's, with which the inference primitive then normalises.
  if (sync_.empty()) sync_.resize(net_.ops.size());
  const auto sync = std::make_shared<DnnlSyncBn>(state_.comm, src, bn_epsilon);
  sync_[i] = sync;
  plan_.batch_stats.back().sync = sync;
  const memory mean = f.mean, var = f.var;
  plan_.forward_train.push_back(host_step(
      [sync, mean, var] {
        dnnl_sync_bn_stats(*sync, static_cast<float*>(mean.get_data_handle()),
                           static_cast<float*>(var.get_data_handle()));
      },
      {{DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}}));
  Args global_args{{DNNL_ARG_SRC, act(j)},
                   {DNNL_ARG_MEAN, mean},
                   {DNNL_ARG_VARIANCE, var},
                   {DNNL_ARG_DST, act(i)}};
  if (state_.affine_bn)
    global_args.emplace_back(DNNL_ARG_SCALE_SHIFT,
                             bn_params_memory(i, infer.weights_desc(), state_.bn_scale_shift[i]));
  plan_.forward_train.push_back(step_make(infer, std::move(global_args)));
}

// A memory over `values`, BatchNorm op i's scale_shift or its gradient ([2, c] f32 in either
// precision: oneDNN's bf16 BatchNorm keeps them in f32). Error if oneDNN wants another layout.
memory DnnlPlanBuilder::bn_params_memory(int i, const memory::desc& md,
                                         std::vector<float>& values) {
  const memory::desc want({2, net_.ops[i].c}, memory::data_type::f32, memory::format_tag::nc);
  if (md != want)
    throw Error("", "affine BatchNorm " + net_.ops[i].name +
                        ": oneDNN wants its scale and shift in a layout other than f32 [2, c]");
  return memory(md, state_.engine, values.data());
}

void DnnlPlanBuilder::forward_add(int i) {
  const int a = net_.ops[i].inputs[0], b = net_.ops[i].inputs[1];
  const memory::desc src0 = src_desc(a, false);
  const dnnl::binary::desc desc(algorithm::binary_add, src0, src_desc(b, false), src0);
  const dnnl::binary::primitive_desc pd(desc, attr_, state_.engine);
  act_define(i, pd.dst_desc());
  step_forward(
      step_make(pd, {{DNNL_ARG_SRC_0, act(a)}, {DNNL_ARG_SRC_1, act(b)}, {DNNL_ARG_DST, act(i)}}));
}

}  // namespace popup

// The backward half of a DnnlPlan: backward-data and backward-weights primitives in reverse
// op order, gradients summed where an output feeds several ops, weight gradients to plain.
#include <omp.h>

#include <memory>
#include <string>
#include <utility>

#include "cpu/dnnl_plan_builder.hpp"
#include "cpu/narrow_weight_grad.hpp"
#include "cpu/pool_relu_backward.hpp"
#include "cpu/relu_bits.hpp"
#include "cpu/winograd_f2x3.hpp"
#include "cpu/winograd_f4x3_grad.hpp"
#include "error.hpp"

namespace popup {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

}  // namespace

// The ops in reverse order from the gradient of the logits; each op's gradient is complete
// (all its consumers done) when its own turn comes.
void DnnlPlanBuilder::backward(float* diff_logits) {
  const int count = static_cast<int>(net_.ops.size());
  const int last = count - 1;
  diff_.assign(count, memory());
  written_.assign(count, false);
  pending_.assign(count, {});
  done_.assign(count, false);
  plan_.backward.push_back(
      reorder_step(memory(plain_desc(last), state_.engine, diff_logits), diff(last)));
  written_[last] = true;
  for (int i = last; i >= 0; --i) {
    if (!graph_.needs_diff[i] || done_[i]) continue;
    diff_finish(i);
    switch (net_.ops[i].kind) {
      case OpKind::conv: backward_conv(i); break;
      case OpKind::linear: backward_linear(i); break;
      case OpKind::relu: backward_relu(i); break;
      case OpKind::maxpool:
      case OpKind::global_avgpool: backward_pool(i); break;
      case OpKind::batchnorm: backward_bn(i); break;
      case OpKind::add: backward_add(i); break;
    }
  }
}

// The gradient buffer of op j's output, in the layout of the output itself.
const memory& DnnlPlanBuilder::diff(int j) {
  if (!diff_[j])
    diff_[j] = graph_.diff_alias[j] >= 0 ? diff(graph_.diff_alias[j]) : slot_memory(act_desc_[j]);
  return diff_[j];
}

memory DnnlPlanBuilder::operand_backward(const memory& mem, const memory::desc& md) {
  if (mem.get_desc() == md) return mem;
  const memory copy = slot_memory(md);
  plan_.backward.push_back(reorder_step(mem, copy));
  return copy;
}

// Where a consumer writes its contribution, in layout md, to the gradient of op j's output:
// straight into the gradient when it is the first and the layouts agree, else into the
// temporary buffer, which contribution_done copies or adds.
memory DnnlPlanBuilder::contribution(int j, const memory::desc& md) {
  if (!written_[j] && md == act_desc_[j]) {
    written_[j] = true;
    return diff(j);
  }
  return slot_memory(md, temp_slot);
}

// Adds a contribution written elsewhere than into the gradient itself (copies it, if first).
void DnnlPlanBuilder::contribution_done(int j, const memory& target) {
  if (target == diff(j)) return;
  if (written_[j]) {
    accumulate(j, target);
  } else {
    plan_.backward.push_back(reorder_step(target, diff(j)));
    written_[j] = true;
  }
}

// diff(j) += src, in place.
void DnnlPlanBuilder::accumulate(int j, const memory& src) {
  const memory& dst = diff(j);
  const dnnl::binary::desc desc(algorithm::binary_add, dst.get_desc(), src.get_desc(),
                                dst.get_desc());
  const dnnl::binary::primitive_desc pd(desc, attr_, state_.engine);
  plan_.backward.push_back(
      step_make(pd, {{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_SRC_1, src}, {DNNL_ARG_DST, dst}}));
}

// Completes the gradient of op i's output with what adds passed on to it. (They are added
// last, so that a computed contribution can be written straight into the gradient.)
void DnnlPlanBuilder::diff_finish(int i) {
  for (const memory& src : pending_[i]) contribution_done(i, src);
}

// The weight gradient of tensor t through a backward-weights primitive, then reordered into
// the caller's plain array; both steps run only when that gradient is asked for. It is f32
// in either precision: oneDNN's bf16 backward-weights accumulates in f32 and may write f32,
// which saves the score gradient one rounding to bf16.
void DnnlPlanBuilder::weight_grad(int t, const dnnl::primitive_desc_base& pd,
                                  const memory::desc& diff_weights, Args args) {
  const memory grad = slot_memory(diff_weights, weight_grad_slot);
  args.emplace_back(DNNL_ARG_DIFF_WEIGHTS, grad);
  plan_.backward.push_back(step_make(pd, std::move(args), t));
  plan_.backward.push_back(reorder_step(grad, state_.tensors[t].grad));
  plan_.backward.back().tensor = t;
}

// Backward-data is skipped where the input needs no gradient: always for the first layer,
// whose input is the network input (the images get no gradient).
void DnnlPlanBuilder::backward_conv(int i) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  const memory::dims strides{spec.stride, spec.stride}, pad{spec.pad, spec.pad};
  const DnnlOpForward& f = fwd_[i];
  if (f.f2x3) return backward_conv_f2x3(i);
  if (f.f4x3_grad) {
    f4x3_weight_grad_step(i, f.f4x3_grad);
  } else if (!narrow_weight_grad_step(i)) {
    const memory::desc w_any(spec.shape, f32, Tag::any);  // f32 in bf16 too (weight_grad)
    const auto make_weights = [&](const memory::desc& src, const memory::desc& diff_dst) {
      const dnnl::convolution_backward_weights::desc desc(f.conv_algo, src, w_any, diff_dst,
                                                          strides, pad, pad);
      return dnnl::convolution_backward_weights::primitive_desc(desc, attr_, state_.engine, f.conv);
    };
    const auto wpd = dnnl_pd_preferring(make_weights, f.src.get_desc(), act_desc_[i]);
    weight_grad(op.tensor, wpd, wpd.diff_weights_desc(),
                {{DNNL_ARG_SRC, operand_backward(f.src, wpd.src_desc())},
                 {DNNL_ARG_DIFF_DST, operand_backward(diff(i), wpd.diff_dst_desc())}});
  }
  if (j < 0 || !graph_.needs_diff[j]) return;
  DnnlTensor& tensor = state_.tensors[op.tensor];
  const memory::desc w_md = dnnl_weights_desc(tensor.backward, spec.shape, state_.data_type);
  const auto make_data = [&](const memory::desc& diff_src, const memory::desc& diff_dst) {
    const dnnl::convolution_backward_data::desc desc(f.conv_algo, diff_src, w_md, diff_dst, strides,
                                                     pad, pad);
    return dnnl::convolution_backward_data::primitive_desc(desc, attr_, state_.engine, f.conv);
  };
  const auto dpd = dnnl_pd_preferring(make_data, act_desc(j), act_desc_[i]);
  data_grad(i, j, op.tensor, dpd);
}

// The weight gradient of conv op i by popup's kernel for inputs of few channels
// (narrow_weight_grad.hpp), straight into the caller's plain array, where it takes the layer:
// 3x3, stride 1, padding 1, a plain f32 input, the gradient in nChw8c, oneDNN's AVX2 layout
// (with AVX-512, in nChw16c, oneDNN's own kernel is faster: 1.1 ms against 2.1 for conv4's
// first layer). Only where the convolutions are not all oneDNN's direct ones (--conv-algo
// winograd or auto), so that a direct run computes what earlier builds did, bit for bit.
// False where it does not apply.
bool DnnlPlanBuilder::narrow_weight_grad_step(int i) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  if (state_.conv_algo == ConvAlgo::direct || state_.data_type != f32 || spec.shape[2] != 3 ||
      spec.shape[3] != 3 || spec.stride != 1 || spec.pad != 1)
    return false;
  const memory::desc& dy_md = act_desc_[i];
  const NarrowShape s{n_, spec.shape[1], spec.shape[0], dims(i)[2], dims(i)[3], 8};
  if (dy_md != memory::desc(dims(i), f32, Tag::nChw8c) ||
      fwd_[i].src.get_desc() != memory::desc(dims(j), f32, Tag::nchw) ||
      !narrow_weight_grad_fits(s))
    return false;
  const memory x = fwd_[i].src, dy = diff(i), dw = state_.tensors[op.tensor].grad;
  const auto scratch = host_scratch(narrow_weight_grad_scratch(s));
  DnnlStep step = host_step(
      [s, x, dy, dw, scratch] {
        narrow_weight_grad(s, static_cast<const float*>(x.get_data_handle()),
                           static_cast<const float*>(dy.get_data_handle()),
                           static_cast<float*>(dw.get_data_handle()),
                           static_cast<float*>(scratch->get_data_handle()));
      },
      {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
  step.tensor = op.tensor;
  plan_.backward.push_back(std::move(step));
  return true;
}

// The weight gradient of conv op i by popup's Winograd F(4x4, 3x3), over its input and output
// gradient in nChw{block}c, straight into the caller's plain array (a step of the weights
// tensor: run only when that gradient is asked for). Returns the output gradient in that layout.
memory DnnlPlanBuilder::f4x3_weight_grad_step(int i, int64_t block) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const Tag tag = block == 16 ? Tag::nChw16c : Tag::nChw8c;
  const memory dy = operand_backward(diff(i), memory::desc(dims(i), f32, tag));
  const WinogradShape forward{n_, spec.shape[1], spec.shape[0], dims(i)[2], dims(i)[3], block};
  const memory x = fwd_[i].src, dw = state_.tensors[op.tensor].grad;
  const auto scratch = host_scratch(winograd_f4x3_weight_grad_scratch(forward));
  DnnlStep weights = host_step(
      [forward, x, dy, dw, scratch] {
        winograd_f4x3_weight_grad(forward, static_cast<const float*>(x.get_data_handle()),
                                  static_cast<const float*>(dy.get_data_handle()),
                                  static_cast<float*>(dw.get_data_handle()),
                                  static_cast<float*>(scratch->get_data_handle()));
      },
      {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
  weights.tensor = op.tensor;
  plan_.backward.push_back(std::move(weights));
  return dy;
}

// Backward of conv op i under popup's Winograd: the weight gradient (f4x3_weight_grad_step),
// then the backward-data, the forward's kernel over the gradient with the weights rotated and
// transposed, into input j's gradient (in the forward's layout).
void DnnlPlanBuilder::backward_conv_f2x3(int i) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  const int64_t block = fwd_[i].f2x3;
  const Tag tag = block == 16 ? Tag::nChw16c : Tag::nChw8c;
  const memory dy = f4x3_weight_grad_step(i, block);
  if (j < 0 || !graph_.needs_diff[j]) return;
  weights_f2x3(op.tensor, spec.shape, true);
  // A ReLU under popup's kernel that feeds this convolution alone, in its layout, has its
  // backward done here: the gradient goes gated by its bits to the ReLU's input k.
  const memory::desc md(dims(j), f32, tag);
  const bool relu =
      fwd_[j].relu_bits && graph_.consumers[j] == std::vector<int>{i} && act_desc_[j] == md;
  const int k = relu ? net_.ops[j].inputs[0] : j;
  const memory target = contribution(k, md), gate = fwd_[j].relu_bits;
  const memory u = state_.tensors[op.tensor].backward;
  const WinogradShape shape{n_, spec.shape[0], spec.shape[1], dims(j)[2], dims(j)[3], block};
  const int threads = omp_get_max_threads();
  const auto data_scratch = host_scratch(winograd_f2x3_run_scratch(shape, threads));
  Args args{{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, u}, {DNNL_ARG_DIFF_SRC, target}};
  if (relu) args.emplace_back(DNNL_ARG_WORKSPACE, gate);
  plan_.backward.push_back(host_step(
      [shape, dy, u, target, data_scratch, threads, relu, gate] {
        winograd_f2x3_run(shape, static_cast<const float*>(dy.get_data_handle()),
                          static_cast<const float*>(u.get_data_handle()),
                          static_cast<float*>(target.get_data_handle()), false,
                          static_cast<float*>(data_scratch->get_data_handle()), threads,
                          relu ? static_cast<const uint8_t*>(gate.get_data_handle()) : nullptr);
      },
      std::move(args)));
  contribution_done(k, target);
  if (relu) done_[j] = true;
}

// The gradient that op i (conv or linear, weights tensor t) passes back to its input j.
void DnnlPlanBuilder::data_grad(int i, int j, int t, const dnnl::primitive_desc_base& dpd) {
  weights_backward(t, dpd.weights_desc());
  const memory diff_dst = operand_backward(diff(i), dpd.diff_dst_desc());
  const memory target = contribution(j, dpd.diff_src_desc());
  plan_.backward.push_back(step_make(dpd, {{DNNL_ARG_DIFF_DST, diff_dst},
                                           {DNNL_ARG_WEIGHTS, state_.tensors[t].backward},
                                           {DNNL_ARG_DIFF_SRC, target}}));
  contribution_done(j, target);
}

// The layout linear op i's weight gradient is asked for in. Over an image input in nChw8c or
// nChw16c, where the convolutions are not all direct (like narrow_weight_grad_step): the
// input's own order, [out][c / 8][h][w][8] (or 16), whose reorder into the plain array moves
// eight (sixteen) floats at a time. oneDNN's choice (for conv4's first linear layer
// BcdA8b256a, 256 output channels innermost) took 1.7 ms to reorder against 0.2, and its gemm
// is no faster there (3.8 against 3.2 ms, capped to AVX2). Elsewhere oneDNN's choice.
memory::desc DnnlPlanBuilder::linear_grad_desc(int i) const {
  const int j = net_.ops[i].inputs[0];
  const memory::dims w_dims = dnnl_linear_weights_dims(net_.ops[i], dims(j));
  if (state_.conv_algo != ConvAlgo::direct && w_dims.size() == 4)
    for (const auto& [src, grad] :
         {std::pair<Tag, Tag>{Tag::nChw16c, Tag::aBcd16b}, {Tag::nChw8c, Tag::aBcd8b}})
      if (fwd_[i].src.get_desc() == memory::desc(dims(j), f32, src))
        return memory::desc(w_dims, f32, grad);
  return memory::desc(w_dims, f32, Tag::any);
}

void DnnlPlanBuilder::backward_linear(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const memory::dims w_dims = dnnl_linear_weights_dims(op, dims(j));
  const DnnlOpForward& f = fwd_[i];
  const auto make_weights = [&](const memory::desc& grad) {  // f32 in bf16 too (weight_grad)
    return [&, grad](const memory::desc& src, const memory::desc& diff_dst) {
      const dnnl::inner_product_backward_weights::desc desc(src, grad, diff_dst);
      return dnnl::inner_product_backward_weights::primitive_desc(desc, attr_, state_.engine,
                                                                  f.linear);
    };
  };
  auto wpd = dnnl_pd_preferring(make_weights(linear_grad_desc(i)), f.src.get_desc(), act_desc_[i]);
  if (dnnl_is_reference(wpd))  // a layout oneDNN's gemm does not take: its own choice
    wpd = dnnl_pd_preferring(make_weights(memory::desc(w_dims, f32, Tag::any)), f.src.get_desc(),
                             act_desc_[i]);
  weight_grad(op.tensor, wpd, wpd.diff_weights_desc(),
              {{DNNL_ARG_SRC, operand_backward(f.src, wpd.src_desc())},
               {DNNL_ARG_DIFF_DST, operand_backward(diff(i), wpd.diff_dst_desc())}});
  if (j < 0 || !graph_.needs_diff[j]) return;
  DnnlTensor& tensor = state_.tensors[op.tensor];
  const memory::desc w_md = dnnl_weights_desc(tensor.backward, w_dims, state_.data_type);
  const auto make_data = [&](const memory::desc& diff_src, const memory::desc& diff_dst) {
    const dnnl::inner_product_backward_data::desc desc(diff_src, w_md, diff_dst);
    return dnnl::inner_product_backward_data::primitive_desc(desc, attr_, state_.engine, f.linear);
  };
  const auto dpd = dnnl_pd_preferring(make_data, act_desc(j), act_desc_[i]);
  data_grad(i, j, op.tensor, dpd);
}

void DnnlPlanBuilder::backward_relu(int i) {
  const int j = net_.ops[i].inputs[0];
  if (fwd_[i].own_relu) {                                 // through the forward's bits
    const memory target = contribution(j, act_desc_[i]);  // diff(i) itself when in place
    const memory dy = diff(i), bits = fwd_[i].relu_bits;
    const int64_t n = static_cast<int64_t>(act_desc_[i].get_size() / sizeof(float));
    plan_.backward.push_back(host_step(
        [n, dy, bits, target] {
          relu_bits_backward(static_cast<const float*>(dy.get_data_handle()),
                             static_cast<const uint8_t*>(bits.get_data_handle()),
                             static_cast<float*>(target.get_data_handle()), n);
        },
        {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WORKSPACE, bits}, {DNNL_ARG_DIFF_SRC, target}}));
    contribution_done(j, target);
    return;
  }
  const dnnl::eltwise_backward::desc desc(algorithm::eltwise_relu_use_dst_for_bwd, act_desc_[i],
                                          act_desc_[i], 0.f, 0.f);
  const dnnl::eltwise_backward::primitive_desc pd(desc, attr_, state_.engine, fwd_[i].relu);
  const memory target = contribution(j, act_desc_[i]);  // diff(i) itself when in place
  plan_.backward.push_back(step_make(
      pd, {{DNNL_ARG_DIFF_DST, diff(i)}, {DNNL_ARG_DST, act(i)}, {DNNL_ARG_DIFF_SRC, target}}));
  contribution_done(j, target);
}

void DnnlPlanBuilder::backward_pool(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const bool max = op.kind == OpKind::maxpool;
  if (max && pool_relu_step(i)) return;
  const PoolWindow window = pool_window(i);
  const dnnl::pooling_backward::desc desc(
      max ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding, act_desc(j),
      act_desc_[i], window.strides, window.kernel, window.pad, window.pad);
  const dnnl::pooling_backward::primitive_desc pd(desc, attr_, state_.engine, fwd_[i].pool);
  const memory target = contribution(j, pd.diff_src_desc());
  Args args{{DNNL_ARG_DIFF_DST, diff(i)}, {DNNL_ARG_DIFF_SRC, target}};
  if (max) args.emplace_back(DNNL_ARG_WORKSPACE, fwd_[i].workspace);
  plan_.backward.push_back(step_make(pd, std::move(args)));
  contribution_done(j, target);
}

// The backward of max-pool op i and the ReLU before it by popup's fused kernel
// (pool_relu_backward.hpp), into the gradient of the ReLU's input, where it takes them: a 2x2
// window of stride 2 without padding over the output of a ReLU that feeds nothing else, in
// nChw8c or nChw16c, f32, with oneDNN's workspace in the pool output's layout. Only where the
// convolutions are not all oneDNN's direct ones, like narrow_weight_grad_step. The gate is the
// pooled value (the ReLU's output at the maximum), which stays in place: an in-place ReLU after
// the pool keeps its sign. False where it does not apply.
bool DnnlPlanBuilder::pool_relu_step(int i) {
  const Op& op = net_.ops[i];
  const int r = op.inputs[0];
  if (state_.conv_algo == ConvAlgo::direct || state_.data_type != f32 || r < 0 ||
      net_.ops[r].kind != OpKind::relu || graph_.consumers[r] != std::vector<int>{i} ||
      op.kernel != 2 || op.stride != 2 || op.pad != 0)
    return false;
  const int k = net_.ops[r].inputs[0];
  const memory::dims in = dims(r), out = dims(i);
  int64_t block = 0;
  for (const auto& [b, tag] : {std::pair<int64_t, Tag>{16, Tag::nChw16c}, {8, Tag::nChw8c}})
    if (act_desc_[r] == memory::desc(in, f32, tag) && act_desc_[i] == memory::desc(out, f32, tag) &&
        fwd_[i].workspace.get_desc() == memory::desc(out, memory::data_type::u8, tag))
      block = b;
  const PoolReluShape s{n_, in[1], in[2], in[3], block};
  if (k < 0 || !block || !pool_relu_backward_fits(s)) return false;
  const memory target = contribution(k, act_desc_[r]);
  const memory y = act(i), dy = diff(i), ws = fwd_[i].workspace;
  plan_.backward.push_back(host_step(
      [s, y, dy, ws, target] {
        pool_relu_backward(s, static_cast<const float*>(y.get_data_handle()),
                           static_cast<const float*>(dy.get_data_handle()),
                           static_cast<const uint8_t*>(ws.get_data_handle()),
                           static_cast<float*>(target.get_data_handle()));
      },
      {{DNNL_ARG_DST, y},
       {DNNL_ARG_DIFF_DST, dy},
       {DNNL_ARG_WORKSPACE, ws},
       {DNNL_ARG_DIFF_SRC, target}}));
  contribution_done(k, target);
  done_[r] = true;
  return true;
}

// Without affine_bn backward_data: only the input gradient. With it backward: also the
// gradients of gamma and beta, into the shared state (Executor::bn_grads); an input that needs
// no gradient (e.g. the images) still gets one from oneDNN, in the temporary buffer, unused.
void DnnlPlanBuilder::backward_bn(int i) {
  if (state_.sync_bn) return backward_bn_sync(i);
  const int j = net_.ops[i].inputs[0];
  const DnnlOpForward& f = fwd_[i];
  const bool affine = state_.affine_bn;
  const dnnl::batch_normalization_backward::desc desc(
      affine ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data, act_desc_[i],
      act_desc(j), bn_epsilon,
      affine ? dnnl::normalization_flags::use_scale_shift : dnnl::normalization_flags::none);
  const dnnl::batch_normalization_backward::primitive_desc pd(desc, attr_, state_.engine, f.bn);
  const bool input_diff = j >= 0 && graph_.needs_diff[j];  // always, without affine_bn
  const memory target =
      input_diff ? contribution(j, pd.diff_src_desc()) : slot_memory(pd.diff_src_desc(), temp_slot);
  Args args{{DNNL_ARG_SRC, act(j)},
            {DNNL_ARG_MEAN, f.mean},
            {DNNL_ARG_VARIANCE, f.var},
            {DNNL_ARG_DIFF_DST, diff(i)},
            {DNNL_ARG_DIFF_SRC, target}};
  if (affine) {
    args.emplace_back(DNNL_ARG_SCALE_SHIFT,
                      bn_params_memory(i, pd.weights_desc(), state_.bn_scale_shift[i]));
    args.emplace_back(DNNL_ARG_DIFF_SCALE_SHIFT,
                      bn_params_memory(i, pd.diff_weights_desc(), state_.bn_diff_scale_shift[i]));
  }
  plan_.backward.push_back(step_make(pd, std::move(args)));
  plan_.backward.back().bn_op = i;
  if (input_diff) contribution_done(j, target);
}

// SyncBatchNorm's backward (dnnl_sync_bn_backward): host code over the activations' layout,
// with the global statistics of the forward; gamma and beta's gradients come out summed over
// the ranks.
void DnnlPlanBuilder::backward_bn_sync(int i) {
  const int j = net_.ops[i].inputs[0];
  const DnnlOpForward& f = fwd_[i];
  if (act_desc_[i] != act_desc(j))
    throw Error("", "sync_bn: BatchNorm " + net_.ops[i].name +
                        "'s output is in another layout than its input");
  const bool input_diff = j >= 0 && graph_.needs_diff[j];
  const memory x = act(j), dy = diff(i), mean = f.mean, var = f.var;
  const memory target = input_diff ? contribution(j, act_desc(j)) : memory();
  const std::shared_ptr<DnnlSyncBn> sync = sync_[i];
  const float* gamma = state_.affine_bn ? state_.bn_scale_shift[i].data() : nullptr;
  float* diff_scale_shift = state_.affine_bn ? state_.bn_diff_scale_shift[i].data() : nullptr;
  Args args{
      {DNNL_ARG_SRC, x}, {DNNL_ARG_MEAN, mean}, {DNNL_ARG_VARIANCE, var}, {DNNL_ARG_DIFF_DST, dy}};
  if (input_diff) args.emplace_back(DNNL_ARG_DIFF_SRC, target);
  plan_.backward.push_back(host_step(
      [=] {
        dnnl_sync_bn_backward(*sync, static_cast<const float*>(x.get_data_handle()),
                              static_cast<const float*>(dy.get_data_handle()),
                              target ? static_cast<float*>(target.get_data_handle()) : nullptr,
                              static_cast<const float*>(mean.get_data_handle()),
                              static_cast<const float*>(var.get_data_handle()), gamma,
                              diff_scale_shift);
      },
      std::move(args)));
  plan_.backward.back().bn_op = i;
  if (input_diff) contribution_done(j, target);
}

// An add passes its gradient to both inputs: shared where the input feeds nothing else,
// otherwise added to the input's gradient when that is complete (diff_finish).
void DnnlPlanBuilder::backward_add(int i) {
  for (int j : net_.ops[i].inputs) {
    if (j < 0 || !graph_.needs_diff[j]) continue;
    if (graph_.diff_alias[j] == i)
      written_[j] = true;
    else
      pending_[j].push_back(diff(i));
  }
}

}  // namespace popup

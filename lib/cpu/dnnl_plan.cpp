// Builds the oneDNN plan of a Network for one batch size: every activation stays in the
// layout its producer chose (format_tag::any), so data is reordered only at the edges.
#include "cpu/dnnl_plan.hpp"

#include <algorithm>
#include <string>

#include "cpu/network_graph.hpp"
#include "error.hpp"

namespace popup {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using Tag = memory::format_tag;
using Args = std::vector<std::pair<int, memory>>;
constexpr auto f32 = memory::data_type::f32;
constexpr float bn_epsilon = 1e-5f;  // PyTorch's BatchNorm default

// Arena slots with a fixed role; the activations and gradients take the slots after them.
constexpr size_t scratchpad_slot = 0;    // shared by all primitives (user scratchpad mode)
constexpr size_t temp_slot = 1;          // a gradient contribution waiting to be added
constexpr size_t weight_grad_slot = 2;   // a weight gradient before it is reordered to plain
constexpr size_t first_free_slot = 3;

void plan_slots_bind(DnnlPlan& plan, const DnnlArena& arena) {
  for (const auto& [mem, slot] : plan.slot_memories) mem.set_data_handle(arena.data(slot));
  plan.generation = arena.generation();
}

// What the forward pass leaves for the backward pass of one op.
struct OpForward {
  dnnl::convolution_forward::primitive_desc conv;
  dnnl::inner_product_forward::primitive_desc linear;
  dnnl::eltwise_forward::primitive_desc relu;
  dnnl::pooling_forward::primitive_desc pool;
  dnnl::batch_normalization_forward::primitive_desc bn;
  memory workspace;  // maxpool
  memory mean, var;  // batchnorm batch statistics
};

class PlanBuilder {
 public:
  PlanBuilder(const Network& net, int64_t n, bool train, DnnlState& state, DnnlArena& arena)
      : net_(net), n_(n), train_(train), state_(state), arena_(arena),
        graph_(network_graph(net)) {
    attr_.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  }

  DnnlPlan build(float* logits, float* diff_logits);

 private:
  // shapes
  bool flat(int j) const { return j >= 0 && graph_.flat[j]; }
  int64_t channels(int j) const { return j < 0 ? net_.input.c : net_.ops[j].c; }
  int64_t height(int j) const { return j < 0 ? net_.input.h : net_.ops[j].h; }
  int64_t width(int j) const { return j < 0 ? net_.input.w : net_.ops[j].w; }
  memory::dims dims(int j) const;
  memory::desc plain_desc(int j) const;
  memory::desc any_desc(int j) const { return memory::desc(dims(j), f32, Tag::any); }

  // forward
  memory::desc src_desc(int j, bool flexible);
  void input_fix(int j, const memory::desc& md);
  const memory& act(int j) const { return j < 0 ? input_ : act_[j]; }
  const memory::desc& act_desc(int j) const { return j < 0 ? input_desc_ : act_desc_[j]; }
  void act_define(int i, const memory::desc& md);
  void forward_conv(int i);
  void forward_linear(int i);
  void forward_relu(int i);
  void forward_pool(int i);
  void forward_bn(int i);
  void forward_add(int i);
  void weights_forward(int t, const memory::dims& plain_dims, const memory::desc& md);
  void weights_backward(int t, const memory::desc& md);

  // backward
  const memory& diff(int j);
  memory contribution(int j);
  void contribution_done(int j, const memory& target);
  void accumulate(int j, const memory& src);
  void diff_finish(int i);
  void backward_conv(int i);
  void backward_linear(int i);
  void backward_relu(int i);
  void backward_pool(int i);
  void backward_bn(int i);
  void backward_add(int i);
  void weight_grad(int t, const dnnl::primitive_desc_base& pd, const memory::desc& diff_weights,
                   Args args);

  // steps and buffers
  memory slot_memory(const memory::desc& md, size_t slot);
  memory slot_memory(const memory::desc& md) { return slot_memory(md, next_slot_++); }
  DnnlStep step_make(const dnnl::primitive_desc_base& pd, Args args, int tensor = -1);
  void step_forward(const dnnl::primitive_desc_base& pd, Args args);
  DnnlStep reorder_step(const memory& from, const memory& to);
  void scratchpad_attach();

  const Network& net_;
  const int64_t n_;
  const bool train_;
  DnnlState& state_;
  DnnlArena& arena_;
  dnnl::primitive_attr attr_;
  DnnlPlan plan_;
  size_t next_slot_ = first_free_slot;
  size_t scratchpad_bytes_ = 0;

  const NetworkGraph graph_;

  memory input_;
  memory::desc input_desc_;
  std::vector<memory> act_;
  std::vector<memory::desc> act_desc_;
  std::vector<OpForward> fwd_;

  std::vector<memory> diff_;
  std::vector<bool> written_;                 // the gradient holds its first contribution
  std::vector<std::vector<memory>> pending_;  // gradients of adds still to be added
};

// ---- shapes ------------------------------------------------------------------------------

memory::dims PlanBuilder::dims(int j) const {
  if (flat(j)) return {n_, channels(j)};
  return {n_, channels(j), height(j), width(j)};
}

memory::desc PlanBuilder::plain_desc(int j) const {
  return memory::desc(dims(j), f32, flat(j) ? Tag::nc : Tag::nchw);
}

// ---- steps and buffers -------------------------------------------------------------------

memory PlanBuilder::slot_memory(const memory::desc& md, size_t slot) {
  arena_.reserve(slot, md.get_size());
  memory mem(md, state_.engine, DNNL_MEMORY_NONE);
  plan_.slot_memories.emplace_back(mem, slot);
  return mem;
}

DnnlStep PlanBuilder::step_make(const dnnl::primitive_desc_base& pd, Args args, int tensor) {
  const size_t scratchpad = pd.scratchpad_desc().get_size();
  if (scratchpad > 0) {
    scratchpad_bytes_ = std::max(scratchpad_bytes_, scratchpad);
    args.emplace_back(DNNL_ARG_SCRATCHPAD, memory());  // bound in scratchpad_attach
  }
  return dnnl_step_make(dnnl::primitive(pd.get()), std::move(args), tensor);
}

// A forward step that is the same in training and in inference.
void PlanBuilder::step_forward(const dnnl::primitive_desc_base& pd, Args args) {
  const DnnlStep step = step_make(pd, std::move(args));
  if (train_) plan_.forward_train.push_back(step);
  plan_.forward_infer.push_back(step);
}

DnnlStep PlanBuilder::reorder_step(const memory& from, const memory& to) {
  const dnnl::reorder::primitive_desc pd(state_.engine, from.get_desc(), state_.engine,
                                         to.get_desc(), attr_);
  return step_make(pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

// Gives every step that needs scratch memory the one shared scratchpad.
void PlanBuilder::scratchpad_attach() {
  if (scratchpad_bytes_ == 0) return;
  const memory scratchpad =
      slot_memory(memory::desc({static_cast<int64_t>(scratchpad_bytes_)},
                               memory::data_type::u8, Tag::x), scratchpad_slot);
  for (auto* list : {&plan_.forward_train, &plan_.forward_infer, &plan_.backward})
    for (DnnlStep& step : *list)
      for (size_t k = 0; k < step.args.size(); ++k)
        if (step.args[k].first == DNNL_ARG_SCRATCHPAD) {
          step.args[k].second = scratchpad;
          step.exec_args[k].memory = scratchpad.get();
        }
}

// ---- forward -----------------------------------------------------------------------------

// The layout of input j for a consumer: its producer's, or for the network input, the first
// consumer's choice (`flexible`: a convolution or inner product may choose) or plain NCHW.
memory::desc PlanBuilder::src_desc(int j, bool flexible) {
  if (j >= 0) return act_desc_[j];
  if (!input_desc_.is_zero()) return input_desc_;
  if (flexible) return any_desc(j);
  input_fix(j, plain_desc(j));
  return input_desc_;
}

// Fixes the network input's layout once its first consumer has chosen it.
void PlanBuilder::input_fix(int j, const memory::desc& md) {
  if (j >= 0 || !input_desc_.is_zero()) return;
  input_desc_ = md;
  input_ = slot_memory(md);
}

void PlanBuilder::act_define(int i, const memory::desc& md) {
  act_desc_[i] = md;
  act_[i] = graph_.in_place[i] ? act_[net_.ops[i].inputs[0]] : slot_memory(md);
}

void PlanBuilder::weights_forward(int t, const memory::dims& plain_dims,
                                  const memory::desc& md) {
  DnnlTensor& tensor = state_.tensors[t];
  if (tensor.forward) return;  // fixed by the first plan
  const memory::desc plain(plain_dims, f32, plain_dims.size() == 4 ? Tag::oihw : Tag::oi);
  tensor.plain = memory(plain, state_.engine, DNNL_MEMORY_NONE);
  tensor.grad = memory(plain, state_.engine, DNNL_MEMORY_NONE);
  tensor.forward = memory(md, state_.engine);
  const dnnl::reorder::primitive_desc pd(state_.engine, plain, state_.engine, md);
  tensor.from_plain.push_back(
      dnnl_step_make(dnnl::primitive(pd.get()),
                     {{DNNL_ARG_FROM, tensor.plain}, {DNNL_ARG_TO, tensor.forward}}));
}

void PlanBuilder::weights_backward(int t, const memory::desc& md) {
  DnnlTensor& tensor = state_.tensors[t];
  if (tensor.backward) return;  // fixed by the first plan
  if (md == tensor.forward.get_desc()) {
    tensor.backward = tensor.forward;
    return;
  }
  tensor.backward = memory(md, state_.engine);
  const dnnl::reorder::primitive_desc pd(state_.engine, tensor.plain.get_desc(),
                                         state_.engine, md);
  tensor.from_plain.push_back(
      dnnl_step_make(dnnl::primitive(pd.get()),
                     {{DNNL_ARG_FROM, tensor.plain}, {DNNL_ARG_TO, tensor.backward}}));
}

// The weights layout a primitive must use: free for the first plan, the first plan's after.
memory::desc weights_desc(const memory& fixed, const memory::dims& plain_dims) {
  return fixed ? fixed.get_desc() : memory::desc(plain_dims, f32, Tag::any);
}

void PlanBuilder::forward_conv(int i) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  const memory::dims strides{spec.stride, spec.stride}, pad{spec.pad, spec.pad};
  const dnnl::convolution_forward::desc desc(
      train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      algorithm::convolution_direct, src_desc(j, true),
      weights_desc(state_.tensors[op.tensor].forward, spec.shape), any_desc(i), strides, pad,
      pad);
  OpForward& f = fwd_[i];
  f.conv = dnnl::convolution_forward::primitive_desc(desc, attr_, state_.engine);
  input_fix(j, f.conv.src_desc());
  weights_forward(op.tensor, spec.shape, f.conv.weights_desc());
  act_define(i, f.conv.dst_desc());
  step_forward(f.conv, {{DNNL_ARG_SRC, act(j)},
                        {DNNL_ARG_WEIGHTS, state_.tensors[op.tensor].forward},
                        {DNNL_ARG_DST, act(i)}});
}

// The weights of a linear op over an image input are [out, c, h, w]: the same row-major
// array as [out, c*h*w], which is PyTorch's flatten order.
memory::dims linear_weights_dims(const Op& op, const memory::dims& src_dims) {
  memory::dims w(src_dims);
  w[0] = op.c;
  return w;
}

void PlanBuilder::forward_linear(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const memory::dims w_dims = linear_weights_dims(op, dims(j));
  const dnnl::inner_product_forward::desc desc(
      train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      src_desc(j, true), weights_desc(state_.tensors[op.tensor].forward, w_dims), any_desc(i));
  OpForward& f = fwd_[i];
  f.linear = dnnl::inner_product_forward::primitive_desc(desc, attr_, state_.engine);
  input_fix(j, f.linear.src_desc());
  weights_forward(op.tensor, w_dims, f.linear.weights_desc());
  act_define(i, f.linear.dst_desc());
  step_forward(f.linear, {{DNNL_ARG_SRC, act(j)},
                          {DNNL_ARG_WEIGHTS, state_.tensors[op.tensor].forward},
                          {DNNL_ARG_DST, act(i)}});
}

void PlanBuilder::forward_relu(int i) {
  const int j = net_.ops[i].inputs[0];
  // relu_use_dst_for_bwd: the backward reads the output, so the input may be overwritten
  const dnnl::eltwise_forward::desc desc(
      train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      algorithm::eltwise_relu_use_dst_for_bwd, src_desc(j, false), 0.f, 0.f);
  OpForward& f = fwd_[i];
  f.relu = dnnl::eltwise_forward::primitive_desc(desc, attr_, state_.engine);
  act_define(i, f.relu.dst_desc());
  step_forward(f.relu, {{DNNL_ARG_SRC, act(j)}, {DNNL_ARG_DST, act(i)}});
}

// maxpool2 (2x2, stride 2; the floor of odd sizes drops the last row and column) and
// global_avgpool (one window over the whole image).
void PlanBuilder::forward_pool(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const bool max = op.kind == OpKind::maxpool2;
  const memory::dims window = max ? memory::dims{2, 2} : memory::dims{height(j), width(j)};
  const dnnl::pooling_forward::desc desc(
      train_ ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      max ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding, src_desc(j, false),
      any_desc(i), window, window, {0, 0}, {0, 0});
  OpForward& f = fwd_[i];
  f.pool = dnnl::pooling_forward::primitive_desc(desc, attr_, state_.engine);
  act_define(i, f.pool.dst_desc());
  Args args{{DNNL_ARG_SRC, act(j)}, {DNNL_ARG_DST, act(i)}};
  if (max && train_) {
    f.workspace = slot_memory(f.pool.workspace_desc());
    args.emplace_back(DNNL_ARG_WORKSPACE, f.workspace);
  }
  step_forward(f.pool, std::move(args));
}

// Non-affine BatchNorm: batch statistics in training (kept for the backward and the running
// statistics), running statistics in inference.
void PlanBuilder::forward_bn(int i) {
  const int j = net_.ops[i].inputs[0];
  const memory::desc src = src_desc(j, false);
  const dnnl::batch_normalization_forward::desc infer_desc(
      dnnl::prop_kind::forward_inference, src, bn_epsilon,
      dnnl::normalization_flags::use_global_stats);
  const dnnl::batch_normalization_forward::primitive_desc infer(infer_desc, attr_,
                                                                state_.engine);
  act_define(i, infer.dst_desc());
  const memory running_mean(infer.mean_desc(), state_.engine, state_.running_mean[i].data());
  const memory running_var(infer.variance_desc(), state_.engine, state_.running_var[i].data());
  plan_.forward_infer.push_back(step_make(infer, {{DNNL_ARG_SRC, act(j)},
                                                  {DNNL_ARG_MEAN, running_mean},
                                                  {DNNL_ARG_VARIANCE, running_var},
                                                  {DNNL_ARG_DST, act(i)}}));
  if (!train_) return;
  const dnnl::batch_normalization_forward::desc train_desc(
      dnnl::prop_kind::forward_training, src, bn_epsilon, dnnl::normalization_flags::none);
  OpForward& f = fwd_[i];
  f.bn = dnnl::batch_normalization_forward::primitive_desc(train_desc, attr_, state_.engine);
  f.mean = slot_memory(f.bn.mean_desc());
  f.var = slot_memory(f.bn.variance_desc());
  plan_.forward_train.push_back(step_make(f.bn, {{DNNL_ARG_SRC, act(j)},
                                                 {DNNL_ARG_DST, act(i)},
                                                 {DNNL_ARG_MEAN, f.mean},
                                                 {DNNL_ARG_VARIANCE, f.var}}));
  plan_.batch_stats.push_back({i, f.mean, f.var, n_ * height(j) * width(j)});
}

void PlanBuilder::forward_add(int i) {
  const int a = net_.ops[i].inputs[0], b = net_.ops[i].inputs[1];
  const memory::desc src0 = src_desc(a, false);
  const dnnl::binary::desc desc(algorithm::binary_add, src0, src_desc(b, false), src0);
  const dnnl::binary::primitive_desc pd(desc, attr_, state_.engine);
  act_define(i, pd.dst_desc());
  step_forward(pd, {{DNNL_ARG_SRC_0, act(a)}, {DNNL_ARG_SRC_1, act(b)}, {DNNL_ARG_DST, act(i)}});
}

// ---- backward ----------------------------------------------------------------------------

// The gradient buffer of op j's output, in the layout of the output itself.
const memory& PlanBuilder::diff(int j) {
  if (!diff_[j])
    diff_[j] = graph_.diff_alias[j] >= 0 ? diff(graph_.diff_alias[j]) : slot_memory(act_desc_[j]);
  return diff_[j];
}

// Where a consumer writes its contribution to the gradient of op j's output: straight into
// the gradient when it is the first, else into the temporary buffer (contribution_done adds).
memory PlanBuilder::contribution(int j) {
  if (!written_[j]) {
    written_[j] = true;
    return diff(j);
  }
  return slot_memory(act_desc_[j], temp_slot);
}

void PlanBuilder::contribution_done(int j, const memory& target) {
  if (target != diff(j)) accumulate(j, target);
}

// diff(j) += src, in place.
void PlanBuilder::accumulate(int j, const memory& src) {
  const memory& dst = diff(j);
  const dnnl::binary::desc desc(algorithm::binary_add, dst.get_desc(), src.get_desc(),
                                dst.get_desc());
  const dnnl::binary::primitive_desc pd(desc, attr_, state_.engine);
  plan_.backward.push_back(
      step_make(pd, {{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_SRC_1, src}, {DNNL_ARG_DST, dst}}));
}

// Completes the gradient of op i's output with what adds passed on to it. (They are added
// last, so that a computed contribution can be written straight into the gradient.)
void PlanBuilder::diff_finish(int i) {
  for (const memory& src : pending_[i]) {
    if (written_[i]) {
      accumulate(i, src);
    } else {
      plan_.backward.push_back(reorder_step(src, diff(i)));
      written_[i] = true;
    }
  }
}

// The weight gradient of tensor t through a backward-weights primitive, then reordered into
// the caller's plain array; both steps run only when that gradient is asked for.
void PlanBuilder::weight_grad(int t, const dnnl::primitive_desc_base& pd,
                              const memory::desc& diff_weights, Args args) {
  const memory grad = slot_memory(diff_weights, weight_grad_slot);
  args.emplace_back(DNNL_ARG_DIFF_WEIGHTS, grad);
  plan_.backward.push_back(step_make(pd, std::move(args), t));
  plan_.backward.push_back(reorder_step(grad, state_.tensors[t].grad));
  plan_.backward.back().tensor = t;
}

// Backward-data is skipped where the input needs no gradient: always for the first layer,
// whose input is the network input (the images get no gradient).
void PlanBuilder::backward_conv(int i) {
  const Op& op = net_.ops[i];
  const TensorSpec& spec = net_.tensors[op.tensor];
  const int j = op.inputs[0];
  const memory::dims strides{spec.stride, spec.stride}, pad{spec.pad, spec.pad};
  const OpForward& f = fwd_[i];
  const dnnl::convolution_backward_weights::desc wdesc(
      algorithm::convolution_direct, act_desc(j), memory::desc(spec.shape, f32, Tag::any),
      act_desc_[i], strides, pad, pad);
  const dnnl::convolution_backward_weights::primitive_desc wpd(wdesc, attr_, state_.engine,
                                                               f.conv);
  weight_grad(op.tensor, wpd, wpd.diff_weights_desc(),
              {{DNNL_ARG_SRC, act(j)}, {DNNL_ARG_DIFF_DST, diff(i)}});
  if (j < 0 || !graph_.needs_diff[j]) return;
  DnnlTensor& tensor = state_.tensors[op.tensor];
  const dnnl::convolution_backward_data::desc ddesc(
      algorithm::convolution_direct, act_desc(j), weights_desc(tensor.backward, spec.shape),
      act_desc_[i], strides, pad, pad);
  const dnnl::convolution_backward_data::primitive_desc dpd(ddesc, attr_, state_.engine,
                                                            f.conv);
  weights_backward(op.tensor, dpd.weights_desc());
  const memory target = contribution(j);
  plan_.backward.push_back(step_make(dpd, {{DNNL_ARG_DIFF_DST, diff(i)},
                                           {DNNL_ARG_WEIGHTS, tensor.backward},
                                           {DNNL_ARG_DIFF_SRC, target}}));
  contribution_done(j, target);
}

void PlanBuilder::backward_linear(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const memory::dims w_dims = linear_weights_dims(op, dims(j));
  const OpForward& f = fwd_[i];
  const dnnl::inner_product_backward_weights::desc wdesc(
      act_desc(j), memory::desc(w_dims, f32, Tag::any), act_desc_[i]);
  const dnnl::inner_product_backward_weights::primitive_desc wpd(wdesc, attr_, state_.engine,
                                                                 f.linear);
  weight_grad(op.tensor, wpd, wpd.diff_weights_desc(),
              {{DNNL_ARG_SRC, act(j)}, {DNNL_ARG_DIFF_DST, diff(i)}});
  if (j < 0 || !graph_.needs_diff[j]) return;
  DnnlTensor& tensor = state_.tensors[op.tensor];
  const dnnl::inner_product_backward_data::desc ddesc(
      act_desc(j), weights_desc(tensor.backward, w_dims), act_desc_[i]);
  const dnnl::inner_product_backward_data::primitive_desc dpd(ddesc, attr_, state_.engine,
                                                              f.linear);
  weights_backward(op.tensor, dpd.weights_desc());
  const memory target = contribution(j);
  plan_.backward.push_back(step_make(dpd, {{DNNL_ARG_DIFF_DST, diff(i)},
                                           {DNNL_ARG_WEIGHTS, tensor.backward},
                                           {DNNL_ARG_DIFF_SRC, target}}));
  contribution_done(j, target);
}

void PlanBuilder::backward_relu(int i) {
  const int j = net_.ops[i].inputs[0];
  const dnnl::eltwise_backward::desc desc(algorithm::eltwise_relu_use_dst_for_bwd,
                                          act_desc_[i], act_desc_[i], 0.f, 0.f);
  const dnnl::eltwise_backward::primitive_desc pd(desc, attr_, state_.engine, fwd_[i].relu);
  const memory target = contribution(j);  // diff(i) itself when in place
  plan_.backward.push_back(step_make(pd, {{DNNL_ARG_DIFF_DST, diff(i)},
                                          {DNNL_ARG_DST, act(i)},
                                          {DNNL_ARG_DIFF_SRC, target}}));
  contribution_done(j, target);
}

void PlanBuilder::backward_pool(int i) {
  const Op& op = net_.ops[i];
  const int j = op.inputs[0];
  const bool max = op.kind == OpKind::maxpool2;
  const memory::dims window = max ? memory::dims{2, 2} : memory::dims{height(j), width(j)};
  const dnnl::pooling_backward::desc desc(
      max ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding, act_desc(j),
      act_desc_[i], window, window, {0, 0}, {0, 0});
  const dnnl::pooling_backward::primitive_desc pd(desc, attr_, state_.engine, fwd_[i].pool);
  const memory target = contribution(j);
  Args args{{DNNL_ARG_DIFF_DST, diff(i)}, {DNNL_ARG_DIFF_SRC, target}};
  if (max) args.emplace_back(DNNL_ARG_WORKSPACE, fwd_[i].workspace);
  plan_.backward.push_back(step_make(pd, std::move(args)));
  contribution_done(j, target);
}

void PlanBuilder::backward_bn(int i) {
  const int j = net_.ops[i].inputs[0];
  const OpForward& f = fwd_[i];
  // backward_data: no scale or shift, so only the input gradient
  const dnnl::batch_normalization_backward::desc desc(
      dnnl::prop_kind::backward_data, act_desc_[i], act_desc(j), bn_epsilon,
      dnnl::normalization_flags::none);
  const dnnl::batch_normalization_backward::primitive_desc pd(desc, attr_, state_.engine,
                                                              f.bn);
  const memory target = contribution(j);
  plan_.backward.push_back(step_make(pd, {{DNNL_ARG_SRC, act(j)},
                                          {DNNL_ARG_MEAN, f.mean},
                                          {DNNL_ARG_VARIANCE, f.var},
                                          {DNNL_ARG_DIFF_DST, diff(i)},
                                          {DNNL_ARG_DIFF_SRC, target}}));
  contribution_done(j, target);
}

// An add passes its gradient to both inputs: shared where the input feeds nothing else,
// otherwise added to the input's gradient when that is complete (diff_finish).
void PlanBuilder::backward_add(int i) {
  for (int j : net_.ops[i].inputs) {
    if (j < 0 || !graph_.needs_diff[j]) continue;
    if (graph_.diff_alias[j] == i) written_[j] = true;
    else pending_[j].push_back(diff(i));
  }
}

DnnlPlan PlanBuilder::build(float* logits, float* diff_logits) {
  const int count = static_cast<int>(net_.ops.size());
  const int last = count - 1;
  act_.assign(count, memory());
  act_desc_.assign(count, memory::desc());
  fwd_.assign(count, OpForward());
  plan_.n = n_;

  for (int i = 0; i < count; ++i) {
    switch (net_.ops[i].kind) {
      case OpKind::conv: forward_conv(i); break;
      case OpKind::linear: forward_linear(i); break;
      case OpKind::relu: forward_relu(i); break;
      case OpKind::maxpool2:
      case OpKind::global_avgpool: forward_pool(i); break;
      case OpKind::batchnorm: forward_bn(i); break;
      case OpKind::add: forward_add(i); break;
    }
  }
  // the edges: the caller's images in, plain logits out
  plan_.images = memory(plain_desc(-1), state_.engine, DNNL_MEMORY_NONE);
  const DnnlStep images_in = reorder_step(plan_.images, input_);
  const DnnlStep logits_out =
      reorder_step(act(last), memory(plain_desc(last), state_.engine, logits));
  plan_.forward_infer.insert(plan_.forward_infer.begin(), images_in);
  plan_.forward_infer.push_back(logits_out);
  if (train_) {
    plan_.forward_train.insert(plan_.forward_train.begin(), images_in);
    plan_.forward_train.push_back(logits_out);

    diff_.assign(count, memory());
    written_.assign(count, false);
    pending_.assign(count, {});
    plan_.backward.push_back(
        reorder_step(memory(plain_desc(last), state_.engine, diff_logits), diff(last)));
    written_[last] = true;
    for (int i = last; i >= 0; --i) {
      if (!graph_.needs_diff[i]) continue;
      diff_finish(i);
      switch (net_.ops[i].kind) {
        case OpKind::conv: backward_conv(i); break;
        case OpKind::linear: backward_linear(i); break;
        case OpKind::relu: backward_relu(i); break;
        case OpKind::maxpool2:
        case OpKind::global_avgpool: backward_pool(i); break;
        case OpKind::batchnorm: backward_bn(i); break;
        case OpKind::add: backward_add(i); break;
      }
    }
  }
  scratchpad_attach();
  plan_slots_bind(plan_, arena_);
  return std::move(plan_);
}

}  // namespace

void dnnl_plan_bind(DnnlPlan& plan, const DnnlArena& arena) {
  if (plan.generation != arena.generation()) plan_slots_bind(plan, arena);
}

DnnlPlan dnnl_plan_build(const Network& net, int64_t n, bool train, DnnlState& state,
                         DnnlArena& arena, float* logits, float* diff_logits) {
  return PlanBuilder(net, n, train, state, arena).build(logits, diff_logits);
}

}  // namespace popup

// Builds the oneDNN plan of a Network for one batch size (the forward and backward halves are
// in dnnl_plan_forward.cpp and dnnl_plan_backward.cpp): buffers, steps, weights, the edges.
#include "cpu/dnnl_plan.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "cpu/dnnl_plan_builder.hpp"
#include "cpu/masked_reorder.hpp"
#include "cpu/winograd_f2x3.hpp"

namespace popup {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

void plan_slots_bind(DnnlPlan& plan, const DnnlArena& arena) {
  for (const auto& [mem, slot] : plan.slot_memories) mem.set_data_handle(arena.data(slot));
  plan.generation = arena.generation();
}

// The caller's mask, or none: the tensor has no mask memory (its steps do not all apply it), or
// the memory holds no handle (set_weights).
const uint8_t* mask_data(const memory& mask) {
  return mask ? static_cast<const uint8_t*>(mask.get_data_handle()) : nullptr;
}

}  // namespace

bool dnnl_is_reference(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).compare(0, 3, "ref") == 0;
}

memory::desc dnnl_any_like(const memory::desc& md) {
  return memory::desc(md.dims(), md.data_type(), Tag::any);
}

int64_t dnnl_winograd_block(const memory::desc& md, int64_t in, int64_t out) {
  for (const auto& [block, tag] : {std::pair<int64_t, Tag>{16, Tag::nChw16c}, {8, Tag::nChw8c}})
    if (in % block == 0 && out % block == 0 &&
        md == memory::desc(md.dims(), memory::data_type::f32, tag))
      return block;
  return 0;
}

memory::desc dnnl_weights_desc(const memory& fixed, const memory::dims& plain_dims,
                               memory::data_type dt) {
  return fixed ? fixed.get_desc() : memory::desc(plain_dims, dt, Tag::any);
}

memory::dims dnnl_linear_weights_dims(const Op& op, const memory::dims& src_dims) {
  memory::dims w(src_dims);
  w[0] = op.c;
  return w;
}

DnnlPlanBuilder::DnnlPlanBuilder(const Network& net, int64_t n, bool train, DnnlState& state,
                                 DnnlArena& arena)
    : net_(net),
      n_(n),
      train_(train),
      state_(state),
      arena_(arena),
      graph_(network_graph(net, state.affine_bn)) {
  attr_.set_scratchpad_mode(dnnl::scratchpad_mode::user);
}

// ---- shapes ------------------------------------------------------------------------------

memory::dims DnnlPlanBuilder::dims(int j) const {
  const OpShape s = op_shape(net_, j);
  if (flat(j)) return {n_, s.c};
  return {n_, s.c, s.h, s.w};
}

// The windows of pooling op i: the max-pool's own, or one over the whole image for
// global_avgpool.
DnnlPlanBuilder::PoolWindow DnnlPlanBuilder::pool_window(int i) const {
  const Op& op = net_.ops[i];
  if (op.kind == OpKind::maxpool)
    return {{op.kernel, op.kernel}, {op.stride, op.stride}, {op.pad, op.pad}};
  const OpShape in = op_shape(net_, op.inputs[0]);
  return {{in.h, in.w}, {in.h, in.w}, {0, 0}};
}

memory::desc DnnlPlanBuilder::any_desc(int j) const {
  return memory::desc(dims(j), state_.data_type, Tag::any);
}

memory::desc DnnlPlanBuilder::plain_desc(int j) const {
  return memory::desc(dims(j), f32, flat(j) ? Tag::nc : Tag::nchw);
}

// ---- steps and buffers -------------------------------------------------------------------

// The memory is bound to its arena slot when the plan is complete (build).
memory DnnlPlanBuilder::slot_memory(const memory::desc& md, size_t slot) {
  memory mem(md, state_.engine, DNNL_MEMORY_NONE);
  plan_.slot_memories.emplace_back(mem, slot);
  return mem;
}

DnnlStep DnnlPlanBuilder::step_make(const dnnl::primitive_desc_base& pd, Args args, int tensor) {
  const size_t scratchpad = pd.scratchpad_desc().get_size();
  if (scratchpad > 0) {
    scratchpad_bytes_ = std::max(scratchpad_bytes_, scratchpad);
    args.emplace_back(DNNL_ARG_SCRATCHPAD, memory());  // bound in scratchpad_attach
  }
  return dnnl_step_make(dnnl::primitive(pd.get()), std::move(args), tensor);
}

// A forward step that is the same in training and in inference.
void DnnlPlanBuilder::step_forward(const DnnlStep& step) {
  if (train_) plan_.forward_train.push_back(step);
  plan_.forward_infer.push_back(step);
}

DnnlStep DnnlPlanBuilder::reorder_step(const memory& from, const memory& to) {
  const dnnl::reorder::primitive_desc pd(state_.engine, from.get_desc(), state_.engine,
                                         to.get_desc(), attr_);
  return step_make(pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

// Host code between primitives; args name the memories it touches (for backward_slots_share).
DnnlStep DnnlPlanBuilder::host_step(std::function<void()> host, Args args) {
  DnnlStep step = dnnl_step_make(dnnl::primitive(), std::move(args));
  step.host = std::move(host);
  return step;
}

// Scratch memory of `floats` floats for a host step: the plan's one scratchpad, whose memory
// the returned pointer holds once the plan is complete (steps run one at a time).
std::shared_ptr<memory> DnnlPlanBuilder::host_scratch(size_t floats) {
  scratchpad_bytes_ = std::max(scratchpad_bytes_, floats * sizeof(float));
  return host_scratch_;
}

// Gives every step that needs scratch memory the one shared scratchpad.
void DnnlPlanBuilder::scratchpad_attach() {
  if (scratchpad_bytes_ == 0) return;
  const memory scratchpad = slot_memory(
      memory::desc({static_cast<int64_t>(scratchpad_bytes_)}, memory::data_type::u8, Tag::x),
      scratchpad_slot);
  *host_scratch_ = scratchpad;
  for (auto* list : {&plan_.forward_train, &plan_.forward_infer, &plan_.backward})
    for (DnnlStep& step : *list)
      for (size_t k = 0; k < step.args.size(); ++k)
        if (step.args[k].first == DNNL_ARG_SCRATCHPAD) {
          step.args[k].second = scratchpad;
          step.exec_args[k].memory = scratchpad.get();
        }
}

// Gradients and the copies backward steps read live only between the first and the last
// backward step that uses them. Slots that no forward step uses share buffers where those
// ranges do not overlap: the first use of each is a write, so nothing carries over. For conv4
// at batch 128 this takes the gradients from 87 MB to about half. Greedy by first use, into
// the free buffer nearest in size.
void DnnlPlanBuilder::backward_slots_share() {
  std::map<dnnl_memory_t, size_t> slot_of;
  std::map<size_t, size_t> bytes;
  for (const auto& [mem, slot] : plan_.slot_memories) {
    if (slot < first_free_slot) continue;
    slot_of[mem.get()] = slot;
    bytes[slot] = std::max(bytes[slot], mem.get_desc().get_size());
  }
  std::set<size_t> forward_slots;
  for (const auto* list : {&plan_.forward_train, &plan_.forward_infer})
    for (const DnnlStep& step : *list)
      for (const auto& arg : step.args)
        if (const auto it = slot_of.find(arg.second.get()); it != slot_of.end())
          forward_slots.insert(it->second);
  std::map<size_t, std::pair<size_t, size_t>> live;  // slot -> first and last step
  for (size_t k = 0; k < plan_.backward.size(); ++k)
    for (const auto& arg : plan_.backward[k].args) {
      const auto it = slot_of.find(arg.second.get());
      if (it == slot_of.end() || forward_slots.count(it->second)) continue;
      const auto [range, fresh] = live.try_emplace(it->second, k, k);
      if (!fresh) range->second.second = k;
    }
  std::vector<std::pair<size_t, size_t>> order;  // (first step, slot)
  for (const auto& [slot, range] : live) order.emplace_back(range.first, slot);
  std::sort(order.begin(), order.end());
  struct Buffer {
    size_t slot, bytes, busy_until;
  };
  std::vector<Buffer> buffers;
  std::map<size_t, size_t> shared;  // slot -> the slot whose buffer it takes
  for (const auto& [first, slot] : order) {
    const size_t need = bytes[slot];
    Buffer* best = nullptr;
    for (Buffer& b : buffers) {
      if (b.busy_until >= first) continue;
      const bool fits = b.bytes >= need, best_fits = best && best->bytes >= need;
      if (!best || (fits && (!best_fits || b.bytes < best->bytes)) ||
          (!fits && !best_fits && b.bytes > best->bytes))
        best = &b;
    }
    if (!best) {
      buffers.push_back({slot, need, 0});
      best = &buffers.back();
    }
    best->bytes = std::max(best->bytes, need);
    best->busy_until = live[slot].second;
    shared[slot] = best->slot;
  }
  for (auto& [mem, slot] : plan_.slot_memories)
    if (const auto it = shared.find(slot); it != shared.end()) slot = it->second;
}

// ---- weights ------------------------------------------------------------------------------

// Tensor t's row-major arrays over the caller's weights, gradient and mask (handles set per
// call), made by the first plan that meets the tensor.
void DnnlPlanBuilder::weights_plain(int t, const memory::dims& plain_dims) {
  DnnlTensor& tensor = state_.tensors[t];
  if (tensor.plain) return;
  const Tag tag = plain_dims.size() == 4 ? Tag::oihw : Tag::oi;
  tensor.plain = memory({plain_dims, f32, tag}, state_.engine, DNNL_MEMORY_NONE);
  tensor.grad = memory({plain_dims, f32, tag}, state_.engine, DNNL_MEMORY_NONE);
  tensor.mask = memory({plain_dims, memory::data_type::u8, tag}, state_.engine, DNNL_MEMORY_NONE);
}

// A step of tensor t's from_plain that writes `to` from the plain weights: popup's copy, which
// applies the mask, where it takes the layout; else oneDNN's reorder, and the tensor's mask
// goes (set_masked_weights then forms w * mask for all its steps).
void DnnlPlanBuilder::weights_reorder(int t, const memory& to) {
  DnnlTensor& tensor = state_.tensors[t];
  const memory plain = tensor.plain;
  if (MaskedReorder::takes(to.get_desc())) {
    const MaskedReorder copy(to.get_desc());
    const memory mask = tensor.mask;
    tensor.from_plain.push_back(host_step(
        [copy, plain, mask, to] {
          copy.run(static_cast<const float*>(plain.get_data_handle()), mask_data(mask),
                   static_cast<float*>(to.get_data_handle()));
        },
        {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, to}}));
    return;
  }
  tensor.mask = memory();
  const dnnl::reorder::primitive_desc pd(state_.engine, plain.get_desc(), state_.engine,
                                         to.get_desc());
  tensor.from_plain.push_back(
      dnnl_step_make(dnnl::primitive(pd.get()), {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, to}}));
}

// The first plan fixes each tensor's layouts and the steps set_weights runs (converting the
// caller's f32 to the primitives' data type).
void DnnlPlanBuilder::weights_forward(int t, const memory::dims& plain_dims,
                                      const memory::desc& md) {
  DnnlTensor& tensor = state_.tensors[t];
  if (tensor.forward) return;  // fixed by the first plan
  weights_plain(t, plain_dims);
  tensor.forward = memory(md, state_.engine);
  weights_reorder(t, tensor.forward);
}

void DnnlPlanBuilder::weights_backward(int t, const memory::desc& md) {
  DnnlTensor& tensor = state_.tensors[t];
  if (tensor.backward) return;  // fixed by the first plan
  if (md == tensor.forward.get_desc()) {
    tensor.backward = tensor.forward;
    return;
  }
  tensor.backward = memory(md, state_.engine);
  weights_reorder(t, tensor.backward);
}

// Tensor t's weights for popup's Winograd F(2x2, 3x3): the transform of the plain weights, for
// the forward or (`backward`) for the backward-data pass, made by a host step of from_plain
// that applies the mask when one is given.
void DnnlPlanBuilder::weights_f2x3(int t, const memory::dims& plain_dims, bool backward) {
  DnnlTensor& tensor = state_.tensors[t];
  memory& target = backward ? tensor.backward : tensor.forward;
  if (target) return;  // fixed by the first plan
  weights_plain(t, plain_dims);
  WinogradShape s;
  s.in = backward ? plain_dims[0] : plain_dims[1];
  s.out = backward ? plain_dims[1] : plain_dims[0];
  const auto floats = static_cast<int64_t>(winograd_f2x3_weights_size(s));
  target = memory(memory::desc({floats}, f32, Tag::x), state_.engine);
  const memory plain = tensor.plain, mask = tensor.mask, u = target;
  tensor.from_plain.push_back(host_step(
      [s, backward, plain, mask, u] {
        winograd_f2x3_weights(s, static_cast<const float*>(plain.get_data_handle()),
                              mask_data(mask), backward, static_cast<float*>(u.get_data_handle()));
      },
      {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, u}}));
}

// ---- the plan -----------------------------------------------------------------------------

DnnlPlan DnnlPlanBuilder::build(float* logits, float* diff_logits) {
  plan_.n = n_;
  forward();
  state_.conv_decided = true;
  // the edges: the caller's images in, plain logits out
  const int last = static_cast<int>(net_.ops.size()) - 1;
  plan_.images = memory(plain_desc(-1), state_.engine, DNNL_MEMORY_NONE);
  const DnnlStep images_in = reorder_step(plan_.images, input_);
  const DnnlStep logits_out =
      reorder_step(act(last), memory(plain_desc(last), state_.engine, logits));
  plan_.forward_infer.insert(plan_.forward_infer.begin(), images_in);
  plan_.forward_infer.push_back(logits_out);
  if (train_) {
    plan_.forward_train.insert(plan_.forward_train.begin(), images_in);
    plan_.forward_train.push_back(logits_out);
    backward(diff_logits);
  }
  scratchpad_attach();
  if (train_) backward_slots_share();
  for (const auto& [mem, slot] : plan_.slot_memories)
    arena_.reserve(slot, mem.get_desc().get_size());
  plan_slots_bind(plan_, arena_);
  return std::move(plan_);
}

void dnnl_plan_bind(DnnlPlan& plan, const DnnlArena& arena) {
  if (plan.generation != arena.generation()) plan_slots_bind(plan, arena);
}

DnnlPlan dnnl_plan_build(const Network& net, int64_t n, bool train, DnnlState& state,
                         DnnlArena& arena, float* logits, float* diff_logits) {
  return DnnlPlanBuilder(net, n, train, state, arena).build(logits, diff_logits);
}

}  // namespace popup

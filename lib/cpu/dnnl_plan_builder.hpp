// Internal to lib/cpu/dnnl_plan*.cpp: the builder of a DnnlPlan, whose forward and backward
// halves live in dnnl_plan_forward.cpp and dnnl_plan_backward.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

#include "cpu/dnnl_plan.hpp"
#include "backend/network_graph.hpp"

namespace popup {

// What the forward pass leaves for the backward pass of one op.
struct DnnlOpForward {
  dnnl::convolution_forward::primitive_desc conv;
  dnnl::algorithm conv_algo = dnnl::algorithm::convolution_direct;  // conv's, for its backward
  int64_t f2x3 = 0;       // conv under popup's Winograd F(2x2, 3x3): its channel block, 8 or 16
  int64_t f4x3_grad = 0;  // conv under oneDNN's Winograd with popup's weight gradient: its block
  dnnl::inner_product_forward::primitive_desc linear;
  dnnl::eltwise_forward::primitive_desc relu;
  dnnl::pooling_forward::primitive_desc pool;
  dnnl::batch_normalization_forward::primitive_desc bn;
  dnnl::memory src;        // conv, linear: the input in the primitive's layout
  dnnl::memory workspace;  // maxpool
  dnnl::memory relu_bits;  // relu under popup's kernel (relu_bits.hpp), training
  bool own_relu = false;   // relu under popup's kernel
  dnnl::memory mean, var;  // batchnorm batch statistics
};

// True when oneDNN fell back to its reference implementation (plain loops, very slow).
bool dnnl_is_reference(const dnnl::primitive_desc_base& pd);

// The same dimensions and data type, layout left to the primitive (format_tag::any).
dnnl::memory::desc dnnl_any_like(const dnnl::memory::desc& md);

// The channel block of md, an f32 activation layout popup's Winograd kernels take: 16 for
// nChw16c, 8 for nChw8c, where the convolution's channel counts `in` and `out` are multiples of
// it; else 0.
int64_t dnnl_winograd_block(const dnnl::memory::desc& md, int64_t in, int64_t out);

// The primitive descriptor make(a, b) for the activations' own layouts a and b, unless only
// the reference implementation takes those (e.g. a first layer's backward-weights on AVX2) or
// none does (oneDNN's AVX-512 Winograd backward over an nChw8c input that popup's F(2x2, 3x3)
// wrote): then the one for the layouts oneDNN prefers, the caller reordering to and from them.
template <typename Make>
auto dnnl_pd_preferring(const Make& make, const dnnl::memory::desc& a,
                        const dnnl::memory::desc& b) {
  decltype(make(a, b)) pd;
  try {
    pd = make(a, b);
  } catch (const dnnl::error&) {  // no implementation at all takes those (oneDNN's Winograd)
    return make(dnnl_any_like(a), dnnl_any_like(b));
  }
  if (!dnnl_is_reference(pd)) return pd;
  auto chosen = make(dnnl_any_like(a), dnnl_any_like(b));
  return dnnl_is_reference(chosen) ? pd : chosen;
}

// The weights layout a primitive must use: free (of data type dt) for the first plan, the
// first plan's after.
dnnl::memory::desc dnnl_weights_desc(const dnnl::memory& fixed,
                                     const dnnl::memory::dims& plain_dims,
                                     dnnl::memory::data_type dt);

// The weights of a linear op over an image input are [out, c, h, w]: the same row-major
// array as [out, c*h*w], which is PyTorch's flatten order.
dnnl::memory::dims dnnl_linear_weights_dims(const Op& op, const dnnl::memory::dims& src_dims);

class DnnlPlanBuilder {
 public:
  DnnlPlanBuilder(const Network& net, int64_t n, bool train, DnnlState& state, DnnlArena& arena);

  DnnlPlan build(float* logits, float* diff_logits);

 private:
  using memory = dnnl::memory;
  using Args = std::vector<std::pair<int, memory>>;
  static constexpr float bn_epsilon = 1e-5f;  // PyTorch's BatchNorm default
  // Arena slots with a fixed role; the activations and gradients take the slots after them.
  static constexpr size_t scratchpad_slot = 0;   // shared by all primitives (user scratchpad)
  static constexpr size_t temp_slot = 1;         // a gradient contribution waiting to be added
  static constexpr size_t weight_grad_slot = 2;  // a weight gradient before it goes to plain
  static constexpr size_t first_free_slot = 3;

  // shapes (dnnl_plan.cpp)
  bool flat(int j) const { return j >= 0 && graph_.flat[j]; }
  memory::dims dims(int j) const;
  // The windows of pooling op i: size, strides, padding on each side (oneDNN's max-pool
  // lets padding never win, as -inf).
  struct PoolWindow {
    memory::dims kernel, strides, pad;
  };
  PoolWindow pool_window(int i) const;
  memory::desc plain_desc(int j) const;
  memory::desc any_desc(int j) const;

  // steps, buffers and weights (dnnl_plan.cpp)
  memory slot_memory(const memory::desc& md, size_t slot);
  memory slot_memory(const memory::desc& md) { return slot_memory(md, next_slot_++); }
  DnnlStep step_make(const dnnl::primitive_desc_base& pd, Args args, int tensor = -1);
  void step_forward(const DnnlStep& step);
  DnnlStep reorder_step(const memory& from, const memory& to);
  static DnnlStep host_step(std::function<void()> host, Args args);
  std::shared_ptr<memory> host_scratch(size_t floats);
  void scratchpad_attach();
  void backward_slots_share();
  void weights_plain(int t, const memory::dims& plain_dims);
  void weights_reorder(int t, const memory& to);
  void weights_forward(int t, const memory::dims& plain_dims, const memory::desc& md);
  void weights_backward(int t, const memory::desc& md);
  void weights_f2x3(int t, const memory::dims& plain_dims, bool backward);

  // forward (dnnl_plan_forward.cpp)
  void forward();
  memory::desc src_desc(int j, bool flexible);
  void input_fix(int j, const memory::desc& md);
  const memory& act(int j) const { return j < 0 ? input_ : act_[j]; }
  const memory::desc& act_desc(int j) const { return j < 0 ? input_desc_ : act_desc_[j]; }
  void act_define(int i, const memory::desc& md);
  memory operand_forward(const memory& mem, const memory::desc& md);
  void forward_conv(int i);
  int64_t f2x3_block(int i) const;
  void forward_conv_f2x3(int i, int64_t block);
  ConvAlgo conv_algorithm(int i);
  void forward_linear(int i);
  void forward_relu(int i);
  bool own_relu(int i) const;
  void forward_pool(int i);
  void forward_bn(int i);
  memory bn_params_memory(int i, const memory::desc& md, std::vector<float>& values);
  void forward_add(int i);

  // backward (dnnl_plan_backward.cpp)
  void backward(float* diff_logits);
  const memory& diff(int j);
  memory operand_backward(const memory& mem, const memory::desc& md);
  memory contribution(int j, const memory::desc& md);
  void contribution_done(int j, const memory& target);
  void data_grad(int i, int j, int t, const dnnl::primitive_desc_base& dpd);
  void accumulate(int j, const memory& src);
  void diff_finish(int i);
  void weight_grad(int t, const dnnl::primitive_desc_base& pd, const memory::desc& diff_weights,
                   Args args);
  void backward_conv(int i);
  bool narrow_weight_grad_step(int i);
  void backward_conv_f2x3(int i);
  dnnl::memory f4x3_weight_grad_step(int i, int64_t block);
  void backward_linear(int i);
  memory::desc linear_grad_desc(int i) const;
  void backward_relu(int i);
  void backward_pool(int i);
  bool pool_relu_step(int i);
  void backward_bn(int i);
  void backward_bn_sync(int i);
  void backward_add(int i);

  const Network& net_;
  const int64_t n_;
  const bool train_;
  DnnlState& state_;
  DnnlArena& arena_;
  const NetworkGraph graph_;
  dnnl::primitive_attr attr_;
  DnnlPlan plan_;
  size_t next_slot_ = first_free_slot;
  size_t scratchpad_bytes_ = 0;
  // The scratchpad as host steps see it: set by scratchpad_attach.
  std::shared_ptr<memory> host_scratch_ = std::make_shared<memory>();

  memory input_;
  memory::desc input_desc_;
  std::vector<memory> act_;
  std::vector<memory::desc> act_desc_;
  std::vector<DnnlOpForward> fwd_;
  std::vector<std::shared_ptr<DnnlSyncBn>> sync_;  // sync_bn: per batchnorm op

  std::vector<memory> diff_;
  std::vector<bool> written_;                 // the gradient holds its first contribution
  std::vector<std::vector<memory>> pending_;  // gradients of adds still to be added
  std::vector<bool> done_;  // a ReLU whose backward the step of the op after it did (a max-pool's
                            // or a Winograd convolution's backward-data)
};

}  // namespace popup

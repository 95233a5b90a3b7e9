// An architecture as a graph of operations over its weight tensors (DESIGN.md §5): what a
// backend executes. Built by the architecture registry alongside the tensor list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/arch.hpp"

namespace popup {

enum class OpKind {
  conv,    // tensors[tensor] as [out, in, kh, kw], stride/pad from the TensorSpec, no bias
  linear,  // tensors[tensor] as [out, in]; a 3-d input is flattened in C, H, W order
  relu,
  maxpool,         // kernel x kernel windows, stride, pad (as -inf), floor; see Op
  batchnorm,       // non-affine, eps 1e-5, momentum 0.1; running stats "<name>.running_mean/var"
  add,             // inputs[0] + inputs[1] (residual)
  global_avgpool,  // mean over H and W: [c, h, w] -> [c, 1, 1]
};

struct Op {
  OpKind kind;
  std::vector<int> inputs;      // indices of earlier ops; -1 is the network input. add: two.
  int tensor = -1;              // conv, linear
  std::string name;             // batchnorm: e.g. "layer1.0.bn1"; others: ""
  int64_t c = 0, h = 1, w = 1;  // shape of this op's output, per example
  // maxpool: square windows of kernel x kernel, moved by stride, over the input padded by pad
  // on each side with values that never win (PyTorch's MaxPool2d(kernel, stride, pad)); the
  // gradient goes to the first maximum of each window in row-major order
  int64_t kernel = 0, stride = 1, pad = 0;
};

struct Network {
  InputShape input;
  int64_t classes = 0;
  std::vector<TensorSpec> tensors;  // network order, as arch_tensors gives them
  std::vector<Op> ops;              // topological order; the last op gives the logits [classes]
};

// The shape of op j's output per example, as the network records it; j = -1: the input.
// Backends and builders read shapes through it, the network input included.
struct OpShape {
  int64_t c = 0, h = 0, w = 0;
  int64_t numel() const { return c * h * w; }
};
inline OpShape op_shape(const Network& net, int j) {
  if (j < 0) return {net.input.c, net.input.h, net.input.w};
  const Op& op = net.ops[static_cast<size_t>(j)];
  return {op.c, op.h, op.w};
}

// Positions of a window of `kernel` moved by `stride` over `size` padded by `pad` on each side
// (a conv's or a max-pool's output size, floor): 0 when the window does not fit or stride < 1.
inline int64_t window_positions(int64_t size, int64_t kernel, int64_t stride, int64_t pad) {
  if (stride < 1 || size + 2 * pad < kernel) return 0;
  return (size + 2 * pad - kernel) / stride + 1;
}

// The graph of `spec` for this input shape and class count (throws as arch_tensors does).
Network arch_network(const std::string& spec, const InputShape& input, int64_t classes);

// The number of convolution ops.
inline size_t network_conv_count(const Network& net) {
  size_t count = 0;
  for (const Op& op : net.ops) count += op.kind == OpKind::conv;
  return count;
}

// Names of the BatchNorm ops, in order.
std::vector<std::string> network_batchnorms(const Network& net);

}  // namespace popup

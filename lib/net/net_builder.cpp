// The network builder (see net_builder.hpp): weight tensors, ops and their output shapes.
#include "net/net_builder.hpp"

#include <utility>

#include "error.hpp"

namespace popup {
namespace {

// a * b, refusing results that do not fit in int64 (huge inputs, widths or class counts).
int64_t checked_product(int64_t a, int64_t b, const std::string& what) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product))
    throw InvalidArgument("", what + " would have more than 2^63 elements");
  return product;
}

TensorSpec conv_tensor(const std::string& layer, int64_t out, int64_t in, int64_t kernel,
                       int64_t stride, int64_t pad) {
  const std::string name = layer + ".weight";
  checked_product(checked_product(out, in, name), kernel * kernel, name);
  TensorSpec t{name, LayerKind::conv, {out, in, kernel, kernel}};
  t.fan_in = in * kernel * kernel;
  t.fan_out = out * kernel * kernel;
  t.stride = stride;
  t.pad = pad;
  return t;
}

TensorSpec linear_tensor(const std::string& layer, int64_t out, int64_t in) {
  const std::string name = layer + ".weight";
  checked_product(out, in, name);
  TensorSpec t{name, LayerKind::linear, {out, in}};
  t.fan_in = in;
  t.fan_out = out;
  return t;
}

}  // namespace

NetBuilder::NetBuilder(const InputShape& input, int64_t classes) {
  net_.input = input;
  net_.classes = classes;
}

int NetBuilder::conv(const std::string& layer, int64_t out, int64_t kernel, int64_t stride,
                     int64_t pad, int from) {
  const OpShape in = op_shape(net_, resolve(from));
  net_.tensors.push_back(conv_tensor(layer, out, in.c, kernel, stride, pad));
  return add_op(OpKind::conv, {resolve(from)}, "",
                {out, window_positions(in.h, kernel, stride, pad),
                 window_positions(in.w, kernel, stride, pad)});
}

int NetBuilder::linear(const std::string& layer, int64_t out, int from) {
  const OpShape s = op_shape(net_, resolve(from));
  const int64_t in = checked_product(s.c, checked_product(s.h, s.w, layer), layer + ".weight");
  net_.tensors.push_back(linear_tensor(layer, out, in));
  return add_op(OpKind::linear, {resolve(from)}, "", {out, 1, 1});
}

int NetBuilder::relu(int from) {
  return add_op(OpKind::relu, {resolve(from)}, "", op_shape(net_, resolve(from)));
}

int NetBuilder::maxpool(int64_t kernel, int64_t stride, int64_t pad, int from) {
  const OpShape in = op_shape(net_, resolve(from));
  const int i = add_op(OpKind::maxpool, {resolve(from)}, "",
                       {in.c, window_positions(in.h, kernel, stride, pad),
                        window_positions(in.w, kernel, stride, pad)});
  net_.ops.back().kernel = kernel;
  net_.ops.back().stride = stride;
  net_.ops.back().pad = pad;
  return i;
}

int NetBuilder::batchnorm(const std::string& name, int from) {
  return add_op(OpKind::batchnorm, {resolve(from)}, name, op_shape(net_, resolve(from)));
}

int NetBuilder::add(int a, int b) { return add_op(OpKind::add, {a, b}, "", op_shape(net_, a)); }

int NetBuilder::global_avgpool(int from) {
  return add_op(OpKind::global_avgpool, {resolve(from)}, "",
                {op_shape(net_, resolve(from)).c, 1, 1});
}

// A conv or linear op reads the tensor just appended.
int NetBuilder::add_op(OpKind kind, std::vector<int> inputs, const std::string& name,
                       const OpShape& shape) {
  const bool weighted = kind == OpKind::conv || kind == OpKind::linear;
  const int tensor = weighted ? static_cast<int>(net_.tensors.size()) - 1 : -1;
  net_.ops.push_back({kind, std::move(inputs), tensor, name, shape.c, shape.h, shape.w});
  last_ = static_cast<int>(net_.ops.size()) - 1;
  return last_;
}

}  // namespace popup

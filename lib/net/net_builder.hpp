// Builds a Network op by op: appends each op with its weight tensor (named "<layer>.weight",
// fans and stride/pad as the architecture registry records them) and its output shape,
// computed from its input's. Used by the architecture registry (arch.cpp) and by the tests'
// hand-built networks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/network.hpp"

namespace popup {

class NetBuilder {
 public:
  // `from` below: the op whose output is read, -1 for the network input, kLast (the default)
  // for the last op appended (the input while there is none). Each returns the new op's index.
  static constexpr int kLast = -2;

  NetBuilder(const InputShape& input, int64_t classes);

  int conv(const std::string& layer, int64_t out, int64_t kernel, int64_t stride, int64_t pad,
           int from = kLast);
  int linear(const std::string& layer, int64_t out, int from = kLast);  // flattens C, H, W
  int relu(int from = kLast);
  int maxpool(int64_t kernel, int64_t stride, int64_t pad, int from = kLast);
  int maxpool2(int from = kLast) { return maxpool(2, 2, 0, from); }  // 2x2, stride 2
  int batchnorm(const std::string& name, int from = kLast);
  int add(int a, int b);  // the shape of a
  int global_avgpool(int from = kLast);

  int last() const { return last_; }
  int64_t channels() const { return op_shape(net_, last_).c; }  // of the last op's output
  int64_t height() const { return op_shape(net_, last_).h; }
  int64_t width() const { return op_shape(net_, last_).w; }
  const Network& network() const { return net_; }

 private:
  int resolve(int from) const { return from == kLast ? last_ : from; }
  int add_op(OpKind kind, std::vector<int> inputs, const std::string& name, const OpShape& shape);

  Network net_;
  int last_ = -1;
};

}  // namespace popup

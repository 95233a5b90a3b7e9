// Shared by the executor tests: seeded random data, hand-built networks that cover every
// operation, and a Problem (weights, images, labels) to run them on.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "net/network.hpp"

namespace test_networks {

using popup::Network;
using popup::Op;
using popup::OpKind;

// ---- data -------------------------------------------------------------------------------

inline std::vector<double> normal_values(size_t count, double stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, stddev);
  std::vector<double> v(count);
  for (double& e : v) e = normal(rng);
  return v;
}

inline std::vector<double> doubles(const std::vector<float>& v) { return {v.begin(), v.end()}; }

inline std::vector<float> floats(const std::vector<double>& v) {
  std::vector<float> f(v.size());
  for (size_t k = 0; k < v.size(); ++k) f[k] = static_cast<float>(v[k]);
  return f;
}

// ---- hand-built networks -------------------------------------------------------------------

class NetworkBuilder {
 public:
  NetworkBuilder(popup::InputShape input, int64_t classes) {
    net_.input = input;
    net_.classes = classes;
  }
  int conv(int in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
    popup::TensorSpec t;
    t.name = "conv" + std::to_string(net_.tensors.size() + 1) + ".weight";
    t.kind = popup::LayerKind::conv;
    t.shape = {out, c(in), k, k};
    t.fan_in = c(in) * k * k;
    t.fan_out = out * k * k;
    t.stride = stride;
    t.pad = pad;
    net_.tensors.push_back(t);
    return op(OpKind::conv, {in}, out, (h(in) + 2 * pad - k) / stride + 1,
              (w(in) + 2 * pad - k) / stride + 1);
  }
  int linear(int in, int64_t out) {
    popup::TensorSpec t;
    t.name = "fc" + std::to_string(net_.tensors.size() + 1) + ".weight";
    t.kind = popup::LayerKind::linear;
    t.shape = {out, c(in) * h(in) * w(in)};
    t.fan_in = t.shape[1];
    t.fan_out = out;
    net_.tensors.push_back(t);
    return op(OpKind::linear, {in}, out, 1, 1);
  }
  int relu(int in) { return op(OpKind::relu, {in}, c(in), h(in), w(in)); }
  int maxpool2(int in) { return op(OpKind::maxpool2, {in}, c(in), h(in) / 2, w(in) / 2); }
  int avgpool(int in) { return op(OpKind::global_avgpool, {in}, c(in), 1, 1); }
  int add(int a, int b) { return op(OpKind::add, {a, b}, c(a), h(a), w(a)); }
  int batchnorm(int in) {
    const int i = op(OpKind::batchnorm, {in}, c(in), h(in), w(in));
    net_.ops.back().name = "bn" + std::to_string(i);
    return i;
  }
  const Network& network() const { return net_; }

 private:
  int op(OpKind kind, std::vector<int> inputs, int64_t c, int64_t h, int64_t w) {
    Op o;
    o.kind = kind;
    o.inputs = std::move(inputs);
    o.tensor = kind == OpKind::conv || kind == OpKind::linear
                   ? static_cast<int>(net_.tensors.size()) - 1
                   : -1;
    o.c = c;
    o.h = h;
    o.w = w;
    net_.ops.push_back(o);
    return static_cast<int>(net_.ops.size()) - 1;
  }
  int64_t c(int j) const { return j < 0 ? net_.input.c : net_.ops[j].c; }
  int64_t h(int j) const { return j < 0 ? net_.input.h : net_.ops[j].h; }
  int64_t w(int j) const { return j < 0 ? net_.input.w : net_.ops[j].w; }
  Network net_;
};

// conv -> relu -> maxpool2 (odd size: floor) -> conv (stride 2, pad 1) -> relu -> linear.
inline Network plain_network() {
  NetworkBuilder b({3, 9, 9}, 5);
  int x = b.relu(b.conv(-1, 8, 3, 1, 1));
  x = b.relu(b.conv(b.maxpool2(x), 16, 3, 2, 1));
  b.linear(x, 5);
  return b.network();
}

// A CIFAR-style ResNet in miniature: stem conv-bn-relu, a block with a strided downsample
// shortcut (conv 1x1 + bn), a block with an identity shortcut, global average pool, linear.
inline Network residual_network() {
  NetworkBuilder b({3, 8, 8}, 10);
  const int x0 = b.relu(b.batchnorm(b.conv(-1, 16, 3, 1, 1)));
  int main = b.relu(b.batchnorm(b.conv(x0, 32, 3, 2, 1)));
  main = b.batchnorm(b.conv(main, 32, 3, 1, 1));
  const int shortcut = b.batchnorm(b.conv(x0, 32, 1, 2, 0));
  const int x1 = b.relu(b.add(main, shortcut));
  int main2 = b.relu(b.batchnorm(b.conv(x1, 32, 3, 1, 1)));
  main2 = b.batchnorm(b.conv(main2, 32, 3, 1, 1));
  const int x2 = b.relu(b.add(main2, x1));
  b.linear(b.avgpool(x2), 10);
  return b.network();
}

// Flat activations: linear -> BatchNorm1d -> relu -> linear on a 1x4x4 input.
inline Network flat_network() {
  NetworkBuilder b({1, 4, 4}, 3);
  b.linear(b.relu(b.batchnorm(b.linear(-1, 12))), 3);
  return b.network();
}

// Weights N(0, 2/fan_in), images N(0, 1), labels uniform: fp32 values shared by the executor
// and (converted exactly to double) the reference.
struct Problem {
  Network net;
  std::vector<std::vector<float>> weights;
  std::vector<float> images;
  std::vector<int32_t> labels;
  int64_t n = 0;

  Problem(const Network& network, int64_t batch, uint64_t seed) : net(network), n(batch) {
    for (size_t t = 0; t < net.tensors.size(); ++t)
      weights.push_back(floats(normal_values(
          static_cast<size_t>(net.tensors[t].numel()),
          std::sqrt(2.0 / static_cast<double>(net.tensors[t].fan_in)), seed + 1 + t)));
    images = floats(
        normal_values(static_cast<size_t>(n * net.input.c * net.input.h * net.input.w), 1.0, seed));
    std::mt19937_64 rng(seed + 1000);
    for (int64_t k = 0; k < n; ++k)
      labels.push_back(static_cast<int32_t>(rng() % static_cast<uint64_t>(net.classes)));
  }
  std::vector<std::vector<double>> weights_double() const {
    std::vector<std::vector<double>> w;
    for (const auto& v : weights) w.push_back(doubles(v));
    return w;
  }
  // The first k examples' images and labels.
  std::vector<float> images_first(int64_t k) const {
    return {images.begin(), images.begin() + k * net.input.c * net.input.h * net.input.w};
  }
};

}  // namespace test_networks

// Shared by the executor tests: seeded random data, hand-built networks that cover every
// operation, and a Problem (weights, images, labels) to run them on.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "net/net_builder.hpp"
#include "net/network.hpp"

namespace test_networks {

using popup::NetBuilder;
using popup::Network;

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

// Built with the library's NetBuilder; tensors are named by their position (conv1, conv2,
// fc3, ...) and BatchNorms by their op index (bn1 is op 1).

// conv -> relu -> 2x2 max-pool (odd size: floor) -> conv (stride 2, pad 1) -> relu -> linear.
inline Network plain_network() {
  NetBuilder b({3, 9, 9}, 5);
  b.conv("conv1", 8, 3, 1, 1);
  b.relu();
  b.maxpool2();
  b.conv("conv2", 16, 3, 2, 1);
  b.relu();
  b.linear("fc3", 5);
  return b.network();
}

// A CIFAR-style ResNet in miniature: stem conv-bn-relu, a block with a strided downsample
// shortcut (conv 1x1 + bn), a block with an identity shortcut, global average pool, linear.
inline Network residual_network() {
  NetBuilder b({3, 8, 8}, 10);
  b.conv("conv1", 16, 3, 1, 1);
  b.batchnorm("bn1");
  const int x0 = b.relu();
  b.conv("conv2", 32, 3, 2, 1);
  b.batchnorm("bn4");
  b.relu();
  b.conv("conv3", 32, 3, 1, 1);
  const int main = b.batchnorm("bn7");
  b.conv("conv4", 32, 1, 2, 0, x0);
  b.add(main, b.batchnorm("bn9"));
  const int x1 = b.relu();
  b.conv("conv5", 32, 3, 1, 1);
  b.batchnorm("bn13");
  b.relu();
  b.conv("conv6", 32, 3, 1, 1);
  b.add(b.batchnorm("bn16"), x1);
  b.relu();
  b.global_avgpool();
  b.linear("fc7", 10);
  return b.network();
}

// The ImageNet stem and one bottleneck block in miniature: conv 7x7/2 pad 3 -> bn -> relu ->
// max-pool 3x3/2 pad 1 (15 -> 8 -> 4), then 1x1 -> 3x3 -> 1x1 convs with BatchNorms and a
// downsample shortcut, global average pool, linear.
inline Network imagenet_stem_network() {
  NetBuilder b({3, 15, 15}, 6);
  b.conv("conv1", 8, 7, 2, 3);
  b.batchnorm("bn1");
  b.relu();
  const int x0 = b.maxpool(3, 2, 1);
  b.conv("conv2", 4, 1, 1, 0);
  b.batchnorm("bn5");
  b.relu();
  b.conv("conv3", 4, 3, 1, 1);
  b.batchnorm("bn8");
  b.relu();
  b.conv("conv4", 16, 1, 1, 0);
  const int main = b.batchnorm("bn11");
  b.conv("conv5", 16, 1, 1, 0, x0);
  b.add(main, b.batchnorm("bn13"));
  b.relu();
  b.global_avgpool();
  b.linear("fc6", 6);
  return b.network();
}

// conv 3x3 pad 1 (-> relu) -> max-pool 3x3/2 pad 1 -> linear on a c x size x size input: the
// conv's weight gradient shows which input of each window the pool's backward picked.
inline Network pool_network(int64_t size, bool relu) {
  NetBuilder b({2, size, size}, 3);
  b.conv("conv1", 3, 3, 1, 1);
  if (relu) b.relu();
  b.maxpool(3, 2, 1);
  b.linear("fc2", 3);
  return b.network();
}

// Flat activations: linear -> BatchNorm1d -> relu -> linear on a 1x4x4 input.
inline Network flat_network() {
  NetBuilder b({1, 4, 4}, 3);
  b.linear("fc1", 12);
  b.batchnorm("bn1");
  b.relu();
  b.linear("fc2", 3);
  return b.network();
}

// A BatchNorm straight on the images, whose input gets no gradient: bn -> conv -> relu ->
// global average pool -> linear on a 3x6x6 input, 4 classes.
inline Network input_batchnorm_network() {
  NetBuilder b({3, 6, 6}, 4);
  b.batchnorm("bn0");
  b.conv("conv1", 8, 3, 1, 1);
  b.relu();
  b.global_avgpool();
  b.linear("fc2", 4);
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

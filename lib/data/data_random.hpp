// The uses of the data stream (RandomStream::data of the training seed), each a fixed tensor
// field of the Philox counter, so that they never overlap:
//   0x20000000            which training examples are held out for validation
//   0x40000000 + epoch    the order of the examples in an epoch
//   0x60000000 + epoch    the augmentation of the example at each position of an epoch
// Each is a pure function of (seed, epoch, index): the same on any thread count or machine.
#pragma once

#include <cstdint>
#include <vector>

namespace popup {

constexpr uint32_t kHoldOutTensor = 0x20000000;
constexpr uint32_t kOrderTensor = 0x40000000;
constexpr uint32_t kAugmentTensor = 0x60000000;
constexpr int64_t kMaxEpoch = 0x20000000;  // epochs 0 .. kMaxEpoch - 1

// A permutation of 0 .. n-1 by Fisher-Yates: start from the identity; for i = n-1 down to 1,
// swap positions i and j, where j = floor(u * (i + 1)) computed exactly in integers and u is
// random_uniform53 of philox_element(seed, RandomStream::data, tensor, i), i.e. the 53 bits
// (x1 << 32 | x0) >> 11 of that block: j = (bits * (i + 1)) >> 53.
std::vector<int64_t> data_permutation(int64_t n, uint64_t seed, uint32_t tensor);

// The augmentation of one example: crop offset (dy, dx) in 0 .. 2 * pad within the padded image
// and a horizontal flip. From block philox_element(seed, RandomStream::data, kAugmentTensor +
// epoch, position): dy = (x0 * (2 * pad + 1)) >> 32, dx = (x1 * (2 * pad + 1)) >> 32 (64-bit
// products), flip = top bit of x2.
struct AugmentDraw {
  int64_t dy = 0, dx = 0;
  bool flip = false;
};
AugmentDraw augment_draw(uint64_t seed, int64_t epoch, int64_t position, int64_t pad);

}  // namespace popup

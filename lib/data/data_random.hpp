// The uses of the data stream (RandomStream::data of the training seed), each a fixed tensor
// field of the Philox counter, so that they never overlap:
//   0x20000000            which training examples are held out for validation
//   0x40000000 + epoch    the order of the examples in an epoch
//   0x60000000 + epoch    the augmentation of the example at each position of an epoch
//   0x80000000 + epoch    the random resized crop and flip of each example of an image folder
// Each is a pure function of (seed, epoch, index): the same on any thread count or machine.
#pragma once

#include <cstdint>
#include <vector>

namespace popup {

constexpr uint32_t kHoldOutTensor = 0x20000000;
constexpr uint32_t kOrderTensor = 0x40000000;
constexpr uint32_t kAugmentTensor = 0x60000000;
constexpr uint32_t kImageCropTensor = 0x80000000;
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

// torchvision's RandomResizedCrop.get_params (scale 0.08 .. 1, ratio 3/4 .. 4/3) and a
// horizontal flip for the image of `height` x `width` that is example `example` (its index in
// the split, 0 .. 2^59 - 1) in epoch `epoch`. Block k = philox_element(seed, RandomStream::data,
// kImageCropTensor + epoch, example * 16 + k). Attempts a = 0 .. 9 use block a:
// u = random_uniform53 of (x0, x1), v = the same of (x2, x3); area = height * width *
// (0.08 + 0.92 * u); ratio = exp(log(3/4) + (log(4/3) - log(3/4)) * v) (doubles);
// w = round(sqrt(area * ratio)), h = round(sqrt(area / ratio)) (round half to even, as Python);
// the first attempt with 0 < w <= width and 0 < h <= height is taken. Otherwise torchvision's
// fallback: the whole image cut to the nearest ratio limit (h = round(width / (3/4)) or
// w = round(height * 4/3)), centred (top = (height - h) / 2, left = (width - w) / 2, floored).
// Then block 10: top = (x0 * (height - h + 1)) >> 32, left = (x1 * (width - w + 1)) >> 32 (64-bit
// products; for an accepted attempt only), flip = top bit of x2.
struct ImageCropDraw {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool flip = false;
};
ImageCropDraw image_crop_draw(uint64_t seed, int64_t epoch, int64_t example, int64_t height,
                              int64_t width);

}  // namespace popup

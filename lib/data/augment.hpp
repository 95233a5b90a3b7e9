// CIFAR training augmentation of one image: a crop of the original size from the image padded
// by 4 pixels on every side, then a horizontal flip (torchvision's RandomCrop(size, padding=4)
// followed by RandomHorizontalFlip, both before Normalize).
#pragma once

#include <cstdint>

#include "net/arch.hpp"
#include "data/data_random.hpp"

namespace popup {

constexpr int64_t kAugmentPad = 4;

// out(c, y, x) = padded(c, y + dy, x' + dx) with x' = W-1-x when flipping, else x, where
// padded(c, py, px) = in(c, py - 4, px - 4) inside the image and padding[c] (the normalised
// value of a 0 pixel) outside. `in` and `out` are [C, H, W] and must not overlap.
void augment_image(const float* in, float* out, const InputShape& shape, const float* padding,
                   const AugmentDraw& draw);

}  // namespace popup

// The weight gradient of a 3x3 convolution of stride 1 and padding 1 over an input of few
// channels, such as a network's first layer over grey or RGB images, written for AVX2: oneDNN
// 2.6 runs this case at a fraction of its forward speed (conv4's first layer: 5.6 ms against a
// forward of 1.2 ms) after reordering the gradient into another layout.
#pragma once

#include <cstddef>
#include <cstdint>

namespace popup {

struct NarrowShape {
  int64_t n = 0, in = 0, out = 0, h = 0, w = 0;  // out: a multiple of block
  int64_t block = 8;                             // dy's layout: nChw8c or nChw16c
};

// True when the kernel takes the shape on this CPU (AVX2 and FMA, in <= 4).
bool narrow_weight_grad_fits(const NarrowShape& s);

// Floats of scratch memory narrow_weight_grad uses (the input, zero-padded).
size_t narrow_weight_grad_scratch(const NarrowShape& s);

// dw [out, in, 3, 3] plain = the gradient of the weights given x [n, in, h, w] plain and dy,
// the gradient of the output, [n, out/block, h, w, block]. Each value is summed per image in
// pixel order, then over the images in order: the bits depend neither on timing nor on the
// number of threads.
void narrow_weight_grad(const NarrowShape& s, const float* x, const float* dy, float* dw,
                        float* scratch);

}  // namespace popup

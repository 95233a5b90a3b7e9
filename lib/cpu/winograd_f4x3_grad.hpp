// The weight gradient of a 3x3 convolution of stride 1 and padding 1 by Winograd F(4x4, 3x3),
// written for AVX2 (the tile transforms also for AVX-512, winograd_f4x3_transforms.hpp): 36
// products per 4x4 tile where F(2x2, 3x3) (winograd_f2x3.hpp) does 16 per 2x2 tile, 1.78x fewer
// multiplications. With the shapes and layouts of winograd_f2x3.hpp.
#pragma once

#include <cstddef>

#include "cpu/winograd_f2x3.hpp"

namespace popup {

// Floats of scratch memory winograd_f4x3_weight_grad uses (a plan keeps it).
size_t winograd_f4x3_weight_grad_scratch(const WinogradShape& s);

// dw, [out, in, 3, 3] plain, = the gradient of the weights of the convolution from x to y, given
// dy, y's gradient: dU[k] = Σ over 4x4 tiles of V[k]ᵀ (A dY Aᵀ)[k], V = Bᵀ d B over the tiles'
// 6x6 inputs, then dW = Gᵀ dU G. A chunk of tiles at a time, the threads (at most 36) sharing
// out the 36 values of k, each transforming the chunk for its own k and adding into its own
// rows of dU: no thread waits for another before the end, each dU value is summed in tile
// order, and the bits do not depend on the number of threads. In `scratch`
// (winograd_f4x3_weight_grad_scratch floats) or in memory of its own. Runs where
// winograd_f2x3_supported().
void winograd_f4x3_weight_grad(const WinogradShape& s, const float* x, const float* dy, float* dw,
                               float* scratch = nullptr);

}  // namespace popup

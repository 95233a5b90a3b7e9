// Winograd F(2x2, 3x3) convolution for 3x3 layers of stride 1 and padding 1, written for AVX2
// (oneDNN 2.x has Winograd only for AVX-512): forward and backward-data (the weight gradient of
// these layers is winograd_f4x3_grad.hpp's).
// Activations are in oneDNN's nChw8c or nChw16c layout (8 or 16 channels innermost: AVX2's
// block, AVX-512's); weights in PyTorch's plain [out, in, 3, 3]. Each 2x2 output tile is
// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A (Lavin and Gray, 2016): 16 products per tile and channel pair
// instead of 36, as 16 matrix products over tiles, done a block of tiles at a time so that the
// transformed tiles stay in cache.
#pragma once

#include <cstddef>
#include <cstdint>

namespace popup {

struct WinogradShape {
  int64_t n = 0, in = 0, out = 0, h = 0, w = 0;  // in and out: multiples of block
  int64_t block = 8;                             // 8 (nChw8c) or 16 (nChw16c)
};

// True when this CPU runs the kernels (AVX2 and FMA).
bool winograd_f2x3_supported();

// Floats of the transformed weights of `s`.
size_t winograd_f2x3_weights_size(const WinogradShape& s);

// The transformed weights u of plain weights g, [s.out, s.in, 3, 3]. With `transposed`, g is
// [s.in, s.out, 3, 3] and is rotated by 180 degrees: the weights of the backward-data pass of
// the forward convolution g, which is itself such a convolution from s.in = the forward's out
// channels to s.out = its in channels. With a mask (one byte per weight of g, 0 or 1), each
// weight is taken where it holds 1 and +0 where it holds 0: edge-popup's w * mask, applied in
// the same pass.
void winograd_f2x3_weights(const WinogradShape& s, const float* g, const uint8_t* mask,
                           bool transposed, float* u);

// Floats of scratch memory that winograd_f2x3_run by `threads` threads uses (a plan keeps it,
// so that no step allocates).
size_t winograd_f2x3_run_scratch(const WinogradShape& s, int threads);

// y = the convolution of x with the weights u was made from: x [n, in/block, h, w, block], y
// [n, out/block, h, w, block]; y is overwritten, or added to with `accumulate`. Runs on
// `threads` threads in `scratch` (winograd_f2x3_run_scratch floats), or, without scratch, on
// all threads in memory of its own. With a gate (a ReLU's bits, relu_bits.hpp, over y's
// layout), each value is passed through relu_bits_backward before it is stored: the
// backward-data of a convolution and the backward of the ReLU before it in one pass.
void winograd_f2x3_run(const WinogradShape& s, const float* x, const float* u, float* y,
                       bool accumulate = false, float* scratch = nullptr, int threads = 0,
                       const uint8_t* gate = nullptr);

}  // namespace popup

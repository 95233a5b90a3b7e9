// The backward of a 2x2 max-pool of stride 2 and the ReLU before it, in one pass, written for
// AVX2: oneDNN 2.6 zeroes the pool's input gradient and scatters into it (conv6's first pool:
// 5.3 ms against a forward of 1.3), then the ReLU backward reads that gradient and the ReLU's
// output and writes it again (1.2 ms). Here each input gradient value is written once: the
// output gradient where the window's maximum was and the pooled value is positive, else zero.
#pragma once

#include <cstdint>

namespace popup {

struct PoolReluShape {
  int64_t n = 0, c = 0, h = 0, w = 0;  // the pool's input; c a multiple of block
  int64_t block = 8;                   // the layout: nChw8c or nChw16c
};

// True when this CPU runs the kernel (AVX2) and the shape fits it.
bool pool_relu_backward_fits(const PoolReluShape& s);

// dx [n, c/block, h, w, block] = the gradient of the ReLU's input given y, the pool's output
// [n, c/block, h/2, w/2, block] (rounded down: a last odd row or column is in no window), its
// gradient dy in the same layout, and oneDNN's workspace ws (one byte per output value, in the
// same layout: the maximum's place in its window, 2 * row + column). Where y > 0 the ReLU's
// output at the maximum was y, positive, so the gradient passes; elsewhere it is +0, as the
// two oneDNN primitives give.
void pool_relu_backward(const PoolReluShape& s, const float* y, const float* dy, const uint8_t* ws,
                        float* dx);

}  // namespace popup

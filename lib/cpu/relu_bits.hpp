// ReLU forward and backward that keep one bit per value between them, written for AVX2: the
// backward reads the gradient and 1/32 of its size in bits, where oneDNN's ReLU backward reads
// the forward's whole output again, from memory by then (conv6's first ReLU: 1.3 ms backward
// against 0.3 forward).
#pragma once

#include <cstdint>

namespace popup {

// True when this CPU runs the kernels (AVX2).
bool relu_bits_supported();

// Bytes of the bits of n values (n a multiple of 8).
inline int64_t relu_bits_bytes(int64_t n) { return n / 8; }

// y = x > 0 ? x : +0 (as oneDNN's ReLU: +0 also for -0 and NaN), y may be x; with bits, bit
// k % 8 of bits[k / 8] = (x[k] > 0). n a multiple of 8.
void relu_bits_forward(const float* x, float* y, uint8_t* bits, int64_t n);

// dx = bit k set ? dy : dy * 0 (oneDNN's ReLU backward over its output), dx may be dy.
void relu_bits_backward(const float* dy, const uint8_t* bits, float* dx, int64_t n);

}  // namespace popup

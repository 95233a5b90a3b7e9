// ReLU forward and backward that keep one bit per value between them, written for AVX2: the
// backward reads the gradient and 1/32 of its size in bits, where oneDNN's ReLU backward reads
// the forward's whole output again, from memory by then (conv6's first ReLU: 1.3 ms backward
// against 0.3 forward).
#pragma once

#include <immintrin.h>

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

// The gate of eight values: lane l of g where bit l of `bits` is set, else g * 0. Shared by
// relu_bits_backward and the Winograd backward-data that takes a ReLU's backward with it.
__attribute__((target("avx2"))) inline __m256 relu_bits_gate(__m256 g, uint8_t bits) {
  const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i set = _mm256_and_si256(_mm256_set1_epi32(bits), lane);
  return _mm256_blendv_ps(_mm256_mul_ps(g, _mm256_setzero_ps()), g,
                          _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane)));
}

}  // namespace popup

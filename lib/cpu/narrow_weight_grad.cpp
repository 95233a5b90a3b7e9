// The weight gradient of a 3x3 convolution over few input channels (narrow_weight_grad.hpp):
// the input zero-padded once, then per block of eight output channels and input channel nine
// vector accumulators, one per kernel position, each pixel of dy multiplied by the nine input
// values around it.
#include "cpu/narrow_weight_grad.hpp"

#include <immintrin.h>

#include <algorithm>

namespace popup {
namespace {

constexpr int64_t kMaxIn = 4;

// dw of output channels [8 ob, 8 ob + 8) from input channel c: per image, the sums over its
// pixels, then added to the total.
__attribute__((target("avx2,fma"))) void block_grad(const NarrowShape& s, const float* padded,
                                                    const float* dy, int64_t ob, int64_t c,
                                                    float* dw) {
  const int64_t pw = s.w + 2, plane = (s.h + 2) * pw, B = s.block;
  __m256 total[9];
  for (__m256& t : total) t = _mm256_setzero_ps();
  for (int64_t b = 0; b < s.n; ++b) {
    const float* xp = padded + (b * s.in + c) * plane;
    const float* d = dy + (b * (s.out / B) + ob * 8 / B) * s.h * s.w * B + ob * 8 % B;
    __m256 acc[9];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    for (int64_t y = 0; y < s.h; ++y)
      for (int64_t x = 0; x < s.w; ++x) {
        const __m256 g = _mm256_loadu_ps(d + (y * s.w + x) * B);
        const float* at = xp + y * pw + x;  // the padded input's (y - 1, x - 1) is at (y, x)
#pragma GCC unroll 9
        for (int q = 0; q < 9; ++q)
          acc[q] = _mm256_fmadd_ps(_mm256_broadcast_ss(at + q / 3 * pw + q % 3), g, acc[q]);
      }
    for (int q = 0; q < 9; ++q) total[q] = _mm256_add_ps(total[q], acc[q]);
  }
  alignas(32) float out[9][8];
  for (int q = 0; q < 9; ++q) _mm256_store_ps(out[q], total[q]);
  for (int64_t o = 0; o < 8; ++o)
    for (int q = 0; q < 9; ++q) dw[((ob * 8 + o) * s.in + c) * 9 + q] = out[q][o];
}

}  // namespace

bool narrow_weight_grad_fits(const NarrowShape& s) {
  return s.in >= 1 && s.in <= kMaxIn && s.out % s.block == 0 && (s.block == 8 || s.block == 16) &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

size_t narrow_weight_grad_scratch(const NarrowShape& s) {
  return static_cast<size_t>(s.n * s.in * (s.h + 2) * (s.w + 2));
}

void narrow_weight_grad(const NarrowShape& s, const float* x, const float* dy, float* dw,
                        float* scratch) {
  const int64_t pw = s.w + 2, plane = (s.h + 2) * pw;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.n * s.in; ++p) {
    float* dst = scratch + p * plane;
    std::fill(dst, dst + plane, 0.0f);
    for (int64_t y = 0; y < s.h; ++y)
      std::copy(x + (p * s.h + y) * s.w, x + (p * s.h + y + 1) * s.w, dst + (y + 1) * pw + 1);
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.out / 8 * s.in; ++i) block_grad(s, scratch, dy, i / s.in, i % s.in, dw);
}

}  // namespace popup

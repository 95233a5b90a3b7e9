// The AVX2 register kernel of popup's Winograd products (winograd_f2x3.cpp,
// winograd_f4x3_grad.cpp): up to kPanelRows rows of a 16-column panel of c, summed over a depth in
// registers.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace popup {

constexpr int kPanelRows = 6;   // rows of c per kernel (tiles, or input channels)
constexpr int kPanelCols = 16;  // columns of c per kernel: output channels, two vectors

// c[r][0..15] (=, or += with `add`) the sum over k < depth of a[r * ar + k * ak] *
// b[k * bk + 0..15], for R rows of c of stride ldc: the forward's products v[k] u[k] (rows:
// tiles) and the weight gradient's vᵀ m (rows: input channels, summed over tiles).
template <int R>
__attribute__((target("avx2,fma"))) inline void panel_kernel(const float* a, int64_t ar, int64_t ak,
                                                             const float* b, int64_t bk,
                                                             int64_t depth, float* c, int64_t ldc,
                                                             bool add) {
  // The loops over r are unrolled so that acc stays in registers (-O2 would not unroll them).
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < depth; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b + k * bk), b1 = _mm256_loadu_ps(b + k * bk + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * ar + k * ak);
      acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
    for (int half = 0; half < 2; ++half) {
      float* p = c + r * ldc + 8 * half;
      _mm256_storeu_ps(p, add ? _mm256_add_ps(_mm256_loadu_ps(p), acc[r][half]) : acc[r][half]);
    }
}

// panel_kernel for `rows` (1 to kPanelRows) rows.
__attribute__((target("avx2,fma"))) inline void panel_kernel_rows(int rows, const float* a,
                                                                  int64_t ar, int64_t ak,
                                                                  const float* b, int64_t bk,
                                                                  int64_t depth, float* c,
                                                                  int64_t ldc, bool add) {
  switch (rows) {
    case 6: panel_kernel<6>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 5: panel_kernel<5>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 4: panel_kernel<4>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 3: panel_kernel<3>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 2: panel_kernel<2>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    default: panel_kernel<1>(a, ar, ak, b, bk, depth, c, ldc, add); break;
  }
}

// f(xc, ty, tx, at) for each tile of [first, first + count) of the batch (tiles_h x tiles_w
// per image) and each group of L (eight, or sixteen) of x's s.in channels, x in
// nChw{s.block}c: xc is the group's first channel in x, (ty, tx) the tile in its image, at =
// t * s.in + the group's first channel, t the tile's place in the range.
template <int64_t L = 8, typename F>
void for_tile_blocks(const WinogradShape& s, int64_t tiles_h, int64_t tiles_w, const float* x,
                     int64_t first, int64_t count, F&& f) {
  const int64_t in = s.in, plane = s.h * s.w, B = s.block;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, b = tile / (tiles_h * tiles_w);
    const int64_t ty = tile / tiles_w % tiles_h, tx = tile % tiles_w;
    for (int64_t cb = 0; cb < in / L; ++cb)
      f(x + (b * (in / B) + cb * L / B) * plane * B + cb * L % B, ty, tx, t * in + cb * L);
  }
}

}  // namespace popup

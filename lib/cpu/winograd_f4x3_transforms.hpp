// The two tile transforms of the F(4x4, 3x3) weight gradient (winograd_f4x3_grad.cpp), written
// once over a vector of S::kLanes floats and built twice, each in a file compiled for its
// instruction set: eight floats for AVX2 (winograd_f4x3_transforms_avx2.cpp), sixteen for
// AVX-512 (winograd_f4x3_transforms_avx512.cpp). Every lane does the same operations in the
// same order in both, so the two give the same bits. The matrices are winograd_f4x3_grad.cpp's.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "cpu/winograd_f2x3.hpp"
#include "cpu/winograd_shared.hpp"

namespace popup {

// The part of the batch one call transforms, and where it goes: the tiles [first, first +
// count) of the n images of tiles_h x tiles_w tiles each, and the k in [k0, k1) of the 36
// values k = 6i + j of a transformed tile.
struct F4x3Tiles {
  int64_t tiles_h = 0, tiles_w = 0, first = 0, count = 0;
  int k0 = 0, k1 = 0;
};

// Bᵀ d B of the 6x6 inputs of the tiles into v[k * v_stride + t * s.in + c], t the tile's place
// in the range and c its input channel, for the k in [k0, k1).
void winograd_f4x3_inputs_avx2(const WinogradShape& s, const F4x3Tiles& r, const float* x, float* v,
                               int64_t v_stride);
void winograd_f4x3_inputs_avx512(const WinogradShape& s, const F4x3Tiles& r, const float* x,
                                 float* v, int64_t v_stride);

// A dY Aᵀ of the tiles' 4x4 output gradients into m[k * m_stride + ((o / 16) * chunk + t) * 16 +
// o % 16], o the output channel (the panels of winograd_shared.hpp's kernel), for the k in [k0,
// k1); the padding channels past s.out are not written.
void winograd_f4x3_grads_avx2(const WinogradShape& s, const F4x3Tiles& r, const float* dy, float* m,
                              int64_t m_stride, int64_t chunk);
void winograd_f4x3_grads_avx512(const WinogradShape& s, const F4x3Tiles& r, const float* dy,
                                float* m, int64_t m_stride, int64_t chunk);

namespace f4x3 {

// y = Bᵀ x, x and y columns of six values.
template <class S>
inline void bt(const typename S::V x[6], typename S::V y[6]) {
  using V = typename S::V;
  const V two = S::set1(2.0f), four = S::set1(4.0f), five = S::set1(5.0f);
  const V p = S::add(x[3], x[4]), q = S::add(x[1], x[2]);
  const V r = S::sub(x[4], x[3]), t = S::sub(x[1], x[2]);
  const V u = S::sub(x[4], x[2]), w = S::sub(x[3], x[1]);
  y[0] = S::fnmadd(five, x[2], S::fmadd(four, x[0], x[4]));
  y[1] = S::fnmadd(four, q, p);
  y[2] = S::fmadd(four, t, r);
  y[3] = S::fmadd(two, w, u);
  y[4] = S::fnmadd(two, w, u);
  y[5] = S::fnmadd(five, x[3], S::fmadd(four, x[1], x[5]));
}

// y = A x, x a column of four values, y of six.
template <class S>
inline void a_times(const typename S::V x[4], typename S::V y[6]) {
  using V = typename S::V;
  const V two = S::set1(2.0f), four = S::set1(4.0f), eight = S::set1(8.0f);
  const V even = S::add(x[0], x[2]), odd = S::add(x[1], x[3]);
  const V even4 = S::fmadd(four, x[2], x[0]), odd4 = S::fmadd(eight, x[3], S::mul(two, x[1]));
  y[0] = x[0];
  y[1] = S::add(even, odd);
  y[2] = S::sub(even, odd);
  y[3] = S::add(even4, odd4);
  y[4] = S::sub(even4, odd4);
  y[5] = x[3];
}

// Bᵀ d B of the 6x6 input of tile (ty, tx), kLanes channels from xc, into v[k * stride] for the
// k in [k0, k1): Bᵀ d whole, then only the rows i of (Bᵀ d) B that hold those k.
template <class S>
inline void input_transform(const float* xc, const WinogradShape& s, int64_t ty, int64_t tx,
                            float* v, int64_t stride, int k0, int k1) {
  using V = typename S::V;
  const int64_t B = s.block, y0 = 4 * ty - 1, x0 = 4 * tx - 1;
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= s.h && x0 + 6 <= s.w;
  // The lines of this plane's rows two tiles on: too many streams (rows times planes) run at
  // once for the hardware's prefetcher, and this took a third off the transform's time.
  for (int r = 0; r < 6; ++r) {
    const float* ahead = xc + ((y0 + r) * s.w + x0 + 10) * B;
    for (int64_t f = 0; f < 4 * B; f += 16)  // the lines of four pixels
      _mm_prefetch(reinterpret_cast<const char*>(ahead + f), _MM_HINT_T0);
  }
  V t[6][6];  // t[j]: column j of Bᵀ d
#pragma GCC unroll 6
  for (int j = 0; j < 6; ++j) {
    V col[6];
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) {
      const int64_t iy = y0 + r, ix = x0 + j;
      col[r] = inside || (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                   ? S::load(xc + (iy * s.w + ix) * B)
                   : S::zero();
    }
    bt<S>(col, t[j]);
  }
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) {
    if (6 * i + 5 < k0 || 6 * i >= k1) continue;
    const V row[6] = {t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i]};
    V e[6];
    bt<S>(row, e);
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j)
      if (6 * i + j >= k0 && 6 * i + j < k1) S::store(v + (6 * i + j) * stride, e[j]);
  }
}

// winograd_f4x3_inputs_avx2 and _avx512: each tile, each group of kLanes input channels.
template <class S>
void inputs_transform(const WinogradShape& s, const F4x3Tiles& r, const float* x, float* v,
                      int64_t v_stride) {
  for_tile_blocks<S::kLanes>(s, r.tiles_h, r.tiles_w, x, r.first, r.count,
                             [&](const float* xc, int64_t ty, int64_t tx, int64_t at) {
                               input_transform<S>(xc, s, ty, tx, v + at, v_stride, r.k0, r.k1);
                             });
}

// winograd_f4x3_grads_avx2 and _avx512: sixteen channels at a time (a panel) over all the
// tiles, so that the stores fill whole lines.
template <class S>
void grads_transform(const WinogradShape& s, const F4x3Tiles& r, const float* dy, float* m,
                     int64_t m_stride, int64_t chunk) {
  using V = typename S::V;
  constexpr int64_t kPanel = 16, L = S::kLanes;
  const int64_t plane = s.h * s.w, B = s.block;
  for (int64_t panel = 0; panel < (s.out + kPanel - 1) / kPanel; ++panel)
    for (int64_t t = 0; t < r.count; ++t) {
      const int64_t tile = r.first + t, b = tile / (r.tiles_h * r.tiles_w);
      const int64_t ty = tile / r.tiles_w % r.tiles_h, tx = tile % r.tiles_w;
      const bool inside = 4 * ty + 4 <= s.h && 4 * tx + 4 <= s.w;
      for (int64_t o = panel * kPanel; o < (panel + 1) * kPanel && o < s.out; o += L) {
        const float* yc = dy + (b * (s.out / B) + o / B) * plane * B + o % B;
        for (int q = 0; q < 4; ++q) {  // two tiles on, as in input_transform
          const float* ahead = yc + ((4 * ty + q) * s.w + 4 * tx + 8) * B;
          for (int64_t f = 0; f < 4 * B; f += 16)
            _mm_prefetch(reinterpret_cast<const char*>(ahead + f), _MM_HINT_T0);
        }
        V a[4][6];  // a[c]: column c of A dY
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) {
          V col[4];
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q) {
            const int64_t oy = 4 * ty + q, ox = 4 * tx + c;
            col[q] =
                inside || (oy < s.h && ox < s.w) ? S::load(yc + (oy * s.w + ox) * B) : S::zero();
          }
          a_times<S>(col, a[c]);
        }
        float* mt = m + (panel * chunk + t) * kPanel + o % kPanel;
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) {  // (A dY) Aᵀ
          if (6 * i + 5 < r.k0 || 6 * i >= r.k1) continue;
          const V row[4] = {a[0][i], a[1][i], a[2][i], a[3][i]};
          V e[6];
          a_times<S>(row, e);
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j)
            if (6 * i + j >= r.k0 && 6 * i + j < r.k1) S::store(mt + (6 * i + j) * m_stride, e[j]);
        }
      }
    }
}

}  // namespace f4x3
}  // namespace popup

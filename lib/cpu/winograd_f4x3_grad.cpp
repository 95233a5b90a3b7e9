// Winograd F(4x4, 3x3) weight gradient on AVX2 (winograd_f4x3_grad.hpp), with the matrices
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
//   G  = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
// (Lavin and Gray, 2016: the points 0, ±1, ±2 and ∞). A chunk of tiles at a time, each thread
// its share of the 36 k = 6i + j: the transforms of x and dy for its k, then the products
// v[k]ᵀ m[k] added into its rows of dU; at the end dW = Gᵀ dU G.
#include "cpu/winograd_f4x3_grad.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "cpu/winograd_shared.hpp"

namespace popup {
namespace {

constexpr int kK = 36;  // values of a transformed tile

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct Geometry {
  int64_t tiles_h, tiles_w, tiles, out16;
  explicit Geometry(const WinogradShape& s)
      : tiles_h((s.h + 3) / 4),
        tiles_w((s.w + 3) / 4),
        tiles(s.n * tiles_h * tiles_w),
        out16(round_up(s.out, kPanelCols)) {}
};

// Tiles per chunk: the transforms of a chunk, v and m, take about kChunkBytes, and at least
// kChunkMin tiles; a multiple of six, not a power of two, so that a tile's 36 stores, `chunk`
// tiles apart, do not fall into the same cache sets.
constexpr int64_t kChunkBytes = 2 * 1024 * 1024;
constexpr int64_t kChunkMin = 96;

int64_t chunk_tiles(const WinogradShape& s, const Geometry& g) {
  const int64_t tiles = std::max(kChunkMin, kChunkBytes / (kK * 4 * (s.in + g.out16)));
  return std::min(g.tiles, tiles / kPanelRows * kPanelRows);
}

// y = Bᵀ x, x and y columns of six values.
__attribute__((target("avx2,fma"))) inline void bt(const __m256 x[6], __m256 y[6]) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f);
  const __m256 p = _mm256_add_ps(x[3], x[4]), q = _mm256_add_ps(x[1], x[2]);
  const __m256 r = _mm256_sub_ps(x[4], x[3]), t = _mm256_sub_ps(x[1], x[2]);
  const __m256 u = _mm256_sub_ps(x[4], x[2]), w = _mm256_sub_ps(x[3], x[1]);
  y[0] = _mm256_fnmadd_ps(five, x[2], _mm256_fmadd_ps(four, x[0], x[4]));
  y[1] = _mm256_fnmadd_ps(four, q, p);
  y[2] = _mm256_fmadd_ps(four, t, r);
  y[3] = _mm256_fmadd_ps(two, w, u);
  y[4] = _mm256_fnmadd_ps(two, w, u);
  y[5] = _mm256_fnmadd_ps(five, x[3], _mm256_fmadd_ps(four, x[1], x[5]));
}

// Bᵀ d B of the 6x6 input of tile (ty, tx), eight channels per vector, into v[k * stride] for
// the k in [k0, k1): Bᵀ d whole, then only the rows i of (Bᵀ d) B that hold those k.
__attribute__((target("avx2,fma"))) void input_transform(const float* xc, const WinogradShape& s,
                                                         int64_t ty, int64_t tx, float* v,
                                                         int64_t stride, int k0, int k1) {
  const int64_t B = s.block, y0 = 4 * ty - 1, x0 = 4 * tx - 1;
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= s.h && x0 + 6 <= s.w;
  // The lines of this plane's rows two tiles on: too many streams (rows times planes) run at
  // once for the hardware's prefetcher, and this took a third off the transform's time.
  for (int r = 0; r < 6; ++r) {
    const float* ahead = xc + ((y0 + r) * s.w + x0 + 10) * B;
    _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ahead + 2 * B), _MM_HINT_T0);
  }
  __m256 t[6][6];  // t[j]: column j of Bᵀ d
#pragma GCC unroll 6
  for (int j = 0; j < 6; ++j) {
    __m256 col[6];
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) {
      const int64_t iy = y0 + r, ix = x0 + j;
      col[r] = inside || (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                   ? _mm256_loadu_ps(xc + (iy * s.w + ix) * B)
                   : _mm256_setzero_ps();
    }
    bt(col, t[j]);
  }
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) {
    if (6 * i + 5 < k0 || 6 * i >= k1) continue;
    const __m256 row[6] = {t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i]};
    __m256 e[6];
    bt(row, e);
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j)
      if (6 * i + j >= k0 && 6 * i + j < k1) _mm256_storeu_ps(v + (6 * i + j) * stride, e[j]);
  }
}

// The input transforms of tiles [first, first + count) of the whole batch into v[k][tile][in],
// v_stride floats from one k to the next, for the k in [k0, k1).
void inputs_transform(const WinogradShape& s, const Geometry& g, const float* x, int64_t first,
                      int64_t count, float* v, int64_t v_stride, int k0, int k1) {
  for_tile_blocks(s, g.tiles_h, g.tiles_w, x, first, count,
                  [&](const float* xc, int64_t ty, int64_t tx, int64_t at) {
                    input_transform(xc, s, ty, tx, v + at, v_stride, k0, k1);
                  });
}

// y = A x, x a column of four values, y of six.
__attribute__((target("avx2,fma"))) inline void a_times(const __m256 x[4], __m256 y[6]) {
  const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f),
               eight = _mm256_set1_ps(8.0f);
  const __m256 even = _mm256_add_ps(x[0], x[2]), odd = _mm256_add_ps(x[1], x[3]);
  const __m256 even4 = _mm256_fmadd_ps(four, x[2], x[0]),
               odd4 = _mm256_fmadd_ps(eight, x[3], _mm256_mul_ps(two, x[1]));
  y[0] = x[0];
  y[1] = _mm256_add_ps(even, odd);
  y[2] = _mm256_sub_ps(even, odd);
  y[3] = _mm256_add_ps(even4, odd4);
  y[4] = _mm256_sub_ps(even4, odd4);
  y[5] = x[3];
}

// The output-gradient transforms A dY Aᵀ of tiles [first, first + count) into m, packed for
// the products as m[k][o / 16][tile][o % 16], m_stride floats from one k to the next and
// `chunk` tiles per o / 16 (padding channels past s.out left as they are: zero), for the k in
// [k0, k1); sixteen channels at a time over all the tiles, so that the stores fill whole lines.
__attribute__((target("avx2,fma"))) void grads_transform(const WinogradShape& s, const Geometry& g,
                                                         const float* dy, int64_t first,
                                                         int64_t count, float* m, int64_t m_stride,
                                                         int64_t chunk, int k0, int k1) {
  const int64_t plane = s.h * s.w, B = s.block;
  for (int64_t ob16 = 0; ob16 < (s.out + kPanelCols - 1) / kPanelCols; ++ob16)
    for (int64_t t = 0; t < count; ++t) {
      const int64_t tile = first + t, b = tile / (g.tiles_h * g.tiles_w);
      const int64_t ty = tile / g.tiles_w % g.tiles_h, tx = tile % g.tiles_w;
      const bool inside = 4 * ty + 4 <= s.h && 4 * tx + 4 <= s.w;
      for (int64_t ob = 2 * ob16; ob < std::min(2 * ob16 + 2, s.out / 8); ++ob) {
        const float* yc = dy + (b * (s.out / B) + ob * 8 / B) * plane * B + ob * 8 % B;
        for (int q = 0; q < 4; ++q) {  // two tiles on, as in input_transform
          const float* ahead = yc + ((4 * ty + q) * s.w + 4 * tx + 8) * B;
          _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(ahead + 2 * B), _MM_HINT_T0);
        }
        __m256 r[4][6];  // r[c]: column c of A dY
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) {
          __m256 col[4];
#pragma GCC unroll 4
          for (int q = 0; q < 4; ++q) {
            const int64_t oy = 4 * ty + q, ox = 4 * tx + c;
            col[q] = inside || (oy < s.h && ox < s.w) ? _mm256_loadu_ps(yc + (oy * s.w + ox) * B)
                                                      : _mm256_setzero_ps();
          }
          a_times(col, r[c]);
        }
        float* mt = m + (ob16 * chunk + t) * kPanelCols + ob % 2 * 8;
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) {  // (A dY) Aᵀ
          if (6 * i + 5 < k0 || 6 * i >= k1) continue;
          const __m256 row[4] = {r[0][i], r[1][i], r[2][i], r[3][i]};
          __m256 e[6];
          a_times(row, e);
#pragma GCC unroll 6
          for (int j = 0; j < 6; ++j)
            if (6 * i + j >= k0 && 6 * i + j < k1)
              _mm256_storeu_ps(mt + (6 * i + j) * m_stride, e[j]);
        }
      }
    }
}

// dU[k][c][o] for c in [c0, c0 + 6) and every o, += Σ over the chunk's `count` tiles of
// v[k][t][c] m[k][t][o]; the next 6x16 block of dU prefetched while this one is summed.
__attribute__((target("avx2,fma"))) void weight_grad_rows(const WinogradShape& s, const Geometry& g,
                                                          int k, int64_t c0, int64_t chunk,
                                                          int64_t count, const float* v,
                                                          const float* m, float* du) {
  const int64_t in = s.in, out16 = g.out16;
  const int rows = static_cast<int>(std::min<int64_t>(kPanelRows, in - c0));
  float* target = du + (k * in + c0) * out16;
  for (int64_t ob = 0; ob < out16 / kPanelCols; ++ob) {
    for (int r = 0; r < kPanelRows; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(target + r * out16 + (ob + 1) * kPanelCols),
                   _MM_HINT_T0);
    panel_kernel_rows(rows, v + k * chunk * in + c0, 1, in,
                      m + (k * out16 / kPanelCols + ob) * chunk * kPanelCols, kPanelCols, count,
                      target + ob * kPanelCols, out16, true);
  }
}

// y = Gᵀ x, x a column of six values, y of three.
__attribute__((target("avx2,fma"))) inline void gt(const __m256 x[6], __m256 y[3]) {
  const __m256 sixth = _mm256_set1_ps(1.0f / 6), twelfth = _mm256_set1_ps(1.0f / 12),
               quarter = _mm256_set1_ps(0.25f), over24 = _mm256_set1_ps(1.0f / 24);
  const __m256 s12 = _mm256_add_ps(x[1], x[2]), s34 = _mm256_add_ps(x[3], x[4]);
  y[0] = _mm256_fmadd_ps(over24, s34, _mm256_fnmadd_ps(sixth, s12, _mm256_mul_ps(quarter, x[0])));
  y[1] = _mm256_fmadd_ps(twelfth, _mm256_sub_ps(x[3], x[4]),
                         _mm256_mul_ps(sixth, _mm256_sub_ps(x[2], x[1])));
  y[2] = _mm256_add_ps(_mm256_mul_ps(sixth, _mm256_sub_ps(s34, s12)), x[5]);
}

// dw[o][c][3][3] = Gᵀ dU[.][c][o] G for the eight output channels [o0, o0 + 8) from input
// channel c.
__attribute__((target("avx2,fma"))) void weights_untransform(const WinogradShape& s,
                                                             const Geometry& g, const float* du,
                                                             int64_t o0, int64_t c, float* dw) {
  __m256 t[6][3];  // t[j]: column j of Gᵀ X
  for (int j = 0; j < 6; ++j) {
    __m256 col[6];
    for (int i = 0; i < 6; ++i)
      col[i] = _mm256_loadu_ps(du + ((6 * i + j) * s.in + c) * g.out16 + o0);
    gt(col, t[j]);
  }
  alignas(32) float w[9][8];
  for (int a = 0; a < 3; ++a) {  // (Gᵀ X) G
    const __m256 row[6] = {t[0][a], t[1][a], t[2][a], t[3][a], t[4][a], t[5][a]};
    __m256 e[3];
    gt(row, e);
    for (int b = 0; b < 3; ++b) _mm256_store_ps(w[a * 3 + b], e[b]);
  }
  for (int64_t o = 0; o < 8; ++o)
    for (int q = 0; q < 9; ++q) dw[((o0 + o) * s.in + c) * 9 + q] = w[q][o];
}

}  // namespace

size_t winograd_f4x3_weight_grad_scratch(const WinogradShape& s) {
  const Geometry g(s);
  return static_cast<size_t>(kK * (s.in * g.out16 + chunk_tiles(s, g) * (s.in + g.out16)));
}

void winograd_f4x3_weight_grad(const WinogradShape& s, const float* x, const float* dy, float* dw,
                               float* scratch) {
  const Geometry g(s);
  std::vector<float> own;
  if (!scratch) {
    own.resize(winograd_f4x3_weight_grad_scratch(s));
    scratch = own.data();
  }
  const int64_t chunk = chunk_tiles(s, g), row_blocks = (s.in + kPanelRows - 1) / kPanelRows;
  float* du = scratch;
  float* v = du + kK * s.in * g.out16;
  float* m = v + kK * chunk * s.in;
#pragma omp parallel num_threads(std::min(omp_get_max_threads(), kK))
  {
    const int team = omp_get_num_threads(), k0 = kK * omp_get_thread_num() / team,
              k1 = kK * (omp_get_thread_num() + 1) / team;
    std::fill(du + k0 * s.in * g.out16, du + k1 * s.in * g.out16, 0.0f);
    if (s.out != g.out16)  // the padding channels of m stay zero
      std::fill(m + k0 * chunk * g.out16, m + k1 * chunk * g.out16, 0.0f);
    for (int64_t first = 0; first < g.tiles; first += chunk) {
      const int64_t count = std::min(chunk, g.tiles - first);
      inputs_transform(s, g, x, first, count, v, chunk * s.in, k0, k1);
      grads_transform(s, g, dy, first, count, m, chunk * g.out16, chunk, k0, k1);
      for (int k = k0; k < k1; ++k)
        for (int64_t rb = 0; rb < row_blocks; ++rb)
          weight_grad_rows(s, g, k, rb * kPanelRows, chunk, count, v, m, du);
    }
  }
  const int64_t out8 = s.out / 8;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.in / 8 * out8; ++i)
    for (int64_t c = i / out8 * 8; c < i / out8 * 8 + 8; ++c)
      weights_untransform(s, g, du, i % out8 * 8, c, dw);
}

}  // namespace popup

// Winograd F(4x4, 3x3) weight gradient on AVX2 (winograd_f4x3_grad.hpp), with the matrices
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
//   G  = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
// (Lavin and Gray, 2016: the points 0, ±1, ±2 and ∞). A chunk of tiles at a time, each thread
// its share of the 36 k = 6i + j: the transforms of x and dy for its k
// (winograd_f4x3_transforms.hpp, on AVX-512 where the activations are nChw16c), then the
// products v[k]ᵀ m[k] added into its rows of dU; at the end dW = Gᵀ dU G.
#include "cpu/winograd_f4x3_grad.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "cpu/winograd_f4x3_transforms.hpp"
#include "cpu/winograd_shared.hpp"

namespace popup {
namespace {

constexpr int kK = 36;  // values of a transformed tile

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Tiles per chunk: the transforms of a chunk, v and m, take about kChunkBytes, and at least
// kChunkMin tiles; a multiple of six, not a power of two.
constexpr int64_t kChunkBytes = 2 * 1024 * 1024;
constexpr int64_t kChunkMin = 96;

// Floats from one k to the next in v and m: one k's part of a chunk rounded up to 4 KiB and
// then one cache line on, so that the 36 stores of a tile's transform fall into 36 different
// sets of the first-level cache. At a multiple of 4 KiB apart, as chunk times channels often
// is, they all fell into one set, and the gradient of 128->128 at 14x14 took 1.15x as long.
int64_t k_stride(int64_t floats) { return round_up(floats, 1024) + 16; }

struct Geometry {
  int64_t tiles_h, tiles_w, tiles, out16, chunk, v_stride, m_stride;
  explicit Geometry(const WinogradShape& s)
      : tiles_h((s.h + 3) / 4),
        tiles_w((s.w + 3) / 4),
        tiles(s.n * tiles_h * tiles_w),
        out16(round_up(s.out, kPanelCols)),
        chunk(std::min(tiles, std::max(kChunkMin, kChunkBytes / (kK * 4 * (s.in + out16))) /
                                  kPanelRows * kPanelRows)),
        v_stride(k_stride(chunk * s.in)),
        m_stride(k_stride(chunk * out16)) {}
};

// dU[k][c][o] for c in [c0, c0 + 6) and every o, = (the first chunk) or += (with `add`) Σ over
// the chunk's `count` tiles of v[k][t][c] m[k][t][o]; the next 6x16 block of dU prefetched while
// this one is summed.
__attribute__((target("avx2,fma"))) void weight_grad_rows(const WinogradShape& s, const Geometry& g,
                                                          int k, int64_t c0, int64_t count,
                                                          const float* v, const float* m, float* du,
                                                          bool add) {
  const int64_t in = s.in, out16 = g.out16;
  const int rows = static_cast<int>(std::min<int64_t>(kPanelRows, in - c0));
  float* target = du + (k * in + c0) * out16;
  for (int64_t ob = 0; ob < out16 / kPanelCols; ++ob) {
    for (int r = 0; r < kPanelRows; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(target + r * out16 + (ob + 1) * kPanelCols),
                   _MM_HINT_T0);
    panel_kernel_rows(rows, v + k * g.v_stride + c0, 1, in,
                      m + k * g.m_stride + ob * g.chunk * kPanelCols, kPanelCols, count,
                      target + ob * kPanelCols, out16, add);
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

// dw[o][c][3][3] = Gᵀ X G for the eight output channels [o0, o0 + 8) from input channel c,
// X = dU[.][c][o], or with a second part's dU, dU + second.
__attribute__((target("avx2,fma"))) void weights_untransform(const WinogradShape& s,
                                                             const Geometry& g, const float* du,
                                                             const float* second, int64_t o0,
                                                             int64_t c, float* dw) {
  __m256 t[6][3];  // t[j]: column j of Gᵀ X
  for (int j = 0; j < 6; ++j) {
    __m256 col[6];
    for (int i = 0; i < 6; ++i) {
      const int64_t at = ((6 * i + j) * s.in + c) * g.out16 + o0;
      col[i] = _mm256_loadu_ps(du + at);
      if (second) col[i] = _mm256_add_ps(col[i], _mm256_loadu_ps(second + at));
    }
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

// The tiles are summed in two runs, the first half and the second, each into a dU of its own,
// then added, where dU is at most kTwoPartsBytes (up to 128 x 128 channels): so that with two
// threads each transforms only its own half of the tiles, for all 36 k, where the k split
// (one run) has each transform every tile for its 18. That took 18% off the gradient of
// 64->64 at 28x28 and 5-7% off 64->128 and 128->128 at 14x14 (oneDNN's nChw16c, AVX-512); with
// dU larger, the second dU cost more than it saved (128->256 at 7x7: 1.4x as long).
// A property of the shape alone, so that the bits still do not depend on the thread count.
constexpr int64_t kTwoPartsBytes = kK * 128 * 128 * 4;

int tile_parts(const WinogradShape& s, const Geometry& g) {
  return kK * s.in * g.out16 * 4 <= kTwoPartsBytes ? 2 : 1;
}

}  // namespace

size_t winograd_f4x3_weight_grad_scratch(const WinogradShape& s) {
  const Geometry g(s);
  return static_cast<size_t>(tile_parts(s, g) * kK * (s.in * g.out16 + g.v_stride + g.m_stride));
}

void winograd_f4x3_weight_grad(const WinogradShape& s, const float* x, const float* dy, float* dw,
                               float* scratch) {
  const Geometry g(s);
  std::vector<float> own;
  if (!scratch) {
    own.resize(winograd_f4x3_weight_grad_scratch(s));
    scratch = own.data();
  }
  const int parts = tile_parts(s, g);
  const int64_t row_blocks = (s.in + kPanelRows - 1) / kPanelRows, du_size = kK * s.in * g.out16,
                part_size = du_size + kK * (g.v_stride + g.m_stride),
                part_tiles = (g.tiles + parts - 1) / parts;
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool wide = avx512 && s.block == 16;
  // Part p's tiles, the k in [k0, k1), into its dU.
  const auto run = [&](int p, int k0, int k1) {
    float* du = scratch + p * part_size;
    float* v = du + du_size;
    float* m = v + kK * g.v_stride;
    if (s.out != g.out16)  // the padding channels of m stay zero
      std::fill(m + k0 * g.m_stride, m + k1 * g.m_stride, 0.0f);
    const int64_t begin = p * part_tiles, end = std::min(g.tiles, begin + part_tiles);
    for (int64_t first = begin; first < end; first += g.chunk) {
      const F4x3Tiles range{g.tiles_h, g.tiles_w, first, std::min(g.chunk, end - first), k0, k1};
      if (wide) {
        winograd_f4x3_inputs_avx512(s, range, x, v, g.v_stride);
        winograd_f4x3_grads_avx512(s, range, dy, m, g.m_stride, g.chunk);
      } else {
        winograd_f4x3_inputs_avx2(s, range, x, v, g.v_stride);
        winograd_f4x3_grads_avx2(s, range, dy, m, g.m_stride, g.chunk);
      }
      for (int k = k0; k < k1; ++k)
        for (int64_t rb = 0; rb < row_blocks; ++rb)
          weight_grad_rows(s, g, k, rb * kPanelRows, range.count, v, m, du, first > begin);
    }
  };
#pragma omp parallel num_threads(std::min(omp_get_max_threads(), kK* parts))
  {
    const int team = omp_get_num_threads(), me = omp_get_thread_num();
    if (team < parts) {
      for (int p = me; p < parts; p += team) run(p, 0, kK);
    } else {  // part me % parts, its k shared by the threads on it
      const int p = me % parts, on = (team - p + parts - 1) / parts, at = me / parts;
      run(p, kK * at / on, kK * (at + 1) / on);
    }
  }
  // The second part's dU, where it has tiles (not where the batch has a single tile).
  const float* second = parts == 2 && part_tiles < g.tiles ? scratch + part_size : nullptr;
  const int64_t out8 = s.out / 8;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.in / 8 * out8; ++i)
    for (int64_t c = i / out8 * 8; c < i / out8 * 8 + 8; ++c)
      weights_untransform(s, g, scratch, second, i % out8 * 8, c, dw);
}

}  // namespace popup

// Winograd F(2x2, 3x3) on AVX2 (winograd_f2x3.hpp). Forward, each thread a block of tiles at a
// time: the input transform into v[16][tiles][in], 16 matrix products v[k] u[k] into
// m[16][tiles][out16] by a 6x16 register kernel, and the output transform into y. Weight
// gradient, a chunk of tiles at a time, each thread its share of the 16 k: the transforms of x
// and dy, then the products v[k]ᵀ m[k] added into dU. The transforms use the matrices
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 -1 -1].
#include "cpu/winograd_f2x3.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "backend/masked_weight.hpp"
#include "cpu/relu_bits.hpp"

namespace popup {
namespace {

constexpr int kRows = 6;                     // tiles per register kernel
constexpr int kCols = 16;                    // output channels per register kernel (two vectors)
constexpr int64_t kBlockBytes = 512 * 1024;  // v and m of one block of tiles, together

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct Geometry {
  int64_t tiles_h, tiles_w, tiles, out16, block;
  explicit Geometry(const WinogradShape& s)
      : tiles_h((s.h + 1) / 2),
        tiles_w((s.w + 1) / 2),
        tiles(s.n * tiles_h * tiles_w),
        out16(round_up(s.out, kCols)),
        block(std::max<int64_t>(kRows, kBlockBytes / (16 * 4 * (s.in + out16)) / kRows * kRows)) {}
};

// c[r][0..15] (=, or += with `add`) the sum over k < depth of a[r * ar + k * ak] *
// b[k * bk + 0..15], for R rows of c of stride ldc: the forward's products v[k] u[k] (rows:
// tiles) and the weight gradient's vᵀ m (rows: input channels, summed over tiles).
template <int R>
__attribute__((target("avx2,fma"))) void kernel(const float* a, int64_t ar, int64_t ak,
                                                const float* b, int64_t bk, int64_t depth, float* c,
                                                int64_t ldc, bool add) {
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

__attribute__((target("avx2,fma"))) void kernel_rows(int rows, const float* a, int64_t ar,
                                                     int64_t ak, const float* b, int64_t bk,
                                                     int64_t depth, float* c, int64_t ldc,
                                                     bool add) {
  switch (rows) {
    case 6: kernel<6>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 5: kernel<5>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 4: kernel<4>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 3: kernel<3>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    case 2: kernel<2>(a, ar, ak, b, bk, depth, c, ldc, add); break;
    default: kernel<1>(a, ar, ak, b, bk, depth, c, ldc, add); break;
  }
}

// Bᵀ d B of one tile's 4x4 input (eight channels per vector) into v[k * stride], k = 4i + j,
// for the k in [k0, k1), which lie in rows i of [I0, I1): only the rows of d those need are
// read (row i of Bᵀ d takes rows 0 and 2 of d, 1 and 2, 1 and 2, 1 and 3) and only those rows
// computed, so that a thread with half of the k does half of the work.
template <int I0, int I1>
__attribute__((target("avx2,fma"))) void input_transform(const float* xc, const WinogradShape& s,
                                                         int64_t ty, int64_t tx, float* v,
                                                         int64_t stride, int k0, int k1) {
  const int64_t B = s.block;
  const bool need[4] = {I0 == 0, I1 > 1, I0 <= 2, I1 > 3};
  __m256 d[4][4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    if (!need[i]) continue;
    const int64_t iy = 2 * ty - 1 + i;
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const int64_t ix = 2 * tx - 1 + j;
      d[i][j] = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w
                    ? _mm256_loadu_ps(xc + (iy * s.w + ix) * B)
                    : _mm256_setzero_ps();
    }
  }
#pragma GCC unroll 4
  for (int i = I0; i < I1; ++i) {
    __m256 t[4];  // row i of Bᵀ d
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j)
      t[j] = i == 0   ? _mm256_sub_ps(d[0][j], d[2][j])
             : i == 1 ? _mm256_add_ps(d[1][j], d[2][j])
             : i == 2 ? _mm256_sub_ps(d[2][j], d[1][j])
                      : _mm256_sub_ps(d[1][j], d[3][j]);
    const __m256 e[4] = {_mm256_sub_ps(t[0], t[2]), _mm256_add_ps(t[1], t[2]),
                         _mm256_sub_ps(t[2], t[1]), _mm256_sub_ps(t[1], t[3])};
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j)
      if (4 * i + j >= k0 && 4 * i + j < k1) _mm256_storeu_ps(v + (4 * i + j) * stride, e[j]);
  }
}

template <int I0, int I1>
__attribute__((target("avx2,fma"))) void inputs_transform_rows(const WinogradShape& s,
                                                               const Geometry& g, const float* x,
                                                               int64_t first, int64_t count,
                                                               float* v, int64_t v_stride, int k0,
                                                               int k1) {
  const int64_t in = s.in, plane = s.h * s.w, B = s.block;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, b = tile / (g.tiles_h * g.tiles_w);
    const int64_t ty = tile / g.tiles_w % g.tiles_h, tx = tile % g.tiles_w;
    for (int64_t cb = 0; cb < in / 8; ++cb)  // eight channels at a time
      input_transform<I0, I1>(x + (b * (in / B) + cb * 8 / B) * plane * B + cb * 8 % B, s, ty, tx,
                              v + t * in + cb * 8, v_stride, k0, k1);
  }
}

// The input transforms of tiles [first, first + count) of the whole batch into v[k][tile][in],
// v_stride floats from one k to the next, for the k in [k0, k1).
void inputs_transform(const WinogradShape& s, const Geometry& g, const float* x, int64_t first,
                      int64_t count, float* v, int64_t v_stride, int k0 = 0, int k1 = 16) {
  using Rows = void (*)(const WinogradShape&, const Geometry&, const float*, int64_t, int64_t,
                        float*, int64_t, int, int);
  static constexpr Rows rows[4][5] = {
      {nullptr, inputs_transform_rows<0, 1>, inputs_transform_rows<0, 2>,
       inputs_transform_rows<0, 3>, inputs_transform_rows<0, 4>},
      {nullptr, nullptr, inputs_transform_rows<1, 2>, inputs_transform_rows<1, 3>,
       inputs_transform_rows<1, 4>},
      {nullptr, nullptr, nullptr, inputs_transform_rows<2, 3>, inputs_transform_rows<2, 4>},
      {nullptr, nullptr, nullptr, nullptr, inputs_transform_rows<3, 4>}};
  rows[k0 / 4][(k1 + 3) / 4](s, g, x, first, count, v, v_stride, k0, k1);
}

// Tiles [first, first + count) of the whole batch: y's 2x2 blocks from x.
__attribute__((target("avx2,fma"))) void run_block(const WinogradShape& s, const Geometry& g,
                                                   const float* x, const float* u, float* y,
                                                   bool accumulate, const uint8_t* gate,
                                                   int64_t first, int64_t count, float* v,
                                                   float* m) {
  const int64_t in = s.in, out16 = g.out16, plane = s.h * s.w, B = s.block;
  const int64_t v_stride = g.block * in, m_stride = g.block * out16;
  inputs_transform(s, g, x, first, count, v, v_stride);
  // the 16 products
  for (int k = 0; k < 16; ++k)
    for (int64_t ob = 0; ob < out16 / kCols; ++ob) {
      const float* uk = u + (k * (out16 / kCols) + ob) * in * kCols;
      for (int64_t r = 0; r < count; r += kRows)
        kernel_rows(static_cast<int>(std::min<int64_t>(kRows, count - r)),
                    v + k * v_stride + r * in, in, 1, uk, kCols, in,
                    m + k * m_stride + r * out16 + ob * kCols, out16, false);
    }
  // output transform: Aᵀ m A into y
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = first + t, b = tile / (g.tiles_h * g.tiles_w);
    const int64_t ty = tile / g.tiles_w % g.tiles_h, tx = tile % g.tiles_w;
    for (int64_t ob = 0; ob < s.out / 8; ++ob) {
      __m256 mm[4][4];
#pragma GCC unroll 16
      for (int k = 0; k < 16; ++k)
        mm[k / 4][k % 4] = _mm256_loadu_ps(m + k * m_stride + t * out16 + ob * 8);
      __m256 r[2][4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        r[0][j] = _mm256_add_ps(_mm256_add_ps(mm[0][j], mm[1][j]), mm[2][j]);
        r[1][j] = _mm256_sub_ps(_mm256_sub_ps(mm[1][j], mm[2][j]), mm[3][j]);
      }
      float* yc = y + (b * (s.out / B) + ob * 8 / B) * plane * B + ob * 8 % B;
      for (int i = 0; i < 2; ++i) {
        const int64_t oy = 2 * ty + i;
        if (oy >= s.h) break;
        const __m256 o[2] = {_mm256_add_ps(_mm256_add_ps(r[i][0], r[i][1]), r[i][2]),
                             _mm256_sub_ps(_mm256_sub_ps(r[i][1], r[i][2]), r[i][3])};
        for (int j = 0; j < 2; ++j) {
          const int64_t ox = 2 * tx + j;
          if (ox >= s.w) break;
          float* p = yc + (oy * s.w + ox) * B;
          const __m256 out = gate ? relu_bits_gate(o[j], gate[(p - y) / 8]) : o[j];
          _mm256_storeu_ps(p, accumulate ? _mm256_add_ps(_mm256_loadu_ps(p), out) : out);
        }
      }
    }
  }
}

// The output-gradient transforms A dY Aᵀ of tiles [first, first + count) into m, packed for
// the products as m[k][o / 16][tile][o % 16], m_stride floats from one k to the next and
// `chunk` tiles per o / 16 (the padding channels past s.out are left as they are: zero), for
// the k in [k0, k1). Sixteen channels at a time over all the tiles, so that each k's stores
// run on through whole cache lines instead of jumping between o / 16 panels.
__attribute__((target("avx2,fma"))) void grads_transform(const WinogradShape& s, const Geometry& g,
                                                         const float* dy, int64_t first,
                                                         int64_t count, float* m, int64_t m_stride,
                                                         int64_t chunk, int k0, int k1) {
  const int64_t plane = s.h * s.w, B = s.block;
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t ob16 = 0; ob16 < (s.out + kCols - 1) / kCols; ++ob16)
    for (int64_t t = 0; t < count; ++t) {
      const int64_t tile = first + t, b = tile / (g.tiles_h * g.tiles_w);
      const int64_t ty = tile / g.tiles_w % g.tiles_h, tx = tile % g.tiles_w;
      for (int64_t ob = 2 * ob16; ob < std::min(2 * ob16 + 2, s.out / 8); ++ob) {
        const float* yc = dy + (b * (s.out / B) + ob * 8 / B) * plane * B + ob * 8 % B;
        __m256 d[2][2];
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) {
            const int64_t oy = 2 * ty + i, ox = 2 * tx + j;
            d[i][j] = oy < s.h && ox < s.w ? _mm256_loadu_ps(yc + (oy * s.w + ox) * B) : zero;
          }
        __m256 r[4][2];  // A dY
        for (int j = 0; j < 2; ++j) {
          r[0][j] = d[0][j];
          r[1][j] = _mm256_add_ps(d[0][j], d[1][j]);
          r[2][j] = _mm256_sub_ps(d[0][j], d[1][j]);
          r[3][j] = _mm256_sub_ps(zero, d[1][j]);
        }
        float* mt = m + (ob16 * chunk + t) * kCols + ob % 2 * 8;
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {  // (A dY) Aᵀ
          const __m256 e[4] = {r[i][0], _mm256_add_ps(r[i][0], r[i][1]),
                               _mm256_sub_ps(r[i][0], r[i][1]), _mm256_sub_ps(zero, r[i][1])};
#pragma GCC unroll 4
          for (int j = 0; j < 4; ++j)
            if (4 * i + j >= k0 && 4 * i + j < k1)
              _mm256_storeu_ps(mt + (4 * i + j) * m_stride, e[j]);
        }
      }
    }
}

// Tiles per chunk of the weight gradient: the transforms of a chunk, v and m, take about
// kChunkBytes, and at least kChunkMin tiles, so that each pass over dU does enough products.
// A multiple of six, not a power of two: the transforms' stores, 16 per tile and `chunk` tiles
// apart, would otherwise fall into the same cache sets.
constexpr int64_t kChunkBytes = 2 * 1024 * 1024;
constexpr int64_t kChunkMin = 128;

int64_t chunk_tiles(const WinogradShape& s, const Geometry& g) {
  const int64_t tiles = std::max(kChunkMin, kChunkBytes / (16 * 4 * (s.in + g.out16)));
  return std::min(g.tiles, tiles / kRows * kRows);
}

// dU[k][c][o] for c in [c0, c0 + 6) and every o, += Σ over the chunk's `count` tiles of
// v[k][t][c] m[k][t][o]. Each next 6x16 block of dU is prefetched while this one is summed.
__attribute__((target("avx2,fma"))) void weight_grad_rows(const WinogradShape& s, const Geometry& g,
                                                          int k, int64_t c0, int64_t chunk,
                                                          int64_t count, const float* v,
                                                          const float* m, float* du) {
  const int64_t in = s.in, out16 = g.out16;
  const int rows = static_cast<int>(std::min<int64_t>(kRows, in - c0));
  float* target = du + (k * in + c0) * out16;
  for (int64_t ob = 0; ob < out16 / kCols; ++ob) {
    for (int r = 0; r < kRows; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(target + r * out16 + (ob + 1) * kCols),
                   _MM_HINT_T0);
    kernel_rows(rows, v + k * chunk * in + c0, 1, in, m + (k * out16 / kCols + ob) * chunk * kCols,
                kCols, count, target + ob * kCols, out16, true);
  }
}

// G w Gᵀ of the 16 output channels of block ob (zero past s.out) from input channel c, each
// weight kept where the mask holds 1 and +0 where it holds 0, into u[k][ob][c][0 .. 16):
// gathered into w[ky * 3 + kx][output channel], then transformed 8 channels per vector.
__attribute__((target("avx2,fma"))) void weights_transform(const WinogradShape& s, const float* g,
                                                           const uint8_t* mask, bool transposed,
                                                           int64_t ob, int64_t c, int64_t blocks,
                                                           float* u) {
  alignas(32) float w[9][kCols];
  for (int64_t ol = 0; ol < kCols; ++ol) {
    const int64_t o = ob * kCols + ol;
    for (int q = 0; q < 9; ++q) {
      if (o >= s.out) {
        w[q][ol] = 0.0f;
        continue;
      }
      // the backward-data weights are rotated by 180 degrees: (2 - ky) * 3 + 2 - kx = 8 - q
      const int64_t at = transposed ? (c * s.out + o) * 9 + 8 - q : (o * s.in + c) * 9 + q;
      w[q][ol] = mask ? masked_weight(g[at], mask[at]) : g[at];
    }
  }
  const __m256 half = _mm256_set1_ps(0.5f);
  for (int v = 0; v < kCols / 8; ++v) {
    __m256 t[4][3];  // G w
    for (int j = 0; j < 3; ++j) {
      const __m256 w0 = _mm256_load_ps(&w[j][8 * v]), w1 = _mm256_load_ps(&w[3 + j][8 * v]),
                   w2 = _mm256_load_ps(&w[6 + j][8 * v]);
      t[0][j] = w0;
      t[1][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(w0, w1), w2));
      t[2][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(w0, w1), w2));
      t[3][j] = w2;
    }
    for (int i = 0; i < 4; ++i) {  // (G w) Gᵀ
      const __m256 e[4] = {
          t[i][0], _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(t[i][0], t[i][1]), t[i][2])),
          _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(t[i][0], t[i][1]), t[i][2])), t[i][2]};
      for (int j = 0; j < 4; ++j)
        _mm256_storeu_ps(u + (((4 * i + j) * blocks + ob) * s.in + c) * kCols + 8 * v, e[j]);
    }
  }
}

// dw[o][c][3][3] = Gᵀ dU[.][c][o] G for the eight output channels [o0, o0 + 8) (out is a
// multiple of 8) from input channel c: the same sums in the same order as one channel at a time.
__attribute__((target("avx2,fma"))) void weights_untransform(const WinogradShape& s,
                                                             const Geometry& g, const float* du,
                                                             int64_t o0, int64_t c, float* dw) {
  const __m256 half = _mm256_set1_ps(0.5f);
  __m256 x[4][4];
  for (int k = 0; k < 16; ++k)
    x[k / 4][k % 4] = _mm256_loadu_ps(du + (k * s.in + c) * g.out16 + o0);
  __m256 t[3][4];  // Gᵀ X
  for (int j = 0; j < 4; ++j) {
    const __m256 mid = _mm256_mul_ps(half, _mm256_add_ps(x[1][j], x[2][j]));
    t[0][j] = _mm256_add_ps(x[0][j], mid);
    t[1][j] = _mm256_mul_ps(half, _mm256_sub_ps(x[1][j], x[2][j]));
    t[2][j] = _mm256_add_ps(mid, x[3][j]);
  }
  alignas(32) float w[9][8];
  for (int a = 0; a < 3; ++a) {  // (Gᵀ X) G
    const __m256 mid = _mm256_mul_ps(half, _mm256_add_ps(t[a][1], t[a][2]));
    _mm256_store_ps(w[a * 3 + 0], _mm256_add_ps(t[a][0], mid));
    _mm256_store_ps(w[a * 3 + 1], _mm256_mul_ps(half, _mm256_sub_ps(t[a][1], t[a][2])));
    _mm256_store_ps(w[a * 3 + 2], _mm256_add_ps(mid, t[a][3]));
  }
  for (int64_t o = 0; o < 8; ++o)
    for (int q = 0; q < 9; ++q) dw[((o0 + o) * s.in + c) * 9 + q] = w[q][o];
}

}  // namespace

bool winograd_f2x3_supported() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

size_t winograd_f2x3_weights_size(const WinogradShape& s) {
  return static_cast<size_t>(16 * s.in * round_up(s.out, kCols));
}

void winograd_f2x3_weights(const WinogradShape& s, const float* g, const uint8_t* mask,
                           bool transposed, float* u) {
  const int64_t blocks = round_up(s.out, kCols) / kCols;
#pragma omp parallel for schedule(static) if (s.in * s.out >= 4096)
  for (int64_t i = 0; i < blocks * s.in; ++i)
    weights_transform(s, g, mask, transposed, i / s.in, i % s.in, blocks, u);
}

size_t winograd_f2x3_run_scratch(const WinogradShape& s, int threads) {
  const Geometry g(s);
  return static_cast<size_t>(threads * 16 * g.block * (s.in + g.out16));
}

size_t winograd_f2x3_weight_grad_scratch(const WinogradShape& s) {
  const Geometry g(s);
  return static_cast<size_t>(16 * (s.in * g.out16 + chunk_tiles(s, g) * (s.in + g.out16)));
}

void winograd_f2x3_run(const WinogradShape& s, const float* x, const float* u, float* y,
                       bool accumulate, float* scratch, int threads, const uint8_t* gate) {
  const Geometry g(s);
  const int64_t blocks = (g.tiles + g.block - 1) / g.block;
  std::vector<float> own;
  if (!scratch) {
    threads = omp_get_max_threads();
    own.resize(winograd_f2x3_run_scratch(s, threads));
    scratch = own.data();
  }
  const int64_t v_size = 16 * g.block * s.in, m_size = 16 * g.block * g.out16;
#pragma omp parallel num_threads(threads)
  {
    float* v = scratch + omp_get_thread_num() * (v_size + m_size);
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t first = blk * g.block;
      run_block(s, g, x, u, y, accumulate, gate, first, std::min(g.block, g.tiles - first), v,
                v + v_size);
    }
  }
}

// A chunk of tiles at a time, each thread a share of the 16 products k: it transforms the
// chunk's tiles for its k alone (the input read by every thread, each transformed value by one)
// and adds v[k]ᵀ m[k] into its rows of dU, so that no thread reads what another wrote and none
// waits for another until the end. Every dU value is summed in tile order, a chunk at a time,
// whatever the number of threads.
void winograd_f2x3_weight_grad(const WinogradShape& s, const float* x, const float* dy, float* dw,
                               float* scratch) {
  const Geometry g(s);
  std::vector<float> own;
  if (!scratch) {
    own.resize(winograd_f2x3_weight_grad_scratch(s));
    scratch = own.data();
  }
  const int64_t chunk = chunk_tiles(s, g), row_blocks = (s.in + kRows - 1) / kRows;
  const int64_t du_size = 16 * s.in * g.out16;
  float* du = scratch;
  float* v = du + du_size;
  float* m = v + 16 * chunk * s.in;
#pragma omp parallel num_threads(std::min(omp_get_max_threads(), 16))
  {
    const int team = omp_get_num_threads(), k0 = 16 * omp_get_thread_num() / team,
              k1 = 16 * (omp_get_thread_num() + 1) / team;
    std::fill(du + k0 * s.in * g.out16, du + k1 * s.in * g.out16, 0.0f);
    if (s.out != g.out16)  // the padding channels of m stay zero
      std::fill(m + k0 * chunk * g.out16, m + k1 * chunk * g.out16, 0.0f);
    for (int64_t first = 0; first < g.tiles; first += chunk) {
      const int64_t count = std::min(chunk, g.tiles - first);
      inputs_transform(s, g, x, first, count, v, chunk * s.in, k0, k1);
      grads_transform(s, g, dy, first, count, m, chunk * g.out16, chunk, k0, k1);
      for (int k = k0; k < k1; ++k)
        for (int64_t rb = 0; rb < row_blocks; ++rb)
          weight_grad_rows(s, g, k, rb * kRows, chunk, count, v, m, du);
    }
  }
  // dW = Gᵀ dU G, eight output channels per vector, eight input channels at a time: the next
  // eight output channels read the other half of the same lines of dU, and each output
  // channel's row of dW is written 8 * 9 floats on end.
  const int64_t out8 = s.out / 8;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.in / 8 * out8; ++i)
    for (int64_t c = i / out8 * 8; c < i / out8 * 8 + 8; ++c)
      weights_untransform(s, g, du, i % out8 * 8, c, dw);
}

}  // namespace popup

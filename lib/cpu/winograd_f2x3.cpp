// Winograd F(2x2, 3x3) on AVX2 (winograd_f2x3.hpp), each thread a block of tiles at a time:
// the input transform into v[16][tiles][in], 16 matrix products v[k] u[k] into
// m[16][tiles][out16] by a 6x16 register kernel, and the output transform into y. The
// transforms use the matrices
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 -1 -1].
#include "cpu/winograd_f2x3.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "backend/masked_weight.hpp"
#include "cpu/winograd_shared.hpp"
#include "cpu/relu_bits.hpp"

namespace popup {
namespace {

constexpr int kRows = kPanelRows;            // tiles per register kernel
constexpr int kCols = kPanelCols;            // output channels per register kernel (two vectors)
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

// Bᵀ d B of one tile's 4x4 input (eight channels per vector) into v[k * stride], k = 4i + j.
__attribute__((target("avx2,fma"))) void input_transform(const float* xc, const WinogradShape& s,
                                                         int64_t ty, int64_t tx, float* v,
                                                         int64_t stride) {
  const int64_t B = s.block;
  __m256 d[4][4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
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
  for (int i = 0; i < 4; ++i) {
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
    for (int j = 0; j < 4; ++j) _mm256_storeu_ps(v + (4 * i + j) * stride, e[j]);
  }
}

// The input transforms of tiles [first, first + count) of the whole batch into v[k][tile][in],
// v_stride floats from one k to the next.
void inputs_transform(const WinogradShape& s, const Geometry& g, const float* x, int64_t first,
                      int64_t count, float* v, int64_t v_stride) {
  for_tile_blocks(s, g.tiles_h, g.tiles_w, x, first, count,
                  [&](const float* xc, int64_t ty, int64_t tx, int64_t at) {
                    input_transform(xc, s, ty, tx, v + at, v_stride);
                  });
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
        panel_kernel_rows(static_cast<int>(std::min<int64_t>(kRows, count - r)),
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

}  // namespace popup

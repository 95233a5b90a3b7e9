// The fused backward of a 2x2 max-pool and the ReLU before it (pool_relu_backward.hpp): per
// row of windows and eight channels, the four places of each window from the workspace byte,
// the gate y > 0 and the output gradient, written row by row of the input.
#include "cpu/pool_relu_backward.hpp"

#include <immintrin.h>

#include <algorithm>

namespace popup {
namespace {

// Input rows 2 oy and 2 oy + 1 of one image and block of channels, eight channels (lane
// offset `lane`) at a time. Rows and columns past the last window are zeroed by the caller.
__attribute__((target("avx2"))) void window_row(const PoolReluShape& s, const float* y,
                                                const float* dy, const uint8_t* ws, float* dx,
                                                int64_t ow) {
  const int64_t B = s.block;
  const __m256 zero = _mm256_setzero_ps();
  const __m256i place[4] = {_mm256_set1_epi32(0), _mm256_set1_epi32(1), _mm256_set1_epi32(2),
                            _mm256_set1_epi32(3)};
  for (int64_t ox = 0; ox < ow; ++ox)
    for (int64_t lane = 0; lane < B; lane += 8) {
      const int64_t at = ox * B + lane;
      const __m256 g = _mm256_loadu_ps(dy + at);
      // the gradient where the pooled value is positive, +0 elsewhere
      const __m256 pass =
          _mm256_and_ps(_mm256_cmp_ps(_mm256_loadu_ps(y + at), zero, _CMP_GT_OQ), g);
      const __m256i where =
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ws + at)));
      for (int q = 0; q < 4; ++q) {
        const __m256 hit = _mm256_castsi256_ps(_mm256_cmpeq_epi32(where, place[q]));
        float* p = dx + ((q / 2) * s.w + 2 * ox + q % 2) * B + lane;
        _mm256_storeu_ps(p, _mm256_and_ps(hit, pass));
      }
    }
}

}  // namespace

bool pool_relu_backward_fits(const PoolReluShape& s) {
  return (s.block == 8 || s.block == 16) && s.c % s.block == 0 && s.h >= 2 && s.w >= 2 &&
         __builtin_cpu_supports("avx2");
}

void pool_relu_backward(const PoolReluShape& s, const float* y, const float* dy, const uint8_t* ws,
                        float* dx) {
  const int64_t B = s.block, oh = s.h / 2, ow = s.w / 2, planes = s.n * (s.c / B);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < planes * oh; ++r) {
    const int64_t plane = r / oh, oy = r % oh;
    const int64_t out = (plane * oh + oy) * ow * B;
    float* rows = dx + (plane * s.h + 2 * oy) * s.w * B;
    window_row(s, y + out, dy + out, ws + out, rows, ow);
    if (s.w % 2)  // the last column is in no window
      for (int64_t i = 0; i < 2; ++i) std::fill_n(rows + (i * s.w + s.w - 1) * B, B, 0.0f);
    if (s.h % 2 && oy == oh - 1)  // nor the last row
      std::fill_n(rows + 2 * s.w * B, s.w * B, 0.0f);
  }
}

}  // namespace popup

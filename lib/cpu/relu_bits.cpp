// ReLU forward and backward through one bit per value (relu_bits.hpp): eight values per vector,
// the sign test's mask packed into a byte (movemask) and unpacked by testing each lane's bit.
#include "cpu/relu_bits.hpp"

namespace popup {
namespace {

constexpr int64_t kParallelMin = 1 << 16;  // values below which one thread does it all

}  // namespace

bool relu_bits_supported() { return __builtin_cpu_supports("avx2"); }

__attribute__((target("avx2"))) void relu_bits_forward(const float* x, float* y, uint8_t* bits,
                                                       int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t k = 0; k < n; k += 8) {
    const __m256 v = _mm256_loadu_ps(x + k);
    const __m256 positive = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
    _mm256_storeu_ps(y + k, _mm256_max_ps(v, zero));  // +0 for -0, negatives and NaN
    if (bits) bits[k / 8] = static_cast<uint8_t>(_mm256_movemask_ps(positive));
  }
}

__attribute__((target("avx2"))) void relu_bits_backward(const float* dy, const uint8_t* bits,
                                                        float* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t k = 0; k < n; k += 8)
    _mm256_storeu_ps(dx + k, relu_bits_gate(_mm256_loadu_ps(dy + k), bits[k / 8]));
}

}  // namespace popup

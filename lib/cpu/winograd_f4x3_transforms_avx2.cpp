// winograd_f4x3_transforms.hpp's transforms on AVX2: eight floats per vector. Built with -mavx2
// -mfma (Makefile) and called only where the CPU has both; nothing here but the transforms, so
// that no code the rest of the library shares is compiled for AVX2.
#include <immintrin.h>

#include "cpu/winograd_f4x3_transforms.hpp"

namespace popup {
namespace {

struct Lanes8 {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }    // a b + c
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a b
};

}  // namespace

void winograd_f4x3_inputs_avx2(const WinogradShape& s, const F4x3Tiles& r, const float* x, float* v,
                               int64_t v_stride) {
  f4x3::inputs_transform<Lanes8>(s, r, x, v, v_stride);
}

void winograd_f4x3_grads_avx2(const WinogradShape& s, const F4x3Tiles& r, const float* dy, float* m,
                              int64_t m_stride, int64_t chunk) {
  f4x3::grads_transform<Lanes8>(s, r, dy, m, m_stride, chunk);
}

}  // namespace popup

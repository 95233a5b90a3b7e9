// winograd_f4x3_transforms.hpp's transforms on AVX-512: sixteen floats per vector,
// for activations in nChw16c. Built with -mavx512f (Makefile) and called only where the CPU has
// it; nothing here but the transforms, so that no code the rest of the library shares is
// compiled for AVX-512.
#include <immintrin.h>

#include "cpu/winograd_f4x3_transforms.hpp"

namespace popup {
namespace {

struct Lanes16 {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }    // a b + c
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a b
};

}  // namespace

void winograd_f4x3_inputs_avx512(const WinogradShape& s, const F4x3Tiles& r, const float* x,
                                 float* v, int64_t v_stride) {
  f4x3::inputs_transform<Lanes16>(s, r, x, v, v_stride);
}

void winograd_f4x3_grads_avx512(const WinogradShape& s, const F4x3Tiles& r, const float* dy,
                                float* m, int64_t m_stride, int64_t chunk) {
  f4x3::grads_transform<Lanes16>(s, r, dy, m, m_stride, chunk);
}

}  // namespace popup

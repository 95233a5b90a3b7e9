// popup's own AVX2 convolution kernels against the double-precision reference convolutions.
// Winograd F(2x2, 3x3) (lib/cpu/winograd_f2x3.hpp): forward, backward-data through the transposed
// weights, accumulation, odd sizes, output channels not a multiple of 16, single-pixel images,
// both activation layouts; the mask applied in the weight transform. The weight gradient by
// Winograd F(4x4, 3x3) (lib/cpu/winograd_f4x3_grad.hpp) on the same shapes, over several
// chunks of tiles, and the same bits from 1 and 3 threads and from either layout. The weight
// gradient over inputs of few channels (lib/cpu/narrow_weight_grad.hpp). Skipped, saying so, on
// CPUs without AVX2 and FMA.
#include <boost/test/unit_test.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/narrow_weight_grad.hpp"
#include "cpu/winograd_f2x3.hpp"
#include "cpu/winograd_f4x3_grad.hpp"
#include "reference_ops.hpp"
#include "test_networks.hpp"

namespace utf = boost::unit_test;
using popup::WinogradShape;
using namespace test_networks;

namespace {

// F(2x2, 3x3)'s transforms multiply by 0, ±1 and ±1/2 only: its error is a few roundings of
// sums of 9 * in products, as the direct convolution's (measured: 1e-6 to 3e-6 of the largest
// output on the layers of conv4 and resnet18), so the bound has a tenfold margin.
constexpr double tol = 1e-5;
// F(4x4, 3x3)'s transforms multiply by up to 8 (and its G by 1/24): its weight gradients
// measured 1.6e-6 to 4.0e-6 of the largest on the layers of conv4, conv6 and resnet18 at batch
// 128, 2.5 to 4 times F(2x2)'s; the same bound, with a margin of 2.5.

boost::test_tools::assertion_result avx2(utf::test_unit_id) {
  boost::test_tools::assertion_result r(popup::winograd_f2x3_supported());
  r.message() << "skipped (this CPU has no AVX2 and FMA)";
  return r;
}

// plain NCHW -> nChw8c or nChw16c (block B) and back (c a multiple of B)
int64_t B = 8;
std::vector<float> blocked(const reference::Tensor& t) {
  std::vector<float> b(t.v.size());
  for (int64_t n = 0; n < t.n; ++n)
    for (int64_t c = 0; c < t.c; ++c)
      for (int64_t y = 0; y < t.h; ++y)
        for (int64_t x = 0; x < t.w; ++x)
          b[static_cast<size_t>((((n * (t.c / B) + c / B) * t.h + y) * t.w + x) * B + c % B)] =
              static_cast<float>(t.at(n, c, y, x));
  return b;
}
reference::Tensor plain(const std::vector<float>& b, int64_t n, int64_t c, int64_t h, int64_t w) {
  reference::Tensor t(n, c, h, w);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          t.at(i, j, y, x) =
              b[static_cast<size_t>((((i * (c / B) + j / B) * h + y) * w + x) * B + j % B)];
  return t;
}

reference::Tensor random_tensor(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  reference::Tensor t(n, c, h, w);
  const std::vector<float> f = floats(normal_values(t.v.size(), 1.0, seed));  // float values
  std::copy(f.begin(), f.end(), t.v.begin());
  return t;
}

void check(const std::string& what, const reference::Tensor& got, const reference::Tensor& want) {
  double worst = 0, scale = 0;
  for (size_t k = 0; k < want.v.size(); ++k) {
    const double d = std::fabs(got.v[k] - want.v[k]);
    if (!(d <= worst)) worst = d;  // a NaN too, which std::max would pass over
    scale = std::max(scale, std::fabs(want.v[k]));
  }
  BOOST_CHECK_MESSAGE(scale > 0, what << ": the reference output is zero");
  BOOST_CHECK_MESSAGE(worst <= tol * scale,
                      what << ": largest difference " << worst << " against " << scale);
}

// Forward and backward-data of one shape against the reference; then the same forward added
// to an output that holds ones.
void check_shape(const WinogradShape& s) {
  B = s.block;
  const std::string what = std::to_string(s.in) + "->" + std::to_string(s.out) + " at " +
                           std::to_string(s.h) + "x" + std::to_string(s.w) + ", batch " +
                           std::to_string(s.n) + ", nChw" + std::to_string(s.block) + "c";
  const reference::ConvShape g{s.out, 3, 3, 1, 1};
  const reference::Tensor x = random_tensor(s.n, s.in, s.h, s.w, 1);
  const std::vector<float> wf =
      floats(normal_values(static_cast<size_t>(s.out * s.in * 9), 0.3, 2));
  const std::vector<double> w(wf.begin(), wf.end());

  std::vector<float> u(popup::winograd_f2x3_weights_size(s));
  popup::winograd_f2x3_weights(s, wf.data(), nullptr, false, u.data());
  const std::vector<float> xb = blocked(x);
  std::vector<float> y(static_cast<size_t>(s.n * s.out * s.h * s.w), 7.0f);
  popup::winograd_f2x3_run(s, xb.data(), u.data(), y.data());
  const reference::Tensor want = reference::conv_forward(x, w, g);
  check(what + " forward", plain(y, s.n, s.out, s.h, s.w), want);

  std::fill(y.begin(), y.end(), 1.0f);
  popup::winograd_f2x3_run(s, xb.data(), u.data(), y.data(), true);
  reference::Tensor plus_one = want;
  for (double& v : plus_one.v) v += 1;
  check(what + " forward, accumulated", plain(y, s.n, s.out, s.h, s.w), plus_one);

  // backward-data of the forward convolution: from out channels to in channels
  const WinogradShape t{s.n, s.out, s.in, s.h, s.w, s.block};
  const reference::Tensor dy = random_tensor(s.n, s.out, s.h, s.w, 3);
  std::vector<float> ut(popup::winograd_f2x3_weights_size(t));
  popup::winograd_f2x3_weights(t, wf.data(), nullptr, true, ut.data());
  std::vector<float> dx(static_cast<size_t>(s.n * s.in * s.h * s.w));
  popup::winograd_f2x3_run(t, blocked(dy).data(), ut.data(), dx.data());
  check(what + " backward-data", plain(dx, s.n, s.in, s.h, s.w),
        reference::conv_backward_data(x, w, g, dy));

  // a mask applied in the transform: the transform of w * mask, bit for bit
  std::vector<uint8_t> mask(wf.size());
  std::vector<float> product(wf.size());
  for (size_t i = 0; i < wf.size(); ++i) {
    mask[i] = static_cast<uint8_t>(i % 5 < 3);
    product[i] = mask[i] ? wf[i] : 0.0f;
  }
  for (const bool transposed : {false, true}) {
    const WinogradShape& shape = transposed ? t : s;
    std::vector<float> masked(popup::winograd_f2x3_weights_size(shape)), want(masked.size());
    popup::winograd_f2x3_weights(shape, wf.data(), mask.data(), transposed, masked.data());
    popup::winograd_f2x3_weights(shape, product.data(), nullptr, transposed, want.data());
    BOOST_CHECK_MESSAGE(masked == want, what << ": the masked transform differs from w * mask's");
  }

  // in scratch memory full of NaN: a value read before it is written shows in the gradient
  std::vector<float> dw(wf.size()),
      scratch(popup::winograd_f4x3_weight_grad_scratch(s), std::nanf(""));
  popup::winograd_f4x3_weight_grad(s, xb.data(), blocked(dy).data(), dw.data(), scratch.data());
  reference::Tensor got(s.out, s.in, 3, 3), want_dw(s.out, s.in, 3, 3);
  got.v.assign(dw.begin(), dw.end());
  want_dw.v = reference::conv_backward_weights(x, g, dy);
  check(what + " weight gradient", got, want_dw);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(winograd_f2x3, *utf::precondition(&avx2))

BOOST_AUTO_TEST_CASE(matches_the_reference_convolution) {
  check_shape({2, 16, 32, 6, 6});      // even sizes, whole tiles
  check_shape({3, 8, 24, 7, 5});       // odd sizes; 24 output channels (padded to 32 inside)
  check_shape({1, 24, 8, 1, 1});       // one pixel: every input of the tile but one is padding
  check_shape({13, 16, 16, 3, 4});     // 13 * 2 * 2 = 52 tiles: blocks with a partial last kernel
  check_shape({2, 32, 16, 5, 6, 16});  // nChw16c, AVX-512's layout
  check_shape({3, 16, 48, 7, 4, 16});
  check_shape({4, 128, 120, 12, 12});  // 144 tiles
  check_shape({12, 64, 40, 16, 16});   // 192 4x4 tiles: the weight gradient's chunks of 126, the
                                       // last partial; 40 output channels (48 inside)
}

// The weight gradient sums every value in tile order: the thread count changes no bit.
BOOST_AUTO_TEST_CASE(weight_gradient_bits_do_not_depend_on_the_threads) {
  const WinogradShape s{12, 64, 40, 16, 16};
  B = s.block;
  const std::vector<float> x = blocked(random_tensor(s.n, s.in, s.h, s.w, 4)),
                           dy = blocked(random_tensor(s.n, s.out, s.h, s.w, 5));
  std::vector<float> one(static_cast<size_t>(s.out * s.in * 9)), three(one.size());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  popup::winograd_f4x3_weight_grad(s, x.data(), dy.data(), one.data());
  omp_set_num_threads(3);
  popup::winograd_f4x3_weight_grad(s, x.data(), dy.data(), three.data());
  omp_set_num_threads(threads);
  BOOST_CHECK(std::any_of(one.begin(), one.end(), [](float v) { return v != 0; }));
  BOOST_CHECK(one == three);
}

// Over nChw16c the transforms run sixteen channels to a vector (AVX-512, where the CPU has it),
// over nChw8c eight (AVX2): each channel's values take the same operations either way, so the
// weight gradient has the same bits in both layouts. 7x9 images: tiles cut by every edge.
BOOST_AUTO_TEST_CASE(weight_gradient_bits_do_not_depend_on_the_layout) {
  const WinogradShape s8{5, 32, 48, 7, 9, 8};
  WinogradShape s16 = s8;
  s16.block = 16;
  const reference::Tensor x = random_tensor(s8.n, s8.in, s8.h, s8.w, 6),
                          dy = random_tensor(s8.n, s8.out, s8.h, s8.w, 7);
  std::vector<float> eight(static_cast<size_t>(s8.out * s8.in * 9)), sixteen(eight.size());
  B = 8;
  popup::winograd_f4x3_weight_grad(s8, blocked(x).data(), blocked(dy).data(), eight.data());
  B = 16;
  popup::winograd_f4x3_weight_grad(s16, blocked(x).data(), blocked(dy).data(), sixteen.data());
  B = 8;
  BOOST_CHECK(std::any_of(eight.begin(), eight.end(), [](float v) { return v != 0; }));
  const auto differ = std::mismatch(eight.begin(), eight.end(), sixteen.begin());
  BOOST_CHECK_MESSAGE(
      differ.first == eight.end(),
      "nChw16c's gradient differs from nChw8c's first at index " << differ.first - eight.begin());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(narrow_weight_grad, *utf::precondition(&avx2))

// First layers over grey and RGB images, odd sizes, both gradient layouts; 1 and 3 threads
// give the same bits.
BOOST_AUTO_TEST_CASE(matches_the_reference_weight_gradient) {
  const popup::NarrowShape shapes[] = {
      {5, 1, 16, 7, 9, 8}, {3, 3, 32, 6, 5, 16}, {2, 4, 8, 1, 1, 8}, {4, 2, 24, 4, 4, 8}};
  for (const popup::NarrowShape& s : shapes) {
    B = s.block;
    BOOST_REQUIRE(popup::narrow_weight_grad_fits(s));
    const std::string what = std::to_string(s.in) + "->" + std::to_string(s.out) + " at " +
                             std::to_string(s.h) + "x" + std::to_string(s.w) + ", nChw" +
                             std::to_string(s.block) + "c";
    const reference::Tensor x = random_tensor(s.n, s.in, s.h, s.w, 6);
    const reference::Tensor dy = random_tensor(s.n, s.out, s.h, s.w, 7);
    const std::vector<float> xf(x.v.begin(), x.v.end()), dyb = blocked(dy);
    std::vector<float> scratch(popup::narrow_weight_grad_scratch(s));
    std::vector<float> one(static_cast<size_t>(s.out * s.in * 9)), three(one.size());
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    popup::narrow_weight_grad(s, xf.data(), dyb.data(), one.data(), scratch.data());
    omp_set_num_threads(3);
    popup::narrow_weight_grad(s, xf.data(), dyb.data(), three.data(), scratch.data());
    omp_set_num_threads(threads);
    reference::Tensor got(s.out, s.in, 3, 3), want(s.out, s.in, 3, 3);
    got.v.assign(one.begin(), one.end());
    want.v = reference::conv_backward_weights(x, {s.out, 3, 3, 1, 1}, dy);
    check(what, got, want);
    BOOST_CHECK_MESSAGE(one == three, what << ": 1 and 3 threads differ");
  }
  BOOST_TEST(!popup::narrow_weight_grad_fits({2, 5, 8, 4, 4, 8}));   // five input channels
  BOOST_TEST(!popup::narrow_weight_grad_fits({2, 1, 12, 4, 4, 8}));  // 12: not whole blocks
}

BOOST_AUTO_TEST_SUITE_END()

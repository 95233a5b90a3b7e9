// popup's masked reorder (lib/cpu/masked_reorder.hpp) against oneDNN's reorder of w * mask, bit
// for bit: plain, transposed and blocked layouts, the layouts oneDNN's f32 convolutions and inner
// products choose on this CPU, channels that do not fill a block (the padding must be zeros),
// and no mask (a plain copy). Values include -0, which the mask must turn into +0.
#include <boost/test/unit_test.hpp>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/executor.hpp"
#include "cpu/masked_reorder.hpp"

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

namespace {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// The layout `to` written by MaskedReorder and by oneDNN's reorder of w * mask (or of w), whole
// buffers compared as bits; the first difference is reported.
void check(const memory::desc& to, bool with_mask) {
  BOOST_TEST_CONTEXT("layout of " << to.get_size() << " bytes, mask " << with_mask) {
    BOOST_TEST_REQUIRE(popup::MaskedReorder::takes(to));
    const memory::dims dims = to.dims();
    int64_t n = 1;
    for (const int64_t d : dims) n *= d;
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::normal_distribution<float> normal;
    std::vector<float> w(static_cast<size_t>(n));
    std::vector<uint8_t> mask(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      w[static_cast<size_t>(i)] = i % 7 == 3 ? -0.0f : normal(rng);
      mask[static_cast<size_t>(i)] = static_cast<uint8_t>(rng() & 1);
    }
    std::vector<float> product(w.size());
    if (with_mask)
      popup::masked_weights(n, w.data(), mask.data(), product.data());
    else
      product = w;
    const Tag plain_tag = dims.size() == 4 ? Tag::oihw : dims.size() == 2 ? Tag::oi : Tag::x;
    memory plain({dims, f32, plain_tag}, engine(), product.data());
    memory want(to, engine()), got(to, engine());
    const size_t floats = to.get_size() / sizeof(float);
    // both filled with garbage first: the padding must be written, not left
    std::memset(want.get_data_handle(), 0x7f, to.get_size());
    std::memset(got.get_data_handle(), 0x7f, to.get_size());
    dnnl::stream stream(engine());
    dnnl::reorder(plain, want).execute(stream, plain, want);
    stream.wait();
    popup::MaskedReorder(to).run(w.data(), with_mask ? mask.data() : nullptr,
                                 static_cast<float*>(got.get_data_handle()));
    const auto* a = static_cast<const uint32_t*>(want.get_data_handle());
    const auto* b = static_cast<const uint32_t*>(got.get_data_handle());
    size_t first = floats;
    for (size_t i = 0; i < floats && first == floats; ++i)
      if (a[i] != b[i]) first = i;
    BOOST_TEST(first == floats, "first difference at float " << first << " of " << floats);
  }
}

memory::desc conv_weights(int64_t o, int64_t i, int64_t k, int64_t size) {
  const memory::dims src{32, i, size, size}, w{o, i, k, k}, dst{32, o, size, size};
  const dnnl::convolution_forward::primitive_desc pd(
      dnnl::convolution_forward::desc(
          dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
          memory::desc(src, f32, Tag::any), memory::desc(w, f32, Tag::any),
          memory::desc(dst, f32, Tag::any), {1, 1}, {k / 2, k / 2}, {k / 2, k / 2}),
      engine());
  return pd.weights_desc();
}

memory::desc linear_weights(int64_t o, const memory::desc& src) {
  memory::dims w = src.dims();
  w[0] = o;
  const dnnl::inner_product_forward::primitive_desc pd(
      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, src,
                                        memory::desc(w, f32, Tag::any),
                                        memory::desc({src.dims()[0], o}, f32, Tag::any)),
      engine());
  return pd.weights_desc();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(masked_reorder)

BOOST_AUTO_TEST_CASE(named_layouts_match_onednn) {
  for (const bool with_mask : {true, false}) {
    check(memory::desc({64, 32, 3, 3}, f32, Tag::oihw), with_mask);
    check(memory::desc({64, 32, 3, 3}, f32, Tag::hwio), with_mask);
    check(memory::desc({64, 32, 3, 3}, f32, Tag::OIhw8i8o), with_mask);
    check(memory::desc({64, 32, 3, 3}, f32, Tag::OIhw16i16o), with_mask);
    check(memory::desc({20, 12, 3, 3}, f32, Tag::OIhw8i8o), with_mask);  // both padded
    check(memory::desc({10, 3, 5, 5}, f32, Tag::Ohwi8o), with_mask);
    check(memory::desc({10, 300}, f32, Tag::oi), with_mask);
    check(memory::desc({10, 300}, f32, Tag::io), with_mask);
    check(memory::desc({10, 300}, f32, Tag::AB16b64a), with_mask);
  }
}

BOOST_AUTO_TEST_CASE(layouts_the_primitives_choose_match_onednn) {
  check(conv_weights(64, 64, 3, 14), true);
  check(conv_weights(20, 3, 3, 28), true);
  check(conv_weights(10, 12, 1, 7), true);
  const memory::desc blocked({32, 128, 7, 7}, f32, Tag::nChw8c);
  const memory::desc wide({32, 64, 7, 7}, f32, Tag::nChw16c);
  check(linear_weights(256, blocked), true);
  check(linear_weights(10, blocked), true);
  check(linear_weights(24, wide), true);
  check(linear_weights(10, memory::desc({32, 300}, f32, Tag::nc)), true);
}

BOOST_AUTO_TEST_CASE(takes_only_plain_f32_blocked_layouts) {
  BOOST_TEST(!popup::MaskedReorder::takes(
      memory::desc({64, 32, 3, 3}, memory::data_type::bf16, Tag::OIhw8i8o)));
  BOOST_TEST(popup::MaskedReorder::takes(memory::desc({64, 32, 3, 3}, f32, Tag::OIhw8i8o)));
}

BOOST_AUTO_TEST_SUITE_END()

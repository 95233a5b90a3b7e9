// popup's ReLU kernels against oneDNN's primitives, from the same inputs. The fused max-pool and
// ReLU backward (lib/cpu/pool_relu_backward.hpp) against oneDNN's pooling backward followed by
// its ReLU backward, from the same forward and workspace: nChw8c and nChw16c, odd sizes (a last
// row and column in no window), ties in a window (values on a coarse grid, many of them zero
// after the ReLU), negative output gradients and -0; values compared exactly, the sign of a zero
// may differ (oneDNN's ReLU backward multiplies by 0). The ReLU through one bit per value
// (lib/cpu/relu_bits.hpp) bit for bit, forward and backward, with -0, +0 and NaN among the
// inputs and -0 among the gradients (oneDNN's ReLU gives +0 for the first three, its backward
// -0 where a negative gradient is stopped), in place and not.
#include <boost/test/unit_test.hpp>

#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/pool_relu_backward.hpp"
#include "cpu/relu_bits.hpp"

using dnnl::memory;
using Tag = memory::format_tag;
namespace utf = boost::unit_test;
constexpr auto f32 = memory::data_type::f32;

namespace {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

boost::test_tools::assertion_result avx2(utf::test_unit_id) {
  boost::test_tools::assertion_result r(popup::pool_relu_backward_fits({1, 8, 2, 2, 8}));
  r.message() << "skipped (this CPU has no AVX2)";
  return r;
}

std::vector<float> grid_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pick(-4, 4);  // ties are common
  std::vector<float> v(n);
  for (float& x : v) x = 0.5f * static_cast<float>(pick(rng));
  return v;
}

void check(const popup::PoolReluShape& s) {
  BOOST_TEST_CONTEXT(s.n << "x" << s.c << "x" << s.h << "x" << s.w << " nChw" << s.block << "c") {
    const Tag tag = s.block == 16 ? Tag::nChw16c : Tag::nChw8c;
    const memory::desc in({s.n, s.c, s.h, s.w}, f32, tag),
        out({s.n, s.c, s.h / 2, s.w / 2}, f32, tag);
    dnnl::stream stream(engine());
    const dnnl::eltwise_forward::primitive_desc relu(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu_use_dst_for_bwd, in, 0.f,
         0.f},
        engine());
    const dnnl::pooling_forward::primitive_desc pool({dnnl::prop_kind::forward_training,
                                                      dnnl::algorithm::pooling_max,
                                                      in,
                                                      out,
                                                      {2, 2},
                                                      {2, 2},
                                                      {0, 0},
                                                      {0, 0}},
                                                     engine());
    BOOST_TEST_REQUIRE(
        (pool.workspace_desc() == memory::desc(out.dims(), memory::data_type::u8, tag)));
    memory x(in, engine()), a(in, engine()), y(out, engine()), ws(pool.workspace_desc(), engine());
    memory dy(out, engine()), da(in, engine()), dx(in, engine()), fused(in, engine());
    const size_t in_n = in.get_size() / 4, out_n = out.get_size() / 4;
    const std::vector<float> xv = grid_values(in_n, 1);
    std::vector<float> dyv = grid_values(out_n, 2);
    for (size_t k = 0; k < out_n; k += 7) dyv[k] = -0.0f;
    std::copy(xv.begin(), xv.end(), static_cast<float*>(x.get_data_handle()));
    std::copy(dyv.begin(), dyv.end(), static_cast<float*>(dy.get_data_handle()));
    std::fill_n(static_cast<float*>(fused.get_data_handle()), in_n, 7.0f);  // all overwritten
    dnnl::eltwise_forward(relu).execute(stream, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, a}});
    dnnl::pooling_forward(pool).execute(
        stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_DST, y}, {DNNL_ARG_WORKSPACE, ws}});
    const dnnl::pooling_backward::primitive_desc pool_back(
        {dnnl::algorithm::pooling_max, in, out, {2, 2}, {2, 2}, {0, 0}, {0, 0}}, engine(), pool);
    dnnl::pooling_backward(pool_back).execute(
        stream, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, da}, {DNNL_ARG_WORKSPACE, ws}});
    const dnnl::eltwise_backward::primitive_desc relu_back(
        {dnnl::algorithm::eltwise_relu_use_dst_for_bwd, in, in, 0.f, 0.f}, engine(), relu);
    dnnl::eltwise_backward(relu_back).execute(
        stream, {{DNNL_ARG_DIFF_DST, da}, {DNNL_ARG_DST, a}, {DNNL_ARG_DIFF_SRC, dx}});
    stream.wait();
    popup::pool_relu_backward(s, static_cast<const float*>(y.get_data_handle()),
                              static_cast<const float*>(dy.get_data_handle()),
                              static_cast<const uint8_t*>(ws.get_data_handle()),
                              static_cast<float*>(fused.get_data_handle()));
    const float* want = static_cast<const float*>(dx.get_data_handle());
    const float* got = static_cast<const float*>(fused.get_data_handle());
    size_t wrong = 0, first = 0, passed = 0;
    for (size_t k = 0; k < in_n; ++k) {
      if (want[k] != 0) ++passed;
      if (got[k] != want[k] && wrong++ == 0) first = k;
    }
    BOOST_TEST(passed > in_n / 20);  // the case is not all zeros
    BOOST_TEST(wrong == 0u, wrong << " values differ, the first at " << first << ": " << got[first]
                                  << " against " << want[first]);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(relu_kernels, *utf::precondition(&avx2))

BOOST_AUTO_TEST_CASE(matches_onednn_pool_then_relu_backward) {
  for (const int64_t block : {8, 16}) {
    check({3, 2 * block, 8, 8, block});
    check({2, block, 7, 9, block});  // odd: the last row and column get zeros
    check({1, block, 3, 2, block});
  }
}

// oneDNN's ReLU (eltwise_relu_use_dst_for_bwd, as the plans use) forward and backward over n
// values, and popup's through the bits, compared as bits.
void check_bits(int64_t n, bool in_place) {
  BOOST_TEST_CONTEXT(n << " values, in place " << in_place) {
    const memory::desc md({n}, f32, Tag::x);
    dnnl::stream stream(engine());
    const dnnl::eltwise_forward::primitive_desc fwd(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu_use_dst_for_bwd, md, 0.f,
         0.f},
        engine());
    const dnnl::eltwise_backward::primitive_desc bwd(
        {dnnl::algorithm::eltwise_relu_use_dst_for_bwd, md, md, 0.f, 0.f}, engine(), fwd);
    std::vector<float> x = grid_values(static_cast<size_t>(n), 3), dy = grid_values(x.size(), 4);
    x[0] = -0.0f;
    x[1] = 0.0f;
    x[2] = std::numeric_limits<float>::quiet_NaN();
    for (size_t k = 3; k < dy.size(); k += 5) dy[k] = -0.0f;
    std::vector<float> y(x.size()), dx(x.size());
    memory xm(md, engine(), x.data()), ym(md, engine(), y.data()), dym(md, engine(), dy.data()),
        dxm(md, engine(), dx.data());
    dnnl::eltwise_forward(fwd).execute(stream, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DST, ym}});
    dnnl::eltwise_backward(bwd).execute(
        stream, {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DST, ym}, {DNNL_ARG_DIFF_SRC, dxm}});
    stream.wait();
    std::vector<float> own_y = x, own_dx = dy;  // in place: overwritten
    std::vector<uint8_t> bits(static_cast<size_t>(popup::relu_bits_bytes(n)), 0xA5);
    std::vector<float> out(x.size(), 7.0f), grad(x.size(), 7.0f);
    popup::relu_bits_forward(x.data(), in_place ? own_y.data() : out.data(), bits.data(), n);
    popup::relu_bits_backward(dy.data(), bits.data(), in_place ? own_dx.data() : grad.data(), n);
    if (!in_place) {
      own_y = out;
      own_dx = grad;
    }
    BOOST_TEST(std::memcmp(own_y.data(), y.data(), y.size() * sizeof(float)) == 0);
    BOOST_TEST(std::memcmp(own_dx.data(), dx.data(), dx.size() * sizeof(float)) == 0);
    BOOST_TEST(std::signbit(dx[3]));  // the case holds a -0 gradient, which the check compares
  }
}

BOOST_AUTO_TEST_CASE(relu_bits_match_onednn_bit_for_bit) {
  for (const bool in_place : {false, true}) {
    check_bits(64, in_place);
    check_bits(8 * 100003, in_place);  // several threads' shares
  }
}

BOOST_AUTO_TEST_SUITE_END()

// scripts/winograd-layer-bench.cpp: a developer benchmark, never part of make check. Times one
// 3x3 convolution layer (stride 1, padding 1, batch 128, nChw8c activations) forward with
// oneDNN's direct algorithm and with popup's own Winograd F(2x2, 3x3) (lib/cpu/winograd_f2x3),
// medians of 7 runs after 1, checks that the two agree, times popup's weight gradient of the
// same shape (Winograd F(4x4, 3x3), lib/cpu/winograd_f4x3_grad), and prints one line:
//   IN->OUT@SIZE  dnnl IMPL MS (GFLOP/s)  winograd MS + weights MS  ratio Rx  maxdiff/max E
//   weight gradient MS (Rx the forward)
// Where oneDNN has a Winograd convolution (AVX-512), a second line weighs its passes against
// popup's weight gradient over the same activations in oneDNN's layout (what `auto` weighs
// for a plan's winograd-f4x3-grad):
//   IN->OUT@SIZE  oneDNN winograd: forward MS  backward-data MS  weight gradient MS;
//   popup's F(4x4) weight gradient (nChwBc) MS  ratio Rx
// Build and run from the top of the tree (cap oneDNN to AVX2 to stand in for an AVX2 machine):
//   make && g++ -std=c++17 -O2 -fopenmp -Ilib -o build/winograd-layer-bench
//     scripts/winograd-layer-bench.cpp build/lib/libpopup.a -ldnnl      (one line)
//   DNNL_MAX_CPU_ISA=AVX2 build/winograd-layer-bench 64 64 28     # IN OUT SIZE
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/winograd_f2x3.hpp"
#include "cpu/winograd_f4x3_grad.hpp"

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <typename F>
double median_ms(F f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < 7; ++i) {
    const double a = now();
    f();
    t.push_back(now() - a);
  }
  std::sort(t.begin(), t.end());
  return t[3] * 1e3;
}

// The second line (see the top), where oneDNN has a Winograd convolution of the shape whose
// input layout popup's weight gradient takes.
void onednn_winograd_line(const dnnl::engine& engine, dnnl::stream& stream, int64_t n, int64_t c,
                          int64_t o, int64_t h) {
  const auto any = [](const memory::dims& d) { return memory::desc(d, f32, Tag::any); };
  const memory::dims src_dims{n, c, h, h}, w_dims{o, c, 3, 3}, dst_dims{n, o, h, h};
  const auto a = dnnl::algorithm::convolution_winograd;
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_backward_weights::primitive_desc bwd_w;
  dnnl::convolution_backward_data::primitive_desc bwd_d;
  try {
    fwd = {{dnnl::prop_kind::forward_training,
            a,
            any(src_dims),
            any(w_dims),
            any(dst_dims),
            {1, 1},
            {1, 1},
            {1, 1}},
           engine};
    bwd_w = {{a, any(src_dims), any(w_dims), any(dst_dims), {1, 1}, {1, 1}, {1, 1}}, engine, fwd};
    bwd_d = {{a, any(src_dims), any(w_dims), any(dst_dims), {1, 1}, {1, 1}, {1, 1}}, engine, fwd};
  } catch (const dnnl::error&) {
    return;
  }
  int64_t block = 0;
  for (int64_t b : {16, 8})
    if (!block && c % b == 0 && o % b == 0 &&
        bwd_w.src_desc() == memory::desc(src_dims, f32, b == 16 ? Tag::nChw16c : Tag::nChw8c) &&
        bwd_w.diff_dst_desc() == memory::desc(dst_dims, f32, b == 16 ? Tag::nChw16c : Tag::nChw8c))
      block = b;
  if (!block || std::string(fwd.impl_info_str()).compare(0, 3, "ref") == 0) return;
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  const auto filled = [&](const memory::desc& md) {
    memory m(md, engine);
    float* p = static_cast<float*>(m.get_data_handle());
    for (size_t i = 0; i < md.get_size() / sizeof(float); ++i) p[i] = normal(rng);
    return m;
  };
  const memory x = filled(bwd_w.src_desc()), dy = filled(bwd_w.diff_dst_desc());
  const memory w = filled(fwd.weights_desc()), wd = filled(bwd_d.weights_desc());
  const memory y(fwd.dst_desc(), engine), dx(bwd_d.diff_src_desc(), engine),
      dw(bwd_w.diff_weights_desc(), engine);
  const auto timed = [&](const dnnl::primitive& p, const std::unordered_map<int, memory>& args) {
    return median_ms([&] {
      p.execute(stream, args);
      stream.wait();
    });
  };
  const double fwd_ms = timed(dnnl::convolution_forward(fwd),
                              {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}});
  const double data_ms =
      timed(dnnl::convolution_backward_data(bwd_d),
            {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, wd}, {DNNL_ARG_DIFF_SRC, dx}});
  const double grad_ms =
      timed(dnnl::convolution_backward_weights(bwd_w),
            {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
  const popup::WinogradShape shape{n, c, o, h, h, block};
  std::vector<float> own(static_cast<size_t>(o * c * 9)),
      scratch(popup::winograd_f4x3_weight_grad_scratch(shape));
  const double own_ms = median_ms([&] {
    popup::winograd_f4x3_weight_grad(shape, static_cast<const float*>(x.get_data_handle()),
                                     static_cast<const float*>(dy.get_data_handle()), own.data(),
                                     scratch.data());
  });
  std::printf(
      "%lld->%lld@%lld  oneDNN winograd: forward %.2f ms  backward-data %.2f ms  weight gradient "
      "%.2f ms;  popup's F(4x4) weight gradient (nChw%lldc) %.2f ms  ratio %.2fx\n",
      static_cast<long long>(c), static_cast<long long>(o), static_cast<long long>(h), fwd_ms,
      data_ms, grad_ms, static_cast<long long>(block), own_ms, grad_ms / own_ms);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: winograd-layer-bench IN OUT SIZE (channels multiples of 8)\n");
    return 2;
  }
  const int64_t n = 128, c = std::atoi(argv[1]), o = std::atoi(argv[2]), h = std::atoi(argv[3]);
  if (c <= 0 || o <= 0 || h <= 0 || c % 8 || o % 8 || !popup::winograd_f2x3_supported()) {
    std::fprintf(stderr, "winograd-layer-bench: channels must be multiples of 8, on AVX2\n");
    return 2;
  }
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::dims src_dims{n, c, h, h}, w_dims{o, c, 3, 3}, dst_dims{n, o, h, h};
  memory src({src_dims, f32, Tag::nChw8c}, engine), dst({dst_dims, f32, Tag::nChw8c}, engine),
      plain({w_dims, f32, Tag::oihw}, engine);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  float* x = static_cast<float*>(src.get_data_handle());
  for (int64_t i = 0; i < n * c * h * h; ++i) x[i] = normal(rng);
  float* g = static_cast<float*>(plain.get_data_handle());
  for (int64_t i = 0; i < o * c * 9; ++i) g[i] = 0.1f * normal(rng);
  const dnnl::convolution_forward::primitive_desc pd(
      dnnl::convolution_forward::desc(
          dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src.get_desc(),
          memory::desc(w_dims, f32, Tag::any), dst.get_desc(), {1, 1}, {1, 1}, {1, 1}),
      engine);
  memory weights(pd.weights_desc(), engine);
  dnnl::reorder(plain, weights).execute(stream, plain, weights);
  stream.wait();
  dnnl::convolution_forward conv(pd);
  const double direct_ms = median_ms([&] {
    conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
  });
  const popup::WinogradShape shape{n, c, o, h, h};
  std::vector<float> u(popup::winograd_f2x3_weights_size(shape)),
      y(static_cast<size_t>(n * o * h * h));
  const double weights_ms =
      median_ms([&] { popup::winograd_f2x3_weights(shape, g, nullptr, false, u.data()); });
  const double winograd_ms =
      median_ms([&] { popup::winograd_f2x3_run(shape, x, u.data(), y.data()); });
  // the weight gradient over the same input, the output standing in for its gradient
  std::vector<float> dw(static_cast<size_t>(o * c * 9)),
      scratch(popup::winograd_f4x3_weight_grad_scratch(shape));
  const double weight_grad_ms = median_ms(
      [&] { popup::winograd_f4x3_weight_grad(shape, x, y.data(), dw.data(), scratch.data()); });
  const float* want = static_cast<const float*>(dst.get_data_handle());
  double largest = 0, worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    largest = std::max(largest, static_cast<double>(std::fabs(want[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(want[i] - y[i])));
  }
  const double gflop = 2.0 * n * o * c * 9 * h * h / 1e9;
  std::printf(
      "%lld->%lld@%lld  dnnl %s %.2f ms (%.0f GFLOP/s)  winograd %.2f ms + weights %.2f ms"
      "  ratio %.2fx  maxdiff/max %.2g  weight gradient %.2f ms (%.2fx the forward)\n",
      static_cast<long long>(c), static_cast<long long>(o), static_cast<long long>(h),
      pd.impl_info_str(), direct_ms, gflop / direct_ms * 1e3, winograd_ms, weights_ms,
      direct_ms / winograd_ms, worst / largest, weight_grad_ms, weight_grad_ms / winograd_ms);
  onednn_winograd_line(engine, stream, n, c, o, h);
  return worst <= 1e-5 * largest ? 0 : 1;
}

// scripts/winograd-layer-bench.cpp: a developer benchmark, never part of make check. Times one
// 3x3 convolution layer (stride 1, padding 1, batch 128, nChw8c activations) forward with
// oneDNN's direct algorithm and with popup's own Winograd F(2x2, 3x3) (lib/cpu/winograd_f2x3),
// medians of 7 runs after 1, checks that the two agree, times popup's weight gradient of the
// same shape (Winograd F(4x4, 3x3), lib/cpu/winograd_f4x3_grad), and prints one line:
//   IN->OUT@SIZE  dnnl IMPL MS (GFLOP/s)  winograd MS + weights MS  ratio Rx  maxdiff/max E
//   weight gradient MS (Rx the forward)
// Build and run from the top of the tree (cap oneDNN to AVX2 to stand in for an AVX2 machine):
//   g++ -std=c++17 -O2 -fopenmp -Ilib -o build/winograd-layer-bench
//     scripts/winograd-layer-bench.cpp lib/cpu/winograd_f2x3.cpp lib/cpu/winograd_f4x3_grad.cpp
//     lib/cpu/relu_bits.cpp -ldnnl      (one line)
//   DNNL_MAX_CPU_ISA=AVX2 build/winograd-layer-bench 64 64 28     # IN OUT SIZE
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
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
  return worst <= 1e-5 * largest ? 0 : 1;
}

// scripts/onednn-conv-bench.cpp: a developer benchmark, never part of make check, built and run
// by scripts/onednn-compare.sh. Times oneDNN's fp32 3x3 convolutions (padding 1, batch 128,
// format_tag::any, forward_training) of the layers of conv4 at 1x28x28 and of resnet18 at
// 3x32x32: forward, backward data and backward weights, each the median of 7 runs after 1
// warm-up, with the direct and the Winograd algorithm. One source for oneDNN 2.x and 3.x, whose
// primitive descriptors are made differently. Prints tab-separated lines:
//   version  MAJOR.MINOR.PATCH  HASH  CPU_RUNTIME   (dnnl_version(), first)
//   isa      NAME                                   (get_effective_cpu_isa())
//   row      SET  LAYER  ALGORITHM  FWD_MS  BWD_D_MS  BWD_W_MS  FWD_IMPL  BWD_D_IMPL  BWD_W_IMPL
// one row per layer and algorithm. An operation whose primitive descriptor cannot be created has
// time "unavailable" and implementation "unavailable: WHY"; one not run (a first layer's
// backward data) has "-" for both. Last, "cpu SECONDS": the process's CPU time (user + system),
// from which the script tells how much other processes ran meanwhile. With --version it prints
// the first two lines only.
#include <oneapi/dnnl/dnnl.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using dnnl::memory;
using Forward = dnnl::convolution_forward;
using BackwardData = dnnl::convolution_backward_data;
using BackwardWeights = dnnl::convolution_backward_weights;

constexpr int kBatch = 128;
constexpr int kWarmup = 1;
constexpr int kTimed = 7;

struct Layer {
  const char* set;  // the network it belongs to
  int in, out, size, stride;
  bool backward_data;  // false for a first layer: its input needs no gradient
};

const Layer kLayers[] = {
    {"conv4", 1, 64, 28, 1, false},     {"conv4", 64, 64, 28, 1, true},
    {"conv4", 64, 128, 14, 1, true},    {"conv4", 128, 128, 14, 1, true},
    {"conv4", 128, 256, 7, 1, true},    {"conv4", 256, 256, 7, 1, true},
    {"resnet18", 64, 64, 32, 1, true},  {"resnet18", 128, 128, 16, 1, true},
    {"resnet18", 256, 256, 8, 1, true}, {"resnet18", 512, 512, 4, 1, true},
    {"resnet18", 64, 128, 32, 2, true},
};

std::string layer_name(const Layer& l) {
  std::string name =
      std::to_string(l.in) + "->" + std::to_string(l.out) + "@" + std::to_string(l.size);
  if (l.stride != 1) name += " s" + std::to_string(l.stride);
  return name;
}

// A layer's tensors: NCHW source and destination, OIHW 3x3 weights, padding 1.
struct Shapes {
  memory::dims src, weights, dst, strides, padding;
};

Shapes shapes_of(const Layer& l) {
  const memory::dim out_size = (l.size + 2 - 3) / l.stride + 1;
  return {{kBatch, l.in, l.size, l.size},
          {l.out, l.in, 3, 3},
          {kBatch, l.out, out_size, out_size},
          {l.stride, l.stride},
          {1, 1}};
}

memory::desc any_f32(const memory::dims& d) {
  return {d, memory::data_type::f32, memory::format_tag::any};
}

// The primitive descriptors: oneDNN 3 takes the shapes directly, oneDNN 2 an operation
// descriptor. Each throws dnnl::error where the library has no implementation.
Forward::primitive_desc forward_pd(const dnnl::engine& e, dnnl::algorithm a, const Shapes& s) {
  const auto src = any_f32(s.src), w = any_f32(s.weights), dst = any_f32(s.dst);
#if DNNL_VERSION_MAJOR >= 3
  return Forward::primitive_desc(e, dnnl::prop_kind::forward_training, a, src, w, dst, s.strides,
                                 s.padding, s.padding);
#else
  return Forward::primitive_desc(Forward::desc(dnnl::prop_kind::forward_training, a, src, w, dst,
                                               s.strides, s.padding, s.padding),
                                 e);
#endif
}

BackwardData::primitive_desc backward_data_pd(const dnnl::engine& e, dnnl::algorithm a,
                                              const Shapes& s,
                                              const Forward::primitive_desc& hint) {
  const auto src = any_f32(s.src), w = any_f32(s.weights), dst = any_f32(s.dst);
#if DNNL_VERSION_MAJOR >= 3
  return BackwardData::primitive_desc(e, a, src, w, dst, s.strides, s.padding, s.padding, hint);
#else
  return BackwardData::primitive_desc(
      BackwardData::desc(a, src, w, dst, s.strides, s.padding, s.padding), e, hint);
#endif
}

BackwardWeights::primitive_desc backward_weights_pd(const dnnl::engine& e, dnnl::algorithm a,
                                                    const Shapes& s,
                                                    const Forward::primitive_desc& hint) {
  const auto src = any_f32(s.src), w = any_f32(s.weights), dst = any_f32(s.dst);
#if DNNL_VERSION_MAJOR >= 3
  return BackwardWeights::primitive_desc(e, a, src, w, dst, s.strides, s.padding, s.padding, hint);
#else
  return BackwardWeights::primitive_desc(
      BackwardWeights::desc(a, src, w, dst, s.strides, s.padding, s.padding), e, hint);
#endif
}

// One operation to time: its primitive, implementation name and arguments.
struct Op {
  dnnl::primitive primitive;
  std::string impl;
  std::vector<std::pair<int, memory::desc>> args;
};

Op forward_op(const Forward::primitive_desc& pd) {
  return {Forward(pd),
          pd.impl_info_str(),
          {{DNNL_ARG_SRC, pd.src_desc()},
           {DNNL_ARG_WEIGHTS, pd.weights_desc()},
           {DNNL_ARG_DST, pd.dst_desc()}}};
}

Op backward_data_op(const BackwardData::primitive_desc& pd) {
  return {BackwardData(pd),
          pd.impl_info_str(),
          {{DNNL_ARG_DIFF_SRC, pd.diff_src_desc()},
           {DNNL_ARG_WEIGHTS, pd.weights_desc()},
           {DNNL_ARG_DIFF_DST, pd.diff_dst_desc()}}};
}

Op backward_weights_op(const BackwardWeights::primitive_desc& pd) {
  return {BackwardWeights(pd),
          pd.impl_info_str(),
          {{DNNL_ARG_SRC, pd.src_desc()},
           {DNNL_ARG_DIFF_WEIGHTS, pd.diff_weights_desc()},
           {DNNL_ARG_DIFF_DST, pd.diff_dst_desc()}}};
}

// The outcome of one operation: a time, or why there is none.
struct Result {
  std::string ms;
  std::string impl;
};

const Result kNotRun = {"-", "-"};

Result unavailable(const dnnl::error& e) {
  return {"unavailable", std::string("unavailable: ") + e.what()};
}

memory filled(const memory::desc& d, const dnnl::engine& e) {
  memory m(d, e);
  float* p = static_cast<float*>(m.get_data_handle());
  std::fill(p, p + d.get_size() / sizeof(float), 0.01f);
  return m;
}

double median_ms(const std::function<void()>& run) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < kWarmup; ++i) run();
  std::vector<double> ms;
  for (int i = 0; i < kTimed; ++i) {
    const Clock::time_point t0 = Clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[kTimed / 2];
}

Result time_op(const Op& op, const dnnl::engine& e, dnnl::stream& s) {
  std::unordered_map<int, memory> args;
  for (const auto& [arg, desc] : op.args) args.emplace(arg, filled(desc, e));
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", median_ms([&] {
                  op.primitive.execute(s, args);
                  s.wait();
                }));
  return {ms, op.impl};
}

// Times the operation MAKE returns, or says why it cannot be made.
Result attempt(const std::function<Op()>& make, const dnnl::engine& e, dnnl::stream& s) {
  try {
    return time_op(make(), e, s);
  } catch (const dnnl::error& error) {
    return unavailable(error);
  }
}

void print_row(const Layer& l, dnnl::algorithm a, const Result (&r)[3]) {
  const char* algorithm = a == dnnl::algorithm::convolution_direct ? "direct" : "winograd";
  std::printf("row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.set, layer_name(l).c_str(), algorithm,
              r[0].ms.c_str(), r[1].ms.c_str(), r[2].ms.c_str(), r[0].impl.c_str(),
              r[1].impl.c_str(), r[2].impl.c_str());
  std::fflush(stdout);
}

void bench_layer(const Layer& l, dnnl::algorithm a, const dnnl::engine& e, dnnl::stream& s) {
  const Shapes shapes = shapes_of(l);
  Result r[3] = {kNotRun, kNotRun, kNotRun};  // forward, backward data, backward weights
  Forward::primitive_desc hint;
  try {
    hint = forward_pd(e, a, shapes);
  } catch (const dnnl::error& error) {
    r[0] = r[2] = unavailable(error);
    if (l.backward_data) r[1] = r[0];
    print_row(l, a, r);
    return;
  }
  r[0] = attempt([&] { return forward_op(hint); }, e, s);
  if (l.backward_data)
    r[1] = attempt([&] { return backward_data_op(backward_data_pd(e, a, shapes, hint)); }, e, s);
  r[2] =
      attempt([&] { return backward_weights_op(backward_weights_pd(e, a, shapes, hint)); }, e, s);
  print_row(l, a, r);
}

const char* isa_name(dnnl::cpu_isa isa) {
  using dnnl::cpu_isa;
  switch (isa) {
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

void print_version() {
  const dnnl_version_t* v = dnnl_version();
  std::printf("version\t%d.%d.%d\t%s\t%s\n", v->major, v->minor, v->patch, v->hash,
              v->cpu_runtime == DNNL_RUNTIME_OMP ? "openmp" : "other");
  std::printf("isa\t%s\n", isa_name(dnnl::get_effective_cpu_isa()));
}

void print_cpu_time() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  const double seconds = u.ru_utime.tv_sec + u.ru_stime.tv_sec +
                         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  std::printf("cpu\t%.2f\n", seconds);
}

}  // namespace

int main(int argc, char** argv) {
  print_version();
  if (argc > 1 && std::string(argv[1]) == "--version") return 0;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  for (const Layer& l : kLayers) {
    for (dnnl::algorithm a :
         {dnnl::algorithm::convolution_direct, dnnl::algorithm::convolution_winograd})
      bench_layer(l, a, engine, stream);
  }
  print_cpu_time();
  return 0;
}

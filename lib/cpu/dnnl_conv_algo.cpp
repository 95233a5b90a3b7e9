// Choosing, per layer shape, between oneDNN's direct and Winograd convolutions, popup's own
// Winograd F(2x2, 3x3) (winograd_f2x3.hpp), and oneDNN's Winograd with popup's weight gradient
// (winograd_f4x3_grad.hpp).
#include "cpu/dnnl_conv_algo.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cpu/dnnl_plan_builder.hpp"
#include "cpu/winograd_f2x3.hpp"
#include "cpu/winograd_f4x3_grad.hpp"

namespace popup {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

memory::desc any_f32(const memory::dims& d) { return {d, memory::data_type::f32, Tag::any}; }

// The primitive descriptors of the shape's passes under one algorithm; data_grad and weight
// left empty where the shape does not need them. Throws dnnl::error where oneDNN has none.
struct ConvPds {
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_backward_data::primitive_desc data;
  dnnl::convolution_backward_weights::primitive_desc weights;
};

ConvPds conv_pds(const dnnl::engine& engine, dnnl::algorithm a, const DnnlConvShape& s) {
  ConvPds p;
  const auto src = any_f32(s.src), w = any_f32(s.weights), dst = any_f32(s.dst);
  p.fwd = dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, a, src, w, dst, s.strides,
                                      s.pad, s.pad),
      engine);
  if (!s.train) return p;
  p.weights = dnnl::convolution_backward_weights::primitive_desc(
      dnnl::convolution_backward_weights::desc(a, src, w, dst, s.strides, s.pad, s.pad), engine,
      p.fwd);
  if (s.data_grad)
    p.data = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(a, src, w, dst, s.strides, s.pad, s.pad), engine,
        p.fwd);
  return p;
}

// A zeroed memory of md (timing garbage could meet denormals).
memory zeroed(const memory::desc& md, const dnnl::engine& engine) {
  memory m(md, engine);
  std::memset(m.get_data_handle(), 0, md.get_size());
  return m;
}

using Key = std::tuple<memory::dims, memory::dims, memory::dims, memory::dims, bool, bool>;

// Seconds of the fastest of 5 runs of `run` after a first. The least, not the median: other
// processes on the cores only ever add time, and a burst of theirs over a median's runs chose
// a slower algorithm now and then on a shared 2-core machine.
double fastest_seconds(const std::function<void()>& run) {
  double best = 0;
  for (int r = 0; r < 6; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r == 1 || (r > 1 && s < best)) best = s;
  }
  return best;
}

WinogradShape f2x3_shape(const DnnlConvShape& s) {
  return {s.src[0], s.weights[1], s.weights[0], s.src[2], s.src[3]};
}

// Seconds (fastest_seconds) of what a plan runs for the shape with popup's Winograd: the weight
// transforms (every training step), the forward, the weight gradient and the backward-data.
double winograd_f2x3_seconds(const DnnlConvShape& shape) {
  const WinogradShape s = f2x3_shape(shape), t{s.n, s.out, s.in, s.h, s.w};
  const size_t src = static_cast<size_t>(s.n * s.in * s.h * s.w),
               dst = static_cast<size_t>(s.n * s.out * s.h * s.w),
               weights = static_cast<size_t>(s.out * s.in * 9);
  std::vector<float> x(src, 0.0f), y(dst, 0.0f), dx(src, 0.0f), g(weights, 0.0f), dg(weights);
  std::vector<float> u(winograd_f2x3_weights_size(s)), ut(winograd_f2x3_weights_size(t));
  const int threads = omp_get_max_threads();  // the scratch memory a plan keeps
  std::vector<float> scratch(
      std::max({winograd_f2x3_run_scratch(s, threads), winograd_f2x3_run_scratch(t, threads),
                winograd_f4x3_weight_grad_scratch(s)}));
  return fastest_seconds([&] {
    winograd_f2x3_weights(s, g.data(), nullptr, false, u.data());
    winograd_f2x3_run(s, x.data(), u.data(), y.data(), false, scratch.data(), threads);
    if (!shape.train) return;
    winograd_f4x3_weight_grad(s, x.data(), y.data(), dg.data(), scratch.data());
    if (!shape.data_grad) return;
    winograd_f2x3_weights(t, g.data(), nullptr, true, ut.data());
    winograd_f2x3_run(t, y.data(), ut.data(), dx.data(), false, scratch.data(), threads);
  });
}

// Seconds (fastest_seconds) of popup's F(4x4, 3x3) weight gradient of the shape over
// activations in nChw{block}c.
double winograd_f4x3_grad_seconds(const DnnlConvShape& shape, int64_t block) {
  WinogradShape s = f2x3_shape(shape);
  s.block = block;
  std::vector<float> x(static_cast<size_t>(s.n * s.in * s.h * s.w), 0.0f),
      dy(static_cast<size_t>(s.n * s.out * s.h * s.w), 0.0f),
      dw(static_cast<size_t>(s.out * s.in * 9)), scratch(winograd_f4x3_weight_grad_scratch(s));
  return fastest_seconds(
      [&] { winograd_f4x3_weight_grad(s, x.data(), dy.data(), dw.data(), scratch.data()); });
}

// The channel block (dnnl_winograd_block) of the input layout oneDNN's Winograd takes for the
// shape; 0 where popup's weight gradient does not take that layout.
int64_t dnnl_winograd_src_block(const dnnl::engine& engine, const DnnlConvShape& shape) {
  try {
    return dnnl_winograd_block(
        conv_pds(engine, dnnl::algorithm::convolution_winograd, shape).fwd.src_desc(),
        shape.weights[1], shape.weights[0]);
  } catch (const dnnl::error&) {
    return 0;
  }
}

}  // namespace

bool winograd_f2x3_fits(const DnnlConvShape& s) {
  const memory::dims& w = s.weights;  // [out, in, kh, kw]
  return w.size() == 4 && w[2] == 3 && w[3] == 3 && s.strides == memory::dims{1, 1} &&
         s.pad == memory::dims{1, 1} && w[0] % 8 == 0 && w[1] % 8 == 0 && winograd_f2x3_supported();
}

bool dnnl_winograd_available(const dnnl::engine& engine, const DnnlConvShape& shape) {
  try {
    const ConvPds p = conv_pds(engine, dnnl::algorithm::convolution_winograd, shape);
    if (dnnl_is_reference(p.fwd)) return false;
    if (shape.train && dnnl_is_reference(p.weights)) return false;
    return !(shape.train && shape.data_grad && dnnl_is_reference(p.data));
  } catch (const dnnl::error&) {
    return false;
  }
}

DnnlConvSeconds dnnl_conv_seconds(const dnnl::engine& engine, dnnl::algorithm algorithm,
                                  const DnnlConvShape& shape) {
  const ConvPds p = conv_pds(engine, algorithm, shape);
  dnnl::stream stream(engine);
  using Passes = std::vector<std::pair<dnnl::primitive, std::unordered_map<int, memory>>>;
  Passes forward_data, weights;
  const memory src = zeroed(p.fwd.src_desc(), engine), w = zeroed(p.fwd.weights_desc(), engine);
  const memory dst = zeroed(p.fwd.dst_desc(), engine);
  forward_data.push_back({dnnl::convolution_forward(p.fwd),
                          {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}}});
  if (shape.train)
    weights.push_back({dnnl::convolution_backward_weights(p.weights),
                       {{DNNL_ARG_SRC, zeroed(p.weights.src_desc(), engine)},
                        {DNNL_ARG_DIFF_DST, zeroed(p.weights.diff_dst_desc(), engine)},
                        {DNNL_ARG_DIFF_WEIGHTS, zeroed(p.weights.diff_weights_desc(), engine)}}});
  if (shape.train && shape.data_grad)
    forward_data.push_back({dnnl::convolution_backward_data(p.data),
                            {{DNNL_ARG_DIFF_DST, zeroed(p.data.diff_dst_desc(), engine)},
                             {DNNL_ARG_WEIGHTS, zeroed(p.data.weights_desc(), engine)},
                             {DNNL_ARG_DIFF_SRC, zeroed(p.data.diff_src_desc(), engine)}}});
  const auto seconds = [&](Passes& passes) {
    return passes.empty() ? 0.0 : fastest_seconds([&] {
      for (auto& [primitive, args] : passes) primitive.execute(stream, args);
      stream.wait();
    });
  };
  return {seconds(forward_data), seconds(weights)};
}

ConvAlgo dnnl_conv_choose(const dnnl::engine& engine, ConvAlgo requested,
                          const DnnlConvShape& shape) {
  if (requested == ConvAlgo::direct) return ConvAlgo::direct;
  const bool onednn = dnnl_winograd_available(engine, shape), own = winograd_f2x3_fits(shape);
  if (requested == ConvAlgo::winograd)
    return onednn ? ConvAlgo::winograd : own ? ConvAlgo::winograd_f2x3 : ConvAlgo::direct;
  if (!onednn && !own) return ConvAlgo::direct;
  static std::mutex mutex;
  static std::map<Key, ConvAlgo> chosen;
  const Key key{shape.src, shape.weights, shape.strides, shape.pad, shape.train, shape.data_grad};
  const std::lock_guard<std::mutex> lock(mutex);
  const auto found = chosen.find(key);
  if (found != chosen.end()) return found->second;
  ConvAlgo best = ConvAlgo::direct;
  double seconds = dnnl_conv_seconds(engine, dnnl::algorithm::convolution_direct, shape).total();
  const auto consider = [&](ConvAlgo a, double s) {
    if (s < seconds) best = a, seconds = s;
  };
  DnnlConvSeconds winograd;
  if (onednn) {
    winograd = dnnl_conv_seconds(engine, dnnl::algorithm::convolution_winograd, shape);
    consider(ConvAlgo::winograd, winograd.total());
  }
  if (own) consider(ConvAlgo::winograd_f2x3, winograd_f2x3_seconds(shape));
  const int64_t block = onednn && own && shape.train ? dnnl_winograd_src_block(engine, shape) : 0;
  if (block)  // oneDNN's forward and backward-data as timed above, popup's gradient
    consider(ConvAlgo::winograd_f4x3_grad,
             winograd.forward_data + winograd_f4x3_grad_seconds(shape, block));
  return chosen[key] = best;
}

}  // namespace popup

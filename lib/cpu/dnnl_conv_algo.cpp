// Choosing between oneDNN's direct and Winograd convolutions, per layer shape.
#include "cpu/dnnl_conv_algo.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cpu/dnnl_plan_builder.hpp"

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

}  // namespace

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

double dnnl_conv_seconds(const dnnl::engine& engine, dnnl::algorithm algorithm,
                         const DnnlConvShape& shape) {
  const ConvPds p = conv_pds(engine, algorithm, shape);
  dnnl::stream stream(engine);
  std::vector<std::pair<dnnl::primitive, std::unordered_map<int, memory>>> passes;
  const memory src = zeroed(p.fwd.src_desc(), engine), w = zeroed(p.fwd.weights_desc(), engine);
  const memory dst = zeroed(p.fwd.dst_desc(), engine);
  passes.push_back({dnnl::convolution_forward(p.fwd),
                    {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}}});
  if (shape.train) {
    passes.push_back({dnnl::convolution_backward_weights(p.weights),
                      {{DNNL_ARG_SRC, zeroed(p.weights.src_desc(), engine)},
                       {DNNL_ARG_DIFF_DST, zeroed(p.weights.diff_dst_desc(), engine)},
                       {DNNL_ARG_DIFF_WEIGHTS, zeroed(p.weights.diff_weights_desc(), engine)}}});
    if (shape.data_grad)
      passes.push_back({dnnl::convolution_backward_data(p.data),
                        {{DNNL_ARG_DIFF_DST, zeroed(p.data.diff_dst_desc(), engine)},
                         {DNNL_ARG_WEIGHTS, zeroed(p.data.weights_desc(), engine)},
                         {DNNL_ARG_DIFF_SRC, zeroed(p.data.diff_src_desc(), engine)}}});
  }
  std::vector<double> runs;
  for (int r = 0; r < 6; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (auto& [primitive, args] : passes) primitive.execute(stream, args);
    stream.wait();
    if (r > 0)
      runs.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(runs.begin(), runs.begin() + runs.size() / 2, runs.end());
  return runs[runs.size() / 2];
}

ConvAlgo dnnl_conv_choose(const dnnl::engine& engine, ConvAlgo requested,
                          const DnnlConvShape& shape) {
  if (requested == ConvAlgo::direct || !dnnl_winograd_available(engine, shape))
    return ConvAlgo::direct;
  if (requested == ConvAlgo::winograd) return ConvAlgo::winograd;
  static std::mutex mutex;
  static std::map<Key, ConvAlgo> chosen;
  const Key key{shape.src, shape.weights, shape.strides, shape.pad, shape.train, shape.data_grad};
  const std::lock_guard<std::mutex> lock(mutex);
  const auto found = chosen.find(key);
  if (found != chosen.end()) return found->second;
  const double direct = dnnl_conv_seconds(engine, dnnl::algorithm::convolution_direct, shape);
  const double winograd = dnnl_conv_seconds(engine, dnnl::algorithm::convolution_winograd, shape);
  return chosen[key] = winograd < direct ? ConvAlgo::winograd : ConvAlgo::direct;
}

}  // namespace popup

// Names of the training methods and the per-method rules shared by training and evaluation
// (method.hpp).
#include "train/method.hpp"

#include <cmath>

#include "error.hpp"
#include "format/mask.hpp"
#include "train/redraw.hpp"

namespace popup {

namespace {

struct Named {
  Method method;
  const char* name;
};

constexpr Named kMethods[] = {
    {Method::edge_popup, "edge-popup"}, {Method::supermask, "supermask"},
    {Method::dense, "dense"},           {Method::global, "global"},
    {Method::biprop, "biprop"},         {Method::iterand, "iterand"},
};

}  // namespace

Method method_parse(const std::string& name) {
  for (const Named& m : kMethods)
    if (name == m.name) return m.method;
  throw InvalidArgument("", "unknown method '" + name +
                                "' (known: edge-popup, supermask, dense, global, biprop, iterand)");
}

const char* method_name(Method method) {
  for (const Named& m : kMethods)
    if (method == m.method) return m.name;
  return "?";
}

double global_keep_fraction(double k, int64_t epoch, int64_t ramp_epochs) {
  if (ramp_epochs <= 0 || epoch >= ramp_epochs) return k;
  const double left = 1.0 - static_cast<double>(epoch) / static_cast<double>(ramp_epochs);
  return k + (1.0 - k) * left * left * left;
}

float biprop_alpha(const float* w, const uint8_t* mask, int64_t n) {
  double sum = 0;
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i)
    if (mask[i]) {
      sum += std::fabs(static_cast<double>(w[i]));
      ++kept;
    }
  return kept ? static_cast<float>(sum / static_cast<double>(kept)) : 0.0f;
}

void biprop_weights(const float* w, const uint8_t* mask, int64_t n, float alpha, float* out) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float sign = static_cast<float>((w[i] > 0.0f) - (w[i] < 0.0f));
    out[i] = mask[i] ? sign * alpha : 0.0f;
  }
}

void supermask_sample(const float* logits, int64_t n, uint64_t seed, RandomStream stream,
                      uint32_t draw, uint32_t tensor, uint8_t* mask) {
  const PhiloxKey key{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (blocks >= 4096)
  for (int64_t b = 0; b < blocks; ++b) {
    const PhiloxCounter x =
        philox4x32_10({static_cast<uint32_t>(b), draw, tensor, static_cast<uint32_t>(stream)}, key);
    for (int64_t j = 0; j < 4 && 4 * b + j < n; ++j) {
      const int64_t i = 4 * b + j;
      const double u = (static_cast<double>(x[static_cast<size_t>(j)]) + 0.5) * 0x1p-32;
      const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[i])));
      mask[i] = u < p;
    }
  }
}

namespace {

std::string extra_of(const Mask& mask, const std::string& key, const std::string& fallback) {
  const auto it = mask.extra.find(key);
  return it == mask.extra.end() ? fallback : it->second;
}

}  // namespace

Method mask_method(const Mask& mask) {
  return method_parse(extra_of(mask, "popup.train.method", "edge-popup"));
}

bool mask_layer_dense(const Mask& mask, size_t t) {
  return (t == 0 && extra_of(mask, "popup.train.first_layer_dense", "0") == "1") ||
         (t + 1 == mask.layers.size() &&
          extra_of(mask, "popup.train.last_layer_dense", "0") == "1");
}

void mask_effective_weights(const Mask& mask, std::vector<std::vector<float>>& weights) {
  redraws_apply(mask, weights);
  if (mask_method(mask) != Method::biprop) {
    mask_apply(mask, weights);
    return;
  }
  std::vector<uint8_t> keep;
  for (size_t t = 0; t < weights.size(); ++t) {
    const LayerMask& layer = mask.layers.at(t);
    const int64_t n = static_cast<int64_t>(weights[t].size());
    keep.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) keep[static_cast<size_t>(i)] = layer.get(i);
    float* w = weights[t].data();
    if (mask_layer_dense(mask, t)) {
      for (int64_t i = 0; i < n; ++i)
        if (!keep[static_cast<size_t>(i)]) w[i] = 0.0f;
      continue;
    }
    biprop_weights(w, keep.data(), n, biprop_alpha(w, keep.data(), n), w);
  }
}

}  // namespace popup

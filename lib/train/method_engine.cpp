// The host engine of global top-k, biprop, dense training and the supermask (method_engine.hpp):
// the scored layers' parameters, gradients and masks live in three contiguous arrays, so that
// global top-k is one TopkSelector over all of them (its index tie-break is then the (layer,
// element) order) and per-layer selection works on slices.
#include "train/method_engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "error.hpp"
#include "backend/executor.hpp"

namespace popup {

MethodEngine::MethodEngine(Executor& exec, const OptimizerConfig& config, Method method,
                           uint64_t seed)
    : ScoreEngineOnHost(config), exec_(exec), method_(method), seed_(seed) {
  if (method == Method::edge_popup || method == Method::iterand)
    throw InvalidArgument("", "method engine: edge-popup runs on the score engines");
}

void MethodEngine::load(size_t t, int64_t n, const float* weights, const float* scores,
                        int64_t keep) {
  if (optimizer_.made() || t != layers_.size())
    throw InvalidArgument("", "method engine: tensors are loaded once, in order, before training");
  Layer l;
  l.n = n;
  l.keep = keep;
  l.scored = scores != nullptr;
  if (method_ != Method::dense || !l.scored) l.weights.assign(weights, weights + n);
  if (l.scored) {
    l.offset = static_cast<int64_t>(params_.size());
    params_.insert(params_.end(), scores, scores + n);
    grads_.resize(params_.size(), 0.0f);
    masks_.resize(params_.size(), uint8_t{1});
  }
  optimizer_.tensor_add(l.scored ? l.n : 0);
  layers_.push_back(std::move(l));
}

MethodEngine::Layer& MethodEngine::scored(size_t t) {
  if (t >= layers_.size())
    throw InvalidArgument("", "method engine: no tensor " + std::to_string(t));
  if (!layers_[t].scored)
    throw InvalidArgument("", "method engine: tensor " + std::to_string(t) + " is dense");
  return layers_[t];
}

// The masks of every scored layer from the parameters.
void MethodEngine::masks_update() {
  switch (method_) {
    case Method::global: {
      const int64_t total = static_cast<int64_t>(params_.size());
      global_selector_.select(params_.data(), total, topk_keep_count(total, keep_fraction_),
                              masks_.data(), topk_scratch_);
      break;
    }
    case Method::biprop:
      for (Layer& l : layers_)
        if (l.scored)
          l.selector.select(params_.data() + l.offset, l.n, l.keep, masks_.data() + l.offset,
                            topk_scratch_);
      break;
    case Method::supermask:
      for (size_t t = 0; t < layers_.size(); ++t) {
        const Layer& l = layers_[t];
        if (!l.scored) continue;
        const float* s = params_.data() + l.offset;
        uint8_t* m = masks_.data() + l.offset;
        if (evaluation_)
          for (int64_t i = 0; i < l.n; ++i) m[i] = s[i] > 0.0f;
        else
          supermask_sample(s, l.n, seed_, RandomStream::supermask,
                           static_cast<uint32_t>(optimizer_.steps()), static_cast<uint32_t>(t), m);
      }
      break;
    default:  // dense: no mask
      break;
  }
}

// w_eff of layer t to the executor.
void MethodEngine::weights_hand(size_t t) {
  Layer& l = layers_[t];
  if (!l.scored) {
    exec_.set_weights(t, l.weights.data());
    return;
  }
  const float* s = params_.data() + l.offset;
  if (method_ == Method::dense) {
    exec_.set_weights(t, s);
    return;
  }
  const uint8_t* m = masks_.data() + l.offset;
  const float* w = l.weights.data();
  if (method_ != Method::biprop) {
    exec_.set_masked_weights(t, l.n, w, m);
    return;
  }
  if (work_.size() < static_cast<size_t>(l.n)) work_.resize(static_cast<size_t>(l.n));
  l.alpha = biprop_alpha(w, m, l.n);
  biprop_weights(w, m, l.n, l.alpha, work_.data());
  exec_.set_weights(t, work_.data());
}

void MethodEngine::refresh() {
  masks_update();
  for (size_t t = 0; t < layers_.size(); ++t) weights_hand(t);
}

void MethodEngine::set_evaluation(bool on) {
  if (method_ != Method::supermask || on == evaluation_) {
    evaluation_ = on;
    return;
  }
  evaluation_ = on;
  refresh();
}

void MethodEngine::step(double lr) {
  std::vector<float*> grads(layers_.size(), nullptr);
  for (size_t t = 0; t < layers_.size(); ++t)
    if (layers_[t].scored) grads[t] = grads_.data() + layers_[t].offset;
  exec_.backward(grads);
  Optimizer& opt = optimizer_.get();
  opt.begin_step();
  for (size_t t = 0; t < layers_.size(); ++t) {
    const Layer& l = layers_[t];
    if (!l.scored) continue;
    float* s = params_.data() + l.offset;
    float* g = grads_.data() + l.offset;
    switch (method_) {
      case Method::dense: opt.update(t, s, g, lr); break;
      case Method::supermask: {
        const float* w = l.weights.data();
        for (int64_t i = 0; i < l.n; ++i) {
          const float p = 1.0f / (1.0f + std::exp(-s[i]));
          g[i] = g[i] * w[i] * (p * (1.0f - p));
        }
        opt.update(t, s, g, lr);
        break;
      }
      default:  // global, biprop: dL/ds = g * w * sign(s)
        opt.update_straight_through(t, s, g, l.weights.data(), lr);
        break;
    }
  }
  refresh();
}

void MethodEngine::scores(size_t t, float* out) {
  const Layer& l = scored(t);
  std::copy(params_.begin() + l.offset, params_.begin() + l.offset + l.n, out);
}

void MethodEngine::set_scores(size_t t, const float* in) {
  const Layer& l = scored(t);
  std::copy(in, in + l.n, params_.begin() + l.offset);
}

void MethodEngine::mask(size_t t, uint8_t* out) {
  if (t >= layers_.size())
    throw InvalidArgument("", "method engine: no tensor " + std::to_string(t));
  const Layer& l = layers_[t];
  if (!l.scored || method_ == Method::dense) {
    std::fill(out, out + l.n, uint8_t{1});
  } else if (method_ == Method::supermask) {
    const float* s = params_.data() + l.offset;
    for (int64_t i = 0; i < l.n; ++i) out[i] = s[i] > 0.0f;
  } else {
    std::copy(masks_.begin() + l.offset, masks_.begin() + l.offset + l.n, out);
  }
}

}  // namespace popup

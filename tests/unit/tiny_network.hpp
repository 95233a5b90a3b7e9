// The 17-weight network of the format fixtures (fc:width=0.01 on 1x2x2, 2 classes) and
// deterministic recipe, weights, scores and mask for it.
#pragma once

#include <cmath>

#include "format/mask.hpp"
#include "format/recipe.hpp"

inline popup::Recipe tiny_recipe() {
  popup::Recipe r;
  r.arch = "fc:width=0.01";
  r.input = {1, 2, 2};
  r.classes = 2;
  r.init = popup::InitKind::signed_constant;
  r.seed = 1;
  return popup::recipe_validated(r);
}

// Scores U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the scores stream of seed 7.
inline std::vector<std::vector<float>> tiny_scores() {
  const auto specs = popup::recipe_tensors(tiny_recipe());
  std::vector<std::vector<float>> scores;
  for (size_t t = 0; t < specs.size(); ++t) {
    std::vector<float> s(static_cast<size_t>(specs[t].numel()));
    const double bound = 1 / std::sqrt(static_cast<double>(specs[t].fan_in));
    for (size_t i = 0; i < s.size(); ++i) {
      const auto block =
          popup::philox_element(7, popup::RandomStream::scores, static_cast<uint32_t>(t), i);
      s[i] = static_cast<float>(bound * (2 * popup::random_uniform53(block) - 1));
    }
    scores.push_back(std::move(s));
  }
  return scores;
}

// Keeps the weights with a positive score; carries one F32 state tensor and provenance keys.
inline popup::Mask tiny_mask() {
  const popup::Recipe recipe = tiny_recipe();
  const auto specs = popup::recipe_tensors(recipe);
  const auto scores = tiny_scores();
  popup::Mask m;
  m.recipe = recipe;
  m.k = 0.5;
  for (size_t t = 0; t < specs.size(); ++t) {
    std::vector<uint8_t> keep;
    for (const float s : scores[t]) keep.push_back(s > 0);
    m.layers.push_back(popup::layer_mask_make(specs[t], 0.5, keep.data()));
  }
  popup::Tensor state;
  state.info.name = "bn.running_mean";
  state.info.dtype = popup::Dtype::F32;
  state.info.shape = {2};
  state.f32 = {0.5f, -0.25f};
  m.state.push_back(state);
  m.extra["popup.train.method"] = "edge-popup";
  m.extra["popup.train.epochs"] = "1";
  return m;
}

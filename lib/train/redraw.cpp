// IteRand's redraws (redraw.hpp): the picks of each event, the counts, the values from the
// recipe's seed, and the mask's record of the kept weights that were redrawn.
#include "train/redraw.hpp"

#include <algorithm>

#include "error.hpp"
#include "init/weights_generate.hpp"
#include "train/score_engine.hpp"

namespace popup {

std::string redraw_events_problem(int64_t every, int64_t steps) {
  if (every < 1) return "must be at least 1, got " + std::to_string(every);
  if (steps / every <= kRedrawEventsMax) return "";
  return "every " + std::to_string(every) + " steps gives " + std::to_string(steps / every) +
         " events in the run's " + std::to_string(steps) + " steps, more than " +
         std::to_string(kRedrawEventsMax) + " redraw events (a mask's counts are 16-bit); " +
         "give a larger K";
}

bool redraw_picked(uint64_t train_seed, uint32_t event, uint32_t tensor, uint64_t index,
                   double rate) {
  return random_uniform53(
             philox_numbered(train_seed, RandomStream::redraw_pick, event, tensor, index)) < rate;
}

RedrawState::RedrawState(const Recipe& recipe, const Network& net, const std::vector<bool>& dense,
                         uint64_t train_seed, double rate)
    : recipe_(recipe), specs_(net.tensors), train_seed_(train_seed), rate_(rate) {
  if (!(rate > 0 && rate <= 1)) throw InvalidArgument("--rerandomize-rate", "must be in (0, 1]");
  for (size_t t = 0; t < specs_.size(); ++t) {
    if (specs_[t].numel() > int64_t{UINT32_MAX})  // masks record U32 positions
      throw InvalidArgument("--method", "iterand: " + specs_[t].name + " has over 2^32 weights");
    counts_.emplace_back(dense.at(t) ? 0 : static_cast<size_t>(specs_[t].numel()), uint16_t{0});
  }
}

int64_t RedrawState::event(ScoreEngine& engine, uint32_t e) {
  if (e < 1 || e > kRedrawEventsMax)
    throw InvalidArgument("", "redraw event " + std::to_string(e) + " is not in 1.." +
                                  std::to_string(kRedrawEventsMax));
  int64_t total = 0;
  std::vector<uint8_t> mask;
  std::vector<int64_t> index;
  std::vector<float> values;
  for (size_t t = 0; t < specs_.size(); ++t) {
    std::vector<uint16_t>& counts = counts_[t];
    if (counts.empty()) continue;
    const int64_t n = static_cast<int64_t>(counts.size());
    const uint32_t tensor = static_cast<uint32_t>(t);
    mask.resize(counts.size());
    engine.mask(t, mask.data());
    std::vector<uint8_t> picked(counts.size(), 0);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
      picked[static_cast<size_t>(i)] =
          !mask[static_cast<size_t>(i)] &&
          redraw_picked(train_seed_, e, tensor, static_cast<uint64_t>(i), rate_);
    index.clear();
    for (int64_t i = 0; i < n; ++i)
      if (picked[static_cast<size_t>(i)]) index.push_back(i);
    values.resize(index.size());
    const double sigma = init_std(recipe_.init, specs_[t], recipe_.scale_k);
    const int64_t m = static_cast<int64_t>(index.size());
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < m; ++j) {
      const size_t i = static_cast<size_t>(index[static_cast<size_t>(j)]);
      const uint16_t g = ++counts[i];  // at most e <= 65535
      values[static_cast<size_t>(j)] =
          weight_redrawn(recipe_.init, sigma, recipe_.seed, tensor, i, g);
    }
    if (m > 0) engine.set_weights_at(t, index.data(), values.data(), m);
    total += m;
  }
  return total;
}

void RedrawState::set_counts(size_t t, const uint16_t* in) {
  std::vector<uint16_t>& counts = counts_.at(t);
  std::copy(in, in + counts.size(), counts.begin());
}

void RedrawState::apply(ScoreEngine& engine) const {
  std::vector<int64_t> index;
  std::vector<float> values;
  for (size_t t = 0; t < specs_.size(); ++t) {
    const std::vector<uint16_t>& counts = counts_[t];
    index.clear();
    values.clear();
    const double sigma = init_std(recipe_.init, specs_[t], recipe_.scale_k);
    for (size_t i = 0; i < counts.size(); ++i)
      if (counts[i] > 0) {
        index.push_back(static_cast<int64_t>(i));
        values.push_back(weight_redrawn(recipe_.init, sigma, recipe_.seed, static_cast<uint32_t>(t),
                                        i, counts[i]));
      }
    if (!index.empty())
      engine.set_weights_at(t, index.data(), values.data(), static_cast<int64_t>(index.size()));
  }
}

void RedrawState::record(Mask& mask) const {
  mask.redraw = kRedrawVersion;
  mask.redraws.assign(specs_.size(), LayerRedraws());
  for (size_t t = 0; t < specs_.size(); ++t) {
    const std::vector<uint16_t>& counts = counts_[t];
    const LayerMask& layer = mask.layers.at(t);
    for (size_t i = 0; i < counts.size(); ++i)
      if (counts[i] > 0 && layer.get(static_cast<int64_t>(i))) {
        mask.redraws[t].index.push_back(static_cast<uint32_t>(i));
        mask.redraws[t].count.push_back(counts[i]);
      }
  }
}

void layer_redraws_apply(const Recipe& recipe, size_t t, const TensorSpec& spec,
                         const LayerRedraws& redraws, float* w) {
  if (redraws.index.empty()) return;
  const double sigma = init_std(recipe.init, spec, recipe.scale_k);
  const int64_t m = static_cast<int64_t>(redraws.index.size());
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < m; ++j) {
    const size_t e = static_cast<size_t>(j);
    // mask_check_data made sure that index < n
    w[redraws.index[e]] = weight_redrawn(recipe.init, sigma, recipe.seed, static_cast<uint32_t>(t),
                                         redraws.index[e], redraws.count[e]);
  }
}

int64_t RedrawState::kept_redrawn(ScoreEngine& engine) const {
  int64_t total = 0;
  std::vector<uint8_t> mask;
  for (size_t t = 0; t < specs_.size(); ++t) {
    const std::vector<uint16_t>& counts = counts_[t];
    if (counts.empty()) continue;
    mask.resize(counts.size());
    engine.mask(t, mask.data());
    for (size_t i = 0; i < counts.size(); ++i) total += counts[i] > 0 && mask[i];
  }
  return total;
}

void redraws_apply(const Mask& mask, std::vector<std::vector<float>>& weights) {
  if (mask.redraw == 0) return;
  const std::vector<TensorSpec> specs = recipe_tensors(mask.recipe);
  for (size_t t = 0; t < mask.redraws.size() && t < weights.size(); ++t)
    layer_redraws_apply(mask.recipe, t, specs.at(t), mask.redraws[t], weights[t].data());
}

}  // namespace popup

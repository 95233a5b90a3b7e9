// IteRand (Chijiwa et al., NeurIPS 2021; DESIGN.md §4) with every redraw derived from the seeds:
// every `every` optimiser steps, each weight the current mask drops is redrawn with probability
// `rate`. Which weights an event redraws comes from the training seed; the value of a weight
// after its g-th redraw from the recipe's seed (formats/generation.md §10), so that a mask needs
// only the redraw counts of its kept weights (formats/mask.md, version 2) to stand for the
// exact weights it was trained with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/mask.hpp"
#include "format/recipe.hpp"
#include "net/network.hpp"

namespace popup {

class ScoreEngine;

// Files record redraw counts as U16: a run may hold at most this many events.
constexpr int64_t kRedrawEventsMax = 65535;

// Why a run of `steps` optimiser steps with an event every `every` steps cannot be recorded
// (more than kRedrawEventsMax events, or every < 1); empty when it can.
std::string redraw_events_problem(int64_t every, int64_t steps);

// Event e (from 1) redraws element `index` of tensor `tensor`, if the mask drops it, when
// random_uniform53 of philox_numbered(train_seed, redraw_pick, e, tensor, index) < rate.
bool redraw_picked(uint64_t train_seed, uint32_t event, uint32_t tensor, uint64_t index,
                   double rate);

// The redraw counts of one run, per weight of every scored layer (dense layers: none).
class RedrawState {
 public:
  RedrawState(const Recipe& recipe, const Network& net, const std::vector<bool>& dense,
              uint64_t train_seed, double rate);

  // Event e (after optimiser step e * every): for each scored layer, the engine's current
  // mask; every dropped weight picked has its count raised and its new value handed to the
  // engine (ScoreEngine::set_weights_at; dropped, so w * mask is unchanged). Returns the
  // number of weights redrawn.
  int64_t event(ScoreEngine& engine, uint32_t e);

  // Checkpoints: layer t's counts (empty for a dense layer), and setting them back, after
  // which apply() hands the engine the value of every redrawn weight.
  const std::vector<uint16_t>& counts(size_t t) const { return counts_.at(t); }
  void set_counts(size_t t, const uint16_t* in);
  void apply(ScoreEngine& engine) const;

  // The mask's record: for each layer, the kept weights with a count above 0.
  void record(Mask& mask) const;
  // How many weights the record of the engine's current masks would hold.
  int64_t kept_redrawn(ScoreEngine& engine) const;

 private:
  Recipe recipe_;
  std::vector<TensorSpec> specs_;
  uint64_t train_seed_;
  double rate_;
  std::vector<std::vector<uint16_t>> counts_;
};

// Layer t of `recipe` (its spec `spec`), generated into w: the recorded kept weights take their
// redrawn values.
void layer_redraws_apply(const Recipe& recipe, size_t t, const TensorSpec& spec,
                         const LayerRedraws& redraws, float* w);

// Evaluation: replace, in the weights generated from mask.recipe, every kept weight the mask
// records as redrawn by its redrawn value. Nothing for a mask without a record.
void redraws_apply(const Mask& mask, std::vector<std::vector<float>>& weights);

}  // namespace popup

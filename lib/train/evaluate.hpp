// Evaluation of a network on a data split: top-1 / top-5 accuracy, mean loss, throughput and
// (optionally) the confusion matrix. Shared by popup-train (per epoch) and popup-eval, so both
// report the same numbers for the same mask.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "backend/executor.hpp"
#include "format/mask.hpp"
#include "format/popup_file.hpp"

namespace popup {

class Communicator;

struct EvalResult {
  int64_t n = 0;
  double top1 = 0, top5 = 0;  // fractions
  double loss = 0;            // mean
  double seconds = 0;
  std::vector<int64_t> confusion;  // [true class][predicted class], classes x classes, if asked
  std::vector<float> logits;       // [n, classes] in data order, if asked (popup-eval --logits)
  std::vector<int32_t> labels;     // [n], with the logits
};

// Load BatchNorm running statistics from a mask's state tensors (names "<bn>.running_mean"
// and "<bn>.running_var") and, when the executor has affine BatchNorm, each BatchNorm's
// gamma and beta ("<bn>.weight", "<bn>.bias"); what the mask lacks keeps its initial value
// (mean 0, variance 1, gamma 1, beta 0).
void executor_load_state(Executor& exec, const std::vector<Tensor>& state);

// The executor must have been created with max_batch >= batch and hold the weights to test.
// popup-train evaluates with its training batch size, and popup-eval defaults to the batch
// size recorded in the mask, so both report the same accuracy to the last example.
// `data`: the handle of `split` uploaded to the executor (Executor::data_upload), or -1.
// `logits`: also keep every example's logits and label. n counts the examples evaluated: a
// streamed split's unreadable images are not (data/dataset.hpp).
// `comm` (data-parallel training, DESIGN.md §8): each rank evaluates its share of every batch
// (BatchLoader's shares) and the counts and loss are summed over the ranks, so that every rank
// returns the same result; the confusion matrix likewise; logits are not gathered (the caller
// asks for none).
EvalResult evaluate(Executor& exec, const DataSplit& split, int64_t batch, bool confusion,
                    int data = -1, bool logits = false, Communicator* comm = nullptr);

// popup-eval --eval-samples: a supermask evaluated with `samples` masks drawn from
// sigmoid(logits) (method.hpp's supermask_sample, RandomStream::supermask_eval, draw = the
// sample number 0, 1, ..., key `seed`); layers the mask keeps dense stay whole. `weights`
// are the frozen weights; the executor is left with the last sample's.
std::vector<EvalResult> evaluate_supermask_samples(Executor& exec, const Mask& mask,
                                                   const std::vector<std::vector<float>>& weights,
                                                   const std::vector<std::vector<float>>& logits,
                                                   const DataSplit& split, int64_t batch,
                                                   int64_t samples, uint64_t seed, int data = -1);

// The top-1 accuracies of sampled evaluations: mean, sample standard deviation (n - 1 in the
// denominator, 0 for one sample), min and max.
struct SampleSummary {
  double mean = 0, sd = 0, min = 0, max = 0;
};
SampleSummary eval_samples_summary(const std::vector<EvalResult>& results);

// popup-eval --json, one line: the result with per-class accuracy and the confusion matrix;
// with sampled results (--eval-samples) also "samples":{"n":..,"seed":..,"top1":[..],
// "top1_mean":..,"top1_sd":..,"top1_min":..,"top1_max":..}. Numbers are written exactly
// (double_format); a loss that is not finite is null and named in "non_finite":{"loss":"nan"}.
std::string eval_result_json(const EvalResult& r, int64_t classes, const std::string& file,
                             const std::string& data, const std::string& split,
                             const std::vector<EvalResult>& sampled, uint64_t sample_seed);

}  // namespace popup

// What popup-stats computes about masks and scores files: per layer the kept count and the
// share of kept weights that are positive (weights regenerated from the recipe, with an IteRand
// mask's redraws) and how many kept weights IteRand redrew, for scores
// also |score| quantiles and the margin around the top-k threshold; between every pair of
// files the overlap of their kept sets beside the overlap expected of random masks with the
// same kept counts. Formatting: stats_report.hpp; the pictures (--png): mask_pictures.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "format/mask.hpp"

namespace popup {

// One input file as kept sets: a mask as stored, a scores file ranked per layer at k.
struct StatsInput {
  std::string path;                // as given ("-" for stdin)
  FileKind kind = FileKind::mask;  // mask or scores
  Recipe recipe;
  double k = 1.0;                          // mask: popup.k; scores: the k ranked at
  std::string k_source;                    // "popup.k", "popup.train.k" or "--k"
  std::vector<LayerMask> layers;           // network order
  int redraw = 0;                          // an IteRand mask: its popup.redraw (0: none)
  std::vector<LayerRedraws> redraws;       // ... and its record, one per layer
  std::vector<std::vector<float>> scores;  // scores files only, one per layer
};

// A mask as an input (its stored bits, k = popup.k).
StatsInput stats_input_from_mask(const std::string& path, const Mask& mask);

// Scores as an input: each layer keeps topk_mask's n - floor((1 - k) n) weights of largest
// |score| (ties: lower index); layers listed in `dense` keep every weight.
StatsInput stats_input_from_scores(const std::string& path, const Recipe& recipe,
                                   std::vector<std::vector<float>> scores, double k,
                                   const std::string& k_source, const std::vector<bool>& dense);

// Read a mask or scores file ("-" = stdin). For scores, k is `k_option` when it is > 0, else
// the file's popup.train.k (InvalidArgument asking for --k when absent); layers recorded as
// dense (popup.train.first_layer_dense / last_layer_dense = 1) are kept whole, as in training.
// Any other kind is a FormatError naming the file.
StatsInput stats_input_read(const std::string& path, double k_option);

// The margin of a scores layer around its top-k threshold. Fields that do not exist (no
// dropped weight) are NaN.
struct ScoreStats {
  double min = 0, q25 = 0, median = 0, q75 = 0, max = 0;  // of |score|, numpy's linear rule
  double threshold = 0;                                   // smallest kept |score|
  double largest_dropped = 0;                             // largest dropped |score|
  double gap = 0;                                         // threshold - largest_dropped (>= 0)
  int64_t dropped_near = 0;  // dropped weights with |score| >= 0.99 * threshold
  int64_t kept_near = 0;     // kept weights with |score| <= 1.01 * threshold
};

struct LayerStats {
  std::string name;            // "fc1.weight", or "total"
  std::vector<int64_t> shape;  // empty for the total
  int64_t weights = 0, kept = 0;
  int64_t kept_positive = 0;              // kept weights whose value is > 0 (redraws applied)
  int64_t redrawn = -1;                   // IteRand: kept weights redrawn (-1: no record)
  double kept_fraction() const;           // kept / weights
  double kept_positive_fraction() const;  // kept_positive / kept (0 when nothing is kept)
  bool has_scores = false;                // per layer of a scores file (never the total)
  ScoreStats scores;
};

struct FileStats {
  std::string path;
  FileKind kind = FileKind::mask;
  Recipe recipe;
  double k = 1.0;
  std::string k_source;
  std::vector<LayerStats> layers;
  LayerStats total;
};

// Overlap of two kept sets A, B of one layer (or of all layers: the total) of n weights.
struct OverlapStats {
  std::string name;
  int64_t weights = 0, kept_a = 0, kept_b = 0;
  int64_t intersection = 0, union_count = 0, hamming = 0;
  double jaccard() const;  // |A ∩ B| / |A ∪ B|; 1 when both are empty
  // Two independent uniformly random masks with the same kept counts (per layer; the total
  // sums the layers): E|A ∩ B| = a b / n, E Hamming = a + b - 2 a b / n, and the ratio of
  // expectations E|A ∩ B| / (a + b - E|A ∩ B|) for the Jaccard index.
  double random_intersection = 0, random_hamming = 0;
  double random_jaccard() const;
};

struct PairStats {
  size_t a = 0, b = 0;  // indices into StatsReport::files, a < b
  std::vector<OverlapStats> layers;
  OverlapStats total;
};

struct StatsReport {
  std::vector<FileStats> files;
  std::vector<PairStats> pairs;  // every pair, in the order (0,1), (0,2), ..., (1,2), ...
};

// Recipe agreement between inputs: every file must have the first one's architecture, input
// and classes (MismatchError naming both files otherwise). Returns "" or one warning line
// when some differ in distribution, scale or seed (their masks select from other weights).
std::string stats_inputs_check(const std::vector<StatsInput>& inputs);

// Everything popup-stats reports. Weights are regenerated from each recipe, one layer at a
// time (formats/generation.md), to count the kept weights that are positive.
StatsReport stats_compute(const std::vector<StatsInput>& inputs);

FileStats file_stats(const StatsInput& input);
OverlapStats overlap_stats(const LayerMask& a, const LayerMask& b);

// Quantiles of |values| at the fractions `ps` (ascending, in [0, 1]) by numpy's "linear" rule:
// for the sorted x(0) <= ... <= x(n-1), x at h = (n - 1) p, interpolated between neighbours.
// |values| are ordered as top-k orders them (bit patterns: NaN above infinity); NaN when empty.
std::vector<double> abs_quantiles(const std::vector<float>& values, const std::vector<double>& ps);

// --check: read and validate each file (container, CRC, kind mask or scores, version, the
// layout of its kind) and its architecture, input and classes against the first good file.
// Returns (file, reason) for each file that fails; empty when all are good.
std::vector<std::pair<std::string, std::string>> stats_files_check(
    const std::vector<std::string>& paths);

}  // namespace popup

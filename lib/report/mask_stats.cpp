// popup-stats' numbers: reading masks and scores as kept sets, per-layer statistics (weights
// regenerated from the recipe), |score| quantiles and the margin at the top-k threshold,
// pairwise overlaps beside their random reference, --check.
#include "report/mask_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "error.hpp"
#include "init/weights_generate.hpp"
#include "train/redraw.hpp"
#include "train/topk.hpp"
#include "train/train_config.hpp"

namespace popup {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kNear = 0.01;  // "near the threshold": within 1% of it

uint32_t abs_bits(float s) {
  uint32_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  return bits & 0x7FFFFFFFu;
}

double bits_value(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// The number of 1 bits of op(a[i], b[i]) over all bytes.
template <class Op>
int64_t popcount_of(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, Op op) {
  int64_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += __builtin_popcount(op(a[i], b[i]) & 0xFFu);
  return n;
}

int64_t popcount(const std::vector<uint8_t>& bits) {
  return popcount_of(bits, bits, [](unsigned x, unsigned) { return x; });
}

bool metadata_flag(const Metadata& m, const std::string& key) {
  const auto it = m.find(key);
  return it != m.end() && it->second == "1";
}

std::string shape_text(const Recipe& r) {
  return r.arch + " on " + input_shape_format(r.input) + " with " + std::to_string(r.classes) +
         " classes";
}

ScoreStats score_stats(const std::vector<float>& scores, const LayerMask& mask) {
  ScoreStats s;
  const std::vector<double> q = abs_quantiles(scores, {0, 0.25, 0.5, 0.75, 1});
  s.min = q[0];
  s.q25 = q[1];
  s.median = q[2];
  s.q75 = q[3];
  s.max = q[4];
  uint32_t threshold = 0xFFFFFFFFu, dropped_max = 0;
  bool any_dropped = false;
  for (size_t i = 0; i < scores.size(); ++i) {
    const uint32_t b = abs_bits(scores[i]);
    if (mask.get(static_cast<int64_t>(i))) {
      threshold = std::min(threshold, b);
    } else {
      dropped_max = std::max(dropped_max, b);
      any_dropped = true;
    }
  }
  if (threshold == 0xFFFFFFFFu) {  // nothing kept: no threshold
    s.threshold = s.largest_dropped = s.gap = kNaN;
    return s;
  }
  s.threshold = bits_value(threshold);
  s.largest_dropped = any_dropped ? bits_value(dropped_max) : kNaN;
  s.gap = any_dropped ? s.threshold - s.largest_dropped : kNaN;
  const double low = (1 - kNear) * s.threshold, high = (1 + kNear) * s.threshold;
  for (size_t i = 0; i < scores.size(); ++i) {
    const double v = std::fabs(static_cast<double>(scores[i]));
    if (mask.get(static_cast<int64_t>(i)))
      s.kept_near += v <= high;
    else
      s.dropped_near += v >= low;
  }
  return s;
}

}  // namespace

double LayerStats::kept_fraction() const {
  return weights > 0 ? static_cast<double>(kept) / static_cast<double>(weights) : 0.0;
}

double LayerStats::kept_positive_fraction() const {
  return kept > 0 ? static_cast<double>(kept_positive) / static_cast<double>(kept) : 0.0;
}

double OverlapStats::jaccard() const {
  return union_count > 0 ? static_cast<double>(intersection) / static_cast<double>(union_count)
                         : 1.0;
}

double OverlapStats::random_jaccard() const {
  const double u = static_cast<double>(kept_a + kept_b) - random_intersection;
  return u > 0 ? random_intersection / u : 1.0;
}

StatsInput stats_input_from_mask(const std::string& path, const Mask& mask) {
  StatsInput in;
  in.path = path;
  in.kind = FileKind::mask;
  in.recipe = mask.recipe;
  in.k = mask.k;
  in.k_source = "popup.k";
  in.layers = mask.layers;
  in.redraw = mask.redraw;
  in.redraws = mask.redraws;
  return in;
}

StatsInput stats_input_from_scores(const std::string& path, const Recipe& recipe,
                                   std::vector<std::vector<float>> scores, double k,
                                   const std::string& k_source, const std::vector<bool>& dense) {
  const std::vector<TensorSpec> specs = recipe_tensors(recipe);
  if (scores.size() != specs.size())
    throw InvalidArgument(path, std::to_string(scores.size()) + " score tensors for " +
                                    std::to_string(specs.size()) + " layers");
  StatsInput in;
  in.path = path;
  in.kind = FileKind::scores;
  in.recipe = recipe;
  in.k = k;
  in.k_source = k_source;
  std::vector<uint8_t> keep;
  std::vector<uint64_t> scratch;
  for (size_t t = 0; t < specs.size(); ++t) {
    const int64_t n = specs[t].numel();
    if (static_cast<int64_t>(scores[t].size()) != n)
      throw InvalidArgument(path, specs[t].name + ": " + std::to_string(scores[t].size()) +
                                      " scores for " + std::to_string(n) + " weights");
    const double layer_k = t < dense.size() && dense[t] ? 1.0 : k;
    keep.assign(static_cast<size_t>(n), 0);
    topk_mask(scores[t].data(), n, topk_keep_count(n, layer_k), keep.data(), scratch);
    in.layers.push_back(layer_mask_make(specs[t], layer_k, keep.data()));
  }
  in.scores = std::move(scores);
  return in;
}

StatsInput stats_input_read(const std::string& path, double k_option) {
  PopupFile file = popup_file_read(path);
  train_metadata_check(file.metadata, path);
  if (file.kind == FileKind::mask)
    return stats_input_from_mask(path, mask_from_file(std::move(file)));
  if (file.kind != FileKind::scores)
    throw FormatError(path, std::string("is a ") + kind_name(file.kind) +
                                " file; popup-stats reads mask or scores files");
  double k = k_option;
  std::string source = "--k";
  if (!(k > 0)) {
    const auto it = file.metadata.find("popup.train.k");
    if (it == file.metadata.end())
      throw Error(path, "scores file without popup.train.k: give --k K to rank its scores");
    double_parse(it->second, k);  // a fraction in (0, 1]: train_metadata_check saw to it
    source = "popup.train.k";
  }
  std::vector<bool> dense(file.tensors.size(), false);
  if (!dense.empty()) {
    dense.front() = metadata_flag(file.metadata, "popup.train.first_layer_dense");
    dense.back() = dense.back() || metadata_flag(file.metadata, "popup.train.last_layer_dense");
  }
  std::vector<std::vector<float>> scores;
  for (Tensor& t : file.tensors) scores.push_back(std::move(t.f32));
  return stats_input_from_scores(path, file.recipe, std::move(scores), k, source, dense);
}

std::vector<double> abs_quantiles(const std::vector<float>& values, const std::vector<double>& ps) {
  std::vector<uint32_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) bits[i] = abs_bits(values[i]);
  std::vector<double> out;
  if (bits.empty()) return std::vector<double>(ps.size(), kNaN);
  const size_t n = bits.size();
  auto done = bits.begin();  // everything before `done` is in its sorted place or below
  for (const double p : ps) {
    const double h = static_cast<double>(n - 1) * p;
    const size_t lo = static_cast<size_t>(std::floor(h));
    const size_t hi = std::min(lo + 1, n - 1);
    std::nth_element(done, bits.begin() + static_cast<std::ptrdiff_t>(lo), bits.end());
    const uint32_t x_lo = bits[lo];
    uint32_t x_hi = x_lo;
    if (hi != lo)
      x_hi = *std::min_element(bits.begin() + static_cast<std::ptrdiff_t>(hi), bits.end());
    done = bits.begin() + static_cast<std::ptrdiff_t>(lo);
    const double a = bits_value(x_lo), b = bits_value(x_hi), frac = h - static_cast<double>(lo);
    out.push_back(frac == 0 ? a : a + frac * (b - a));
  }
  return out;
}

FileStats file_stats(const StatsInput& input) {
  FileStats f;
  f.path = input.path;
  f.kind = input.kind;
  f.recipe = input.recipe;
  f.k = input.k;
  f.k_source = input.k_source;
  f.total.name = "total";
  const std::vector<TensorSpec> specs = recipe_tensors(input.recipe);
  if (specs.size() != input.layers.size())
    throw MismatchError(input.path, std::to_string(input.layers.size()) +
                                        " layers, but the "
                                        "recipe's " +
                                        input.recipe.arch + " has " + std::to_string(specs.size()));
  std::vector<float> w;
  for (size_t t = 0; t < specs.size(); ++t) {
    const LayerMask& m = input.layers[t];
    if (m.shape != specs[t].shape)
      throw MismatchError(input.path, m.name + ": shape differs from the recipe's");
    LayerStats s;
    s.name = m.name;
    s.shape = m.shape;
    s.weights = m.numel();
    s.kept = popcount(m.bits);
    w.resize(static_cast<size_t>(s.weights));
    weights_generate(input.recipe.init, input.recipe.scale_k, input.recipe.seed,
                     static_cast<uint32_t>(t), specs[t], w.data());
    if (input.redraw > 0) {
      layer_redraws_apply(input.recipe, t, specs[t], input.redraws.at(t), w.data());
      s.redrawn = static_cast<int64_t>(input.redraws[t].index.size());
      f.total.redrawn = std::max<int64_t>(f.total.redrawn, 0) + s.redrawn;
    }
    for (int64_t i = 0; i < s.weights; ++i)
      s.kept_positive += m.get(i) && w[static_cast<size_t>(i)] > 0;
    if (t < input.scores.size()) {
      s.has_scores = true;
      s.scores = score_stats(input.scores[t], m);
    }
    f.total.weights += s.weights;
    f.total.kept += s.kept;
    f.total.kept_positive += s.kept_positive;
    f.layers.push_back(std::move(s));
  }
  return f;
}

OverlapStats overlap_stats(const LayerMask& a, const LayerMask& b) {
  if (a.shape != b.shape || a.bits.size() != b.bits.size())
    throw InvalidArgument("", "overlap of " + a.name + " and " + b.name + ": shapes differ");
  OverlapStats o;
  o.name = a.name;
  o.weights = a.numel();
  o.kept_a = popcount(a.bits);
  o.kept_b = popcount(b.bits);
  o.intersection = popcount_of(a.bits, b.bits, [](unsigned x, unsigned y) { return x & y; });
  o.union_count = popcount_of(a.bits, b.bits, [](unsigned x, unsigned y) { return x | y; });
  o.hamming = popcount_of(a.bits, b.bits, [](unsigned x, unsigned y) { return x ^ y; });
  const double n = static_cast<double>(o.weights);
  const double ka = static_cast<double>(o.kept_a), kb = static_cast<double>(o.kept_b);
  o.random_intersection = n > 0 ? ka * kb / n : 0.0;
  o.random_hamming = ka + kb - 2 * o.random_intersection;
  return o;
}

std::string stats_inputs_check(const std::vector<StatsInput>& inputs) {
  std::string warning;
  int others = 0;
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Recipe& a = inputs[0].recipe;
    const Recipe& b = inputs[i].recipe;
    if (a.arch != b.arch || a.input != b.input || a.classes != b.classes ||
        inputs[0].layers.size() != inputs[i].layers.size())
      throw MismatchError(inputs[i].path, "its network (" + shape_text(b) + ") differs from " +
                                              inputs[0].path + "'s (" + shape_text(a) +
                                              "): masks of different shapes cannot be compared");
    for (size_t t = 0; t < inputs[0].layers.size(); ++t)
      if (inputs[0].layers[t].shape != inputs[i].layers[t].shape)
        throw MismatchError(inputs[i].path, inputs[i].layers[t].name + " differs in shape from " +
                                                inputs[0].path + "'s");
    try {
      recipe_check_same(a, b, inputs[i].path);
    } catch (const MismatchError& e) {
      if (warning.empty())
        warning = e.what() + std::string(" (") + inputs[0].path +
                  "'s); their masks select from different weights";
      else
        ++others;
    }
  }
  if (others > 0)
    warning += " (and " + std::to_string(others) + " more file" + (others > 1 ? "s" : "") +
               " with another recipe)";
  return warning;
}

StatsReport stats_compute(const std::vector<StatsInput>& inputs) {
  StatsReport r;
  for (const StatsInput& in : inputs) r.files.push_back(file_stats(in));
  for (size_t a = 0; a < inputs.size(); ++a)
    for (size_t b = a + 1; b < inputs.size(); ++b) {
      PairStats p;
      p.a = a;
      p.b = b;
      p.total.name = "total";
      for (size_t t = 0; t < inputs[a].layers.size(); ++t) {
        OverlapStats o = overlap_stats(inputs[a].layers[t], inputs[b].layers.at(t));
        p.total.weights += o.weights;
        p.total.kept_a += o.kept_a;
        p.total.kept_b += o.kept_b;
        p.total.intersection += o.intersection;
        p.total.union_count += o.union_count;
        p.total.hamming += o.hamming;
        p.total.random_intersection += o.random_intersection;
        p.total.random_hamming += o.random_hamming;
        p.layers.push_back(std::move(o));
      }
      r.pairs.push_back(std::move(p));
    }
  return r;
}

std::vector<std::pair<std::string, std::string>> stats_files_check(
    const std::vector<std::string>& paths) {
  std::vector<std::pair<std::string, std::string>> failures;
  bool have_first = false;
  std::string first_path;
  Recipe first;
  for (const std::string& path : paths) {
    try {
      const PopupFile f = popup_file_read(path, /*keep_data=*/false);
      train_metadata_check(f.metadata, path);
      if (f.kind != FileKind::mask && f.kind != FileKind::scores)
        throw FormatError(path, std::string("is a ") + kind_name(f.kind) +
                                    " file; popup-stats reads mask or scores files");
      if (!have_first) {
        have_first = true;
        first_path = path;
        first = f.recipe;
      } else if (f.recipe.arch != first.arch || f.recipe.input != first.input ||
                 f.recipe.classes != first.classes) {
        throw MismatchError(path, "its network (" + shape_text(f.recipe) + ") differs from " +
                                      first_path + "'s (" + shape_text(first) + ")");
      }
    } catch (const Error& e) {
      failures.emplace_back(path, e.message());
    } catch (const std::bad_alloc&) {
      failures.emplace_back(path, "out of memory");
    }
  }
  return failures;
}

}  // namespace popup

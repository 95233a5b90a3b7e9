// popup-stats' library: overlaps and their random reference on hand-built masks, |score|
// quantiles and threshold margins derived by hand, scores ranked exactly as top-k ranks them,
// the recipe checks between files, --check, the three renderings carrying the same numbers,
// the picture layouts, and the PNG writer (read back through the PNG decoder).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "data/png_decode.hpp"
#include "error.hpp"
#include "format/json.hpp"
#include "report/mask_pictures.hpp"
#include "report/mask_stats.hpp"
#include "report/stats_report.hpp"
#include "temp_dir.hpp"
#include "tiny_network.hpp"

using namespace popup;

namespace {

// A layer of shape `shape` keeping the listed elements.
LayerMask layer_of(const std::vector<int64_t>& shape, const std::vector<int64_t>& kept,
                   const std::string& name = "x.weight") {
  TensorSpec spec;
  spec.name = name;
  spec.shape = shape;
  std::vector<uint8_t> keep(static_cast<size_t>(spec.numel()), 0);
  for (const int64_t i : kept) keep[static_cast<size_t>(i)] = 1;
  return layer_mask_make(spec, 0.5, keep.data());
}

std::vector<int64_t> range(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

// A mask of the tiny recipe (layers of 12, 3 and 2 weights) keeping the listed elements.
Mask tiny_mask_keeping(const std::vector<std::vector<int64_t>>& kept) {
  Mask m;
  m.recipe = tiny_recipe();
  m.k = 0.5;
  const auto specs = recipe_tensors(m.recipe);
  for (size_t t = 0; t < specs.size(); ++t)
    m.layers.push_back(layer_of(specs[t].shape, kept[t], specs[t].name));
  return m;
}

// One CSV line, RFC 4180 quoting.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::string w;
  std::istringstream in(line);
  while (in >> w) words.push_back(w);
  return words;
}

const JsonValue& member(const JsonValue& object, const std::string& key) {
  for (const auto& [k, v] : object.members)
    if (k == key) return v;
  BOOST_FAIL("no member " + key);
  return object;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mask_stats)

BOOST_AUTO_TEST_CASE(overlap_of_two_hand_built_masks) {
  // A keeps 0..7, B keeps 0..11 of 16: |A∩B| = 8, |A∪B| = 12, Hamming 4. Random masks with
  // 8 and 12 of 16 share 8 * 12 / 16 = 6 on average: Jaccard 6 / (20 - 6) = 3/7, Hamming 8.
  const OverlapStats o = overlap_stats(layer_of({16}, range(0, 8)), layer_of({16}, range(0, 12)));
  BOOST_TEST(o.weights == 16);
  BOOST_TEST(o.kept_a == 8);
  BOOST_TEST(o.kept_b == 12);
  BOOST_TEST(o.intersection == 8);
  BOOST_TEST(o.union_count == 12);
  BOOST_TEST(o.hamming == 4);
  BOOST_TEST(o.jaccard() == 8.0 / 12.0);
  BOOST_TEST(o.random_intersection == 6.0);
  BOOST_TEST(o.random_jaccard() == 6.0 / 14.0);
  BOOST_TEST(o.random_hamming == 8.0);
}

BOOST_AUTO_TEST_CASE(a_mask_with_itself_has_jaccard_1_and_hamming_0) {
  const LayerMask a = layer_of({4, 5}, {0, 3, 7, 8, 19});
  const OverlapStats o = overlap_stats(a, a);
  BOOST_TEST(o.jaccard() == 1.0);
  BOOST_TEST(o.hamming == 0);
  BOOST_TEST(o.intersection == 5);
  BOOST_TEST(o.random_intersection == 25.0 / 20.0);
  // Disjoint halves: Jaccard 0, Hamming n.
  const OverlapStats d = overlap_stats(layer_of({10}, range(0, 5)), layer_of({10}, range(5, 10)));
  BOOST_TEST(d.jaccard() == 0.0);
  BOOST_TEST(d.hamming == 10);
  // Two empty masks are identical: Jaccard 1 (and so is the reference).
  const OverlapStats e = overlap_stats(layer_of({9}, {}), layer_of({9}, {}));
  BOOST_TEST(e.jaccard() == 1.0);
  BOOST_TEST(e.random_jaccard() == 1.0);
  BOOST_CHECK_THROW(overlap_stats(layer_of({9}, {}), layer_of({3, 3}, {})), InvalidArgument);
}

BOOST_AUTO_TEST_CASE(pair_totals_add_the_layers_and_their_references) {
  // Layers of 12, 3, 2: A keeps {0..5}, {0}, {0}; B keeps {3..8}, {0, 1}, {1}.
  const Mask a = tiny_mask_keeping({range(0, 6), {0}, {0}});
  const Mask b = tiny_mask_keeping({range(3, 9), {0, 1}, {1}});
  const StatsReport r =
      stats_compute({stats_input_from_mask("a.mask", a), stats_input_from_mask("b.mask", b)});
  BOOST_REQUIRE(r.pairs.size() == 1u);
  const PairStats& p = r.pairs[0];
  BOOST_TEST(p.layers[0].intersection == 3);  // {3, 4, 5}
  BOOST_TEST(p.layers[1].intersection == 1);
  BOOST_TEST(p.layers[2].intersection == 0);
  BOOST_TEST(p.total.intersection == 4);
  BOOST_TEST(p.total.union_count == 9 + 8 - 4);
  BOOST_TEST(p.total.hamming == 9);
  // Reference: 6*6/12 + 1*2/3 + 1*1/2 = 3 + 2/3 + 1/2.
  const double e = 3.0 + 2.0 / 3.0 + 0.5;
  BOOST_TEST(std::fabs(p.total.random_intersection - e) < 1e-12);
  BOOST_TEST(std::fabs(p.total.random_hamming - (17 - 2 * e)) < 1e-12);
  BOOST_TEST(std::fabs(p.total.random_jaccard() - e / (17 - e)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(kept_positive_counts_the_regenerated_weights) {
  const Mask m = tiny_mask_keeping({{0, 1, 2, 3, 10}, {2}, {0, 1}});
  const FileStats f = file_stats(stats_input_from_mask("m.mask", m));
  const auto w = recipe_generate(tiny_recipe());
  const std::vector<std::vector<int64_t>> kept = {{0, 1, 2, 3, 10}, {2}, {0, 1}};
  int64_t total = 0;
  for (size_t t = 0; t < 3; ++t) {
    int64_t positive = 0;
    for (const int64_t i : kept[t]) positive += w[t][static_cast<size_t>(i)] > 0;
    BOOST_TEST(f.layers[t].kept_positive == positive);
    BOOST_TEST(f.layers[t].kept == static_cast<int64_t>(kept[t].size()));
    total += positive;
  }
  BOOST_TEST(f.total.kept_positive == total);
  BOOST_TEST(f.total.weights == 17);
  BOOST_TEST(f.total.kept == 8);
  BOOST_TEST(f.layers[0].kept_fraction() == 5.0 / 12.0);
  BOOST_TEST(!f.layers[0].has_scores);
}

BOOST_AUTO_TEST_CASE(quantiles_follow_numpys_linear_rule) {
  // |values| sorted: 1 2 3 4; h = 3p: q25 = 1.75, median 2.5, q75 = 3.25.
  const std::vector<double> q = abs_quantiles({-4, 1, 3, -2}, {0, 0.25, 0.5, 0.75, 1});
  BOOST_TEST(q == std::vector<double>({1, 1.75, 2.5, 3.25, 4}), boost::test_tools::per_element());
  BOOST_TEST(abs_quantiles({-0.5f}, {0, 0.5, 1}) == std::vector<double>({0.5, 0.5, 0.5}),
             boost::test_tools::per_element());
  // Five values: h = 4p hits them exactly.
  BOOST_TEST(abs_quantiles({5, 1, 4, 2, 3}, {0.25, 0.5, 0.75}) == std::vector<double>({2, 3, 4}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(scores_keep_exactly_the_top_k_set_and_report_the_margin) {
  // tiny.scores, fc1 (12 weights, k 0.5 keeps 6): |score| ranks 0.4882 (2), 0.3969 (8),
  // 0.3697 (9), 0.3622 (5), 0.2105 (7), 0.2010 (10); then 0.1593 (11) is the largest dropped.
  const auto scores = tiny_scores();
  const StatsInput in = stats_input_from_scores("t.scores", tiny_recipe(), scores, 0.5, "--k", {});
  for (int64_t i = 0; i < 12; ++i) {
    const bool kept = i == 2 || i == 5 || i == 7 || i == 8 || i == 9 || i == 10;
    BOOST_TEST(in.layers[0].get(i) == kept, "element " << i);
  }
  BOOST_TEST(in.layers[1].kept == 2);  // 3 - floor(1.5)
  const FileStats f = file_stats(in);
  const ScoreStats& s = f.layers[0].scores;
  BOOST_TEST(f.layers[0].has_scores);
  BOOST_TEST(s.threshold == std::fabs(static_cast<double>(scores[0][10])));
  BOOST_TEST(s.largest_dropped == std::fabs(static_cast<double>(scores[0][11])));
  BOOST_TEST(s.gap == s.threshold - s.largest_dropped);
  BOOST_TEST(s.max == std::fabs(static_cast<double>(scores[0][2])));
  BOOST_TEST(s.min == std::fabs(static_cast<double>(scores[0][3])));
  // Median: h = 5.5, halfway between the 6th and 7th smallest (0.1593 and 0.2010).
  const double median = std::fabs(static_cast<double>(scores[0][11])) +
                        0.5 * (std::fabs(static_cast<double>(scores[0][10])) -
                               std::fabs(static_cast<double>(scores[0][11])));
  BOOST_TEST(std::fabs(s.median - median) < 1e-15);
  // Nothing else is within 1% of 0.2010 (0.2105 is 4.7% above it).
  BOOST_TEST(s.dropped_near == 0);
  BOOST_TEST(s.kept_near == 1);
}

BOOST_AUTO_TEST_CASE(ties_go_to_the_lower_index_and_count_as_near) {
  Recipe r = tiny_recipe();
  std::vector<std::vector<float>> scores = {std::vector<float>(12, -0.25f), {1, 2, 3}, {1, 1}};
  const StatsInput in = stats_input_from_scores("t.scores", r, scores, 0.5, "--k", {});
  for (int64_t i = 0; i < 12; ++i) BOOST_TEST(in.layers[0].get(i) == (i < 6));
  const FileStats f = file_stats(in);
  BOOST_TEST(f.layers[0].scores.gap == 0.0);
  BOOST_TEST(f.layers[0].scores.dropped_near == 6);
  BOOST_TEST(f.layers[0].scores.kept_near == 6);
  BOOST_TEST(f.layers[2].kept == 1);  // 2 - floor(1)
}

BOOST_AUTO_TEST_CASE(dense_layers_keep_everything_and_have_no_gap) {
  const StatsInput in = stats_input_from_scores("t.scores", tiny_recipe(), tiny_scores(), 0.5,
                                                "--k", {true, false, true});
  BOOST_TEST(in.layers[0].kept == 12);
  BOOST_TEST(in.layers[2].kept == 2);
  const FileStats f = file_stats(in);
  BOOST_TEST(std::isnan(f.layers[0].scores.gap));
  BOOST_TEST(std::isnan(f.layers[0].scores.largest_dropped));
  BOOST_TEST(f.layers[0].scores.threshold == f.layers[0].scores.min);
  // The undefined margin is "-" in the table, null in JSON, empty in CSV.
  const StatsReport r = stats_compute({in});
  BOOST_TEST(stats_json(r).find("\"gap\":null") != std::string::npos);
  const std::vector<std::string> row = csv_fields(lines_of(stats_csv(r))[1]);
  BOOST_TEST(row[18] == "");  // gap
  BOOST_TEST(words_of(lines_of(stats_table(r))[8])[8] == "-");
}

BOOST_AUTO_TEST_CASE(files_are_read_with_their_k) {
  TempDir dir;
  // The fixture scores file records no popup.train.k: --k is needed.
  try {
    stats_input_read("tests/fixtures/v1/tiny.scores", 0);
    BOOST_FAIL("no error");
  } catch (const Error& e) {
    BOOST_TEST(e.file() == "tests/fixtures/v1/tiny.scores");
    BOOST_TEST(e.message().find("--k") != std::string::npos);
  }
  const StatsInput given = stats_input_read("tests/fixtures/v1/tiny.scores", 0.25);
  BOOST_TEST(given.k == 0.25);
  BOOST_TEST(given.k_source == "--k");
  BOOST_TEST(given.layers[0].kept == 3);  // 12 - floor(9)
  // popup.train.k and a dense first layer, as popup-train records them.
  scores_write(dir.file("s.scores"), tiny_recipe(), tiny_scores(),
               {{"popup.train.k", "0.5"}, {"popup.train.first_layer_dense", "1"}});
  const StatsInput recorded = stats_input_read(dir.file("s.scores"), 0);
  BOOST_TEST(recorded.k_source == "popup.train.k");
  BOOST_TEST(recorded.layers[0].kept == 12);
  BOOST_TEST(recorded.layers[1].kept == 2);
  const StatsInput mask = stats_input_read("tests/fixtures/v1/tiny.mask", 0.9);
  BOOST_TEST((mask.kind == FileKind::mask));
  BOOST_TEST(mask.k == 0.5);  // --k leaves masks alone
  BOOST_TEST(mask.layers[0].kept == 8);
  BOOST_CHECK_THROW(stats_input_read("tests/fixtures/v1/tiny.weights", 0), FormatError);
  BOOST_CHECK_THROW(stats_input_read("tests/fixtures/v1/tiny.recipe", 0), FormatError);
  BOOST_CHECK_THROW(stats_input_read(dir.file("missing.mask"), 0), IoError);
}

BOOST_AUTO_TEST_CASE(recipes_must_agree_in_shape_and_may_differ_in_seed) {
  const StatsInput a = stats_input_from_mask("a.mask", tiny_mask());
  Mask other_seed = tiny_mask();
  other_seed.recipe.seed = 2;
  const std::string warning = stats_inputs_check({a, stats_input_from_mask("b.mask", other_seed)});
  BOOST_TEST(warning.find("b.mask") != std::string::npos);
  BOOST_TEST(warning.find("popup.seed") != std::string::npos);
  BOOST_TEST(warning.find("a.mask") != std::string::npos);
  BOOST_TEST(warning.find('\n') == std::string::npos);
  BOOST_TEST(stats_inputs_check({a, a}).empty());
  Mask other_arch = tiny_mask();
  other_arch.recipe.classes = 3;
  try {
    stats_inputs_check({a, stats_input_from_mask("c.mask", other_arch)});
    BOOST_FAIL("no error");
  } catch (const MismatchError& e) {
    BOOST_TEST(e.file() == "c.mask");
    BOOST_TEST(e.message().find("a.mask") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(check_names_each_bad_file) {
  TempDir dir;
  std::vector<char> bytes = file_bytes("tests/fixtures/v1/tiny.mask");
  bytes.resize(bytes.size() - 3);
  file_write(dir.file("short.mask"), bytes);
  bytes = file_bytes("tests/fixtures/v1/tiny.mask");
  bytes.back() ^= 1;
  file_write(dir.file("crc.mask"), bytes);
  const std::string good = "tests/fixtures/v1/tiny.mask";
  BOOST_TEST(stats_files_check({good, "tests/fixtures/v1/tiny.scores"}).empty());
  const auto failures = stats_files_check(
      {good, dir.file("short.mask"), dir.file("crc.mask"), "tests/fixtures/v1/tiny.weights", good});
  BOOST_REQUIRE(failures.size() == 3u);
  BOOST_TEST(failures[0].first == dir.file("short.mask"));
  BOOST_TEST(failures[1].second.find("CRC") != std::string::npos);
  BOOST_TEST(failures[2].second.find("weights") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(table_json_and_csv_carry_the_same_numbers) {
  const StatsReport r = stats_compute(
      {stats_input_from_mask("a.mask", tiny_mask_keeping({range(0, 6), {0}, {0}})),
       stats_input_from_scores("b,\"odd\".scores", tiny_recipe(), tiny_scores(), 0.5, "--k", {})});
  // JSON: parsed by the library's strict reader.
  const JsonValue j = json_parse(stats_json(r));
  const JsonValue& files = member(j, "files");
  BOOST_REQUIRE(files.items.size() == 2u);
  BOOST_TEST(member(files.items[1], "file").text == "b,\"odd\".scores");
  // CSV: header, 4 rows per file (3 layers + total), 4 per pair.
  const std::vector<std::string> csv = lines_of(stats_csv(r));
  BOOST_REQUIRE(csv.size() == 1u + 8 + 4);
  BOOST_TEST(csv[0] == stats_csv_header());
  const std::vector<std::string> header = csv_fields(csv[0]);
  BOOST_TEST(header.size() == 29u);
  BOOST_TEST(header.back() == "redrawn");  // IteRand masks only: empty here
  // The table: title, header, 3 layers, total for the mask.
  const std::vector<std::string> table = lines_of(stats_table(r));

  const std::vector<std::string> keys = {"weights", "kept", "kept_fraction", "kept_positive",
                                         "kept_positive_fraction"};
  for (size_t l = 0; l < 4; ++l) {
    const JsonValue& layer =
        l < 3 ? member(files.items[0], "layers").items[l] : member(files.items[0], "total");
    const std::vector<std::string> row = csv_fields(csv[1 + l]);
    BOOST_REQUIRE(row.size() == 29u);
    BOOST_TEST(row[0] == "file");
    BOOST_TEST(row.back().empty());
    BOOST_TEST(row[3] == member(layer, "name").text);
    const std::vector<std::string> words = words_of(table[2 + l]);
    for (size_t c = 0; c < keys.size(); ++c) {
      const std::string& text = member(layer, keys[c]).text;
      BOOST_TEST(row[5 + (c < 2 ? c : c + 1)] == text, keys[c]);  // CSV skips kept_b
      // The table rounds fractions to 4 decimals; counts are exact.
      const double v = std::stod(text);
      const double shown = std::stod(words[words.size() - keys.size() + c]);
      BOOST_TEST(std::fabs(v - shown) <= 0.00005 + 1e-12,
                 keys[c] << " " << text << " vs " << shown);
    }
  }
  // Scores of b's fc1: JSON abs_score and threshold against CSV and the |score| table.
  const JsonValue& b1 = member(files.items[1], "layers").items[0];
  const std::vector<std::string> row = csv_fields(csv[5]);
  BOOST_TEST(row[1] == "b,\"odd\".scores");
  const std::vector<std::string> quantiles = {"min", "q25", "median", "q75", "max"};
  for (size_t c = 0; c < quantiles.size(); ++c)
    BOOST_TEST(row[11 + c] == member(member(b1, "abs_score"), quantiles[c]).text);
  BOOST_TEST(row[16] == member(b1, "threshold").text);
  BOOST_TEST(row[18] == member(b1, "gap").text);
  BOOST_TEST(row[19] == member(b1, "dropped_near").text);
  size_t score_table = 0;
  while (score_table < table.size() && table[score_table] != "|score|:") ++score_table;
  BOOST_REQUIRE(score_table + 2 < table.size());
  const std::vector<std::string> words = words_of(table[score_table + 2]);
  BOOST_TEST(words[0] == "fc1.weight");
  const double threshold = std::stod(member(b1, "threshold").text);
  BOOST_TEST(std::fabs(std::stod(words[6]) - threshold) <= 0.0005 * threshold);
  // The pair's total.
  const JsonValue& total = member(member(j, "pairs").items[0], "total");
  const std::vector<std::string> pair_row = csv_fields(csv.back());
  BOOST_TEST(pair_row[0] == "pair");
  BOOST_TEST(pair_row[3] == "total");
  BOOST_TEST(pair_row[21] == member(total, "intersection").text);
  BOOST_TEST(pair_row[23] == member(total, "jaccard").text);
  BOOST_TEST(pair_row[26] == member(total, "random_jaccard").text);
  const std::vector<std::string> pair_words = words_of(table.back());
  BOOST_TEST(pair_words[0] == "total");
  BOOST_TEST(pair_words[4] == member(total, "intersection").text);
  BOOST_TEST(std::fabs(std::stod(pair_words[6]) - std::stod(member(total, "jaccard").text)) <=
             0.00005);
  BOOST_TEST(std::fabs(std::stod(pair_words[9]) -
                       std::stod(member(total, "random_jaccard").text)) <= 0.00005);
}

BOOST_AUTO_TEST_CASE(a_linear_layer_is_drawn_out_rows_by_in_columns) {
  // [3, 4], keeping (0, 0) and (2, 1): a 4x3 canvas enlarged to at least 256 wide: x 64.
  const GreyImage img = mask_image(layer_of({3, 4}, {0, 9}));
  BOOST_REQUIRE(img.width == 256);
  BOOST_REQUIRE(img.height == 192);
  const auto px = [&](int64_t x, int64_t y) {
    return img.pixels[static_cast<size_t>((y * 64 + 32) * img.width + x * 64 + 32)];
  };
  BOOST_TEST(px(0, 0) == 255);
  BOOST_TEST(px(1, 2) == 255);
  BOOST_TEST(px(2, 1) == 0);
  BOOST_TEST(px(1, 0) == 0);
}

BOOST_AUTO_TEST_CASE(a_convolution_is_drawn_as_tiles_of_kernels) {
  // [2, 2, 2, 2]: tiles of 2 rows x (2 kernels of 2 columns + 1 separator) = 2x5; the
  // squarest grid is one column: a 5x5 canvas, separators at row 2 and column 2.
  // Kept: element 0 (o0 c0 y0 x0) -> (0, 0); element 13 (o1 c1 y0 x1) -> x 3 + 1, y 3 + 0.
  const GreyImage img = mask_image(layer_of({2, 2, 2, 2}, {0, 13}));
  BOOST_REQUIRE(img.width == img.height);
  const int64_t f = img.width / 5;
  BOOST_REQUIRE(f * 5 == img.width);
  BOOST_TEST(f >= 52);  // at least 256 pixels wide
  const auto px = [&](int64_t x, int64_t y) {
    return img.pixels[static_cast<size_t>((y * f + f / 2) * img.width + x * f + f / 2)];
  };
  BOOST_TEST(px(0, 0) == 255);
  BOOST_TEST(px(4, 3) == 255);
  BOOST_TEST(px(1, 0) == 0);
  BOOST_TEST(px(3, 3) == 0);
  BOOST_TEST(px(2, 0) == 176);  // between input channels: light grey
  BOOST_TEST(px(0, 2) == 96);   // between output channels' tiles: dark grey
  BOOST_TEST(px(2, 2) == 96);
  // 64 tiles of one 3x3 kernel: an 8 x 8 grid, 31 x 31 pixels, enlarged x 9.
  const GreyImage conv1 = mask_image(layer_of({64, 1, 3, 3}, {}));
  BOOST_TEST(conv1.width == 279);
  BOOST_TEST(conv1.height == 279);
  // 1x1 convolutions are drawn like linear layers (no separators).
  const GreyImage pointwise = mask_image(layer_of({4, 300, 1, 1}, range(0, 1200)));
  BOOST_TEST(pointwise.width == 900);  // x 3: 64 high would pass 1024 wide
  BOOST_TEST(pointwise.height == 12);
  BOOST_TEST(std::count(pointwise.pixels.begin(), pointwise.pixels.end(), 255) ==
             static_cast<std::ptrdiff_t>(pointwise.pixels.size()));
}

BOOST_AUTO_TEST_CASE(very_large_pictures_are_reduced_to_the_kept_fraction) {
  // [2, 20000]: 20000 wide, reduced by 3 to 6667; all kept: white; every other kept: grey.
  const GreyImage all = mask_image(layer_of({2, 20000}, range(0, 40000)));
  BOOST_TEST(all.width == 6667);
  BOOST_TEST(all.height == 1);
  BOOST_TEST(all.pixels[0] == 255);
  std::vector<int64_t> even;
  for (int64_t i = 0; i < 40000; i += 2) even.push_back(i);
  const GreyImage half = mask_image(layer_of({2, 20000}, even));
  BOOST_TEST(std::abs(int{half.pixels[1]} - 128) <= 43);  // a 3x1 block of 2 whites or 1 white
  BOOST_TEST(half.pixels.back() == 128);                  // the last block: 2 pixels, one kept
}

BOOST_AUTO_TEST_CASE(png_round_trip_through_the_decoder) {
  TempDir dir;
  GreyImage img;
  img.width = 7;
  img.height = 3;
  for (int i = 0; i < 21; ++i) img.pixels.push_back(static_cast<uint8_t>(i * 12));
  png_write_grey(dir.file("a.png"), img);
  const PngImage back = png_decode(dir.file("a.png"));
  BOOST_TEST(back.width == 7);
  BOOST_TEST(back.height == 3);
  BOOST_TEST(back.channels == 1);
  BOOST_TEST(back.pixels == img.pixels);
  BOOST_TEST(dir.entries() == 1u);  // no temporary file left
  try {
    png_write_grey(dir.file("missing/a.png"), img);
    BOOST_FAIL("no error");
  } catch (const IoError& e) {
    BOOST_TEST(e.file() == dir.file("missing/a.png"));
  }
  GreyImage bad = img;
  bad.pixels.pop_back();
  BOOST_CHECK_THROW(png_encode_grey(bad, "x.png"), InvalidArgument);
}

BOOST_AUTO_TEST_CASE(pictures_are_named_after_file_and_layer) {
  TempDir dir;
  BOOST_TEST(mask_png_path("d", "runs/s0.mask", "fc1.weight") == "d/s0.fc1.png");
  BOOST_TEST(mask_png_path("d", "-", "layer1.0.conv1.weight") == "d/stdin.layer1.0.conv1.png");
  BOOST_TEST(mask_png_path("d/", ".hidden", "fc1.weight") == "d/.hidden.fc1.png");
  const std::string out = dir.file("pics/sub");
  mask_pngs_write(out, {stats_input_from_mask("x/tiny.mask", tiny_mask())});
  for (const char* layer : {"fc1", "fc2", "fc3"}) {
    const PngImage p = png_decode(out + "/tiny." + layer + ".png");
    BOOST_TEST(p.width >= 256);
  }
  // tiny fc1 keeps [[0,1,0,1],[1,1,1,0],[1,1,0,1]]: pixel (1, 0) white, (0, 0) black.
  const PngImage fc1 = png_decode(out + "/tiny.fc1.png");
  const int64_t f = fc1.width / 4;
  BOOST_TEST(fc1.pixels[static_cast<size_t>(f + f / 2)] == 255);
  BOOST_TEST(fc1.pixels[static_cast<size_t>(f / 2)] == 0);
  // Two inputs that would share picture names: refused before anything is written.
  TempDir other;
  BOOST_CHECK_THROW(
      mask_pngs_write(other.file("p"), {stats_input_from_mask("a/t.mask", tiny_mask()),
                                        stats_input_from_mask("b/t.mask", tiny_mask())}),
      InvalidArgument);
  BOOST_TEST(!std::filesystem::exists(other.file("p")));
}

BOOST_AUTO_TEST_SUITE_END()

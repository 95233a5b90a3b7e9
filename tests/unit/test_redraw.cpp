// IteRand's redraws (train/redraw.hpp) and the version 2 mask that records them: the picks
// follow the documented Philox contract, are reproducible and take the rate within a tight
// binomial bound; an event redraws only the weights the engine's mask drops, raises their
// counts by one and hands the engine weight_redrawn of the new count, leaving kept weights
// alone; the mask's record lists exactly the kept weights with a count; version 2 masks round
// trip, masks without redraws stay version 1 byte for byte, and damaged records, unknown
// redraw versions and newer files are refused with the reason named.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "error.hpp"
#include "format/mask.hpp"
#include "init/weights_generate.hpp"
#include "scripted_executor.hpp"
#include "temp_dir.hpp"
#include "tiny_network.hpp"
#include "train/method.hpp"
#include "train/redraw.hpp"
#include "train/score_engine.hpp"
#include "train/topk.hpp"

using namespace popup;
using namespace scripted;

namespace {

// An Error whose message contains `text`.
struct message_has {
  std::string text;
  bool operator()(const Error& e) const {
    BOOST_TEST_MESSAGE("message: " << e.what());
    return e.message().find(text) != std::string::npos;
  }
};

// The header of a popup file with `from` replaced by `to` (once; it must be there), the header
// length rewritten and the header padded with spaces to a multiple of eight bytes. The data
// (and so popup.crc32) is unchanged.
void header_replace(const std::string& path, const std::string& from, const std::string& to) {
  std::vector<char> bytes = file_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  const size_t at = header.find(from);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "no '" << from << "' in " << header);
  header.replace(at, from.size(), to);
  while (!header.empty() && header.back() == ' ') header.pop_back();
  while (header.size() % 8) header.push_back(' ');
  std::vector<char> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), bytes.begin() + 8 + static_cast<long>(n), bytes.end());
  file_write(path, out);
}

// The tiny mask with a redraw record: in every layer, every second kept weight, counts 1, 2, ...
Mask tiny_mask_redrawn() {
  Mask m = tiny_mask();
  m.redraw = kRedrawVersion;
  m.redraws.resize(m.layers.size());
  for (size_t t = 0; t < m.layers.size(); ++t) {
    int64_t seen = 0;
    for (int64_t i = 0; i < m.layers[t].numel(); ++i)
      if (m.layers[t].get(i) && seen++ % 2 == 0) {
        m.redraws[t].index.push_back(static_cast<uint32_t>(i));
        m.redraws[t].count.push_back(static_cast<uint16_t>(m.redraws[t].index.size()));
      }
  }
  return m;
}

// A popup file written again from `f`'s metadata and the tensors `refs` (popup.version and
// popup.crc32 recomputed by the writer).
void rewrite(const std::string& path, const PopupFile& f, const std::vector<TensorRef>& refs) {
  popup_file_write(path, f.kind, f.recipe, f.metadata, refs);
}

std::vector<TensorRef> refs_of(const PopupFile& f) {
  std::vector<TensorRef> refs;
  for (const Tensor& t : f.tensors)
    refs.push_back({t.info.name, t.info.dtype, t.info.shape,
                    t.info.dtype == Dtype::F32 ? static_cast<const void*>(t.f32.data())
                                               : static_cast<const void*>(t.u8.data())});
  return refs;
}

size_t tensor_at(const PopupFile& f, const std::string& name) {
  for (size_t i = 0; i < f.tensors.size(); ++i)
    if (f.tensors[i].info.name == name) return i;
  BOOST_FAIL("no tensor " << name);
  return 0;
}

// The host score engine over a scripted executor, loaded with the recipe's weights, the tiny
// scores' kind of initialisation and top-k at k 0.5 in every layer.
struct EngineSetup {
  Recipe recipe = small_recipe();
  Network net = arch_network(recipe.arch, recipe.input, recipe.classes);
  std::vector<std::vector<float>> w = recipe_generate(recipe);
  ScriptedExecutor exec{net};
  std::unique_ptr<ScoreEngine> engine;
  std::vector<int64_t> keep;

  EngineSetup() {
    engine = score_engine_host_create(exec, OptimizerConfig());
    for (size_t t = 0; t < net.tensors.size(); ++t) {
      const int64_t n = net.tensors[t].numel();
      std::vector<float> s(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        s[static_cast<size_t>(i)] = static_cast<float>(
            2 * random_uniform53(philox_element(3, RandomStream::scores, static_cast<uint32_t>(t),
                                                static_cast<uint64_t>(i))) -
            1);
      keep.push_back(topk_keep_count(n, 0.5));
      engine->load(t, n, w[t].data(), s.data(), keep.back());
    }
    engine->refresh();
  }

  std::vector<uint8_t> mask(size_t t) {
    std::vector<uint8_t> m(static_cast<size_t>(net.tensors[t].numel()));
    engine->mask(t, m.data());
    return m;
  }

  // The engine's frozen weights of tensor t, read through the executor: scores are set so
  // that the mask keeps chosen weights, `keep` at a time, and w * mask is handed over.
  // The scores are put back afterwards (and the masks refreshed).
  std::vector<float> frozen(size_t t) {
    const int64_t n = net.tensors[t].numel();
    std::vector<float> saved(static_cast<size_t>(n)), s(static_cast<size_t>(n));
    engine->scores(t, saved.data());
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t first = 0; first < n; first += keep[t]) {
      // weights first .. first + keep - 1 (wrapping) have the largest |s|
      for (int64_t i = 0; i < n; ++i) {
        const int64_t rel = (i - first + n) % n;
        s[static_cast<size_t>(i)] = rel < keep[t] ? 10.0f + static_cast<float>(rel) : 0.001f;
      }
      engine->set_scores(t, s.data());
      engine->refresh();
      const std::vector<uint8_t> m = mask(t);
      for (int64_t i = 0; i < n; ++i)
        if ((i - first + n) % n < keep[t]) {
          BOOST_REQUIRE(m[static_cast<size_t>(i)] == 1);
          out[static_cast<size_t>(i)] = exec.weights(t)[static_cast<size_t>(i)];
        }
    }
    engine->set_scores(t, saved.data());
    engine->refresh();
    return out;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(redraw)

BOOST_AUTO_TEST_CASE(picks_follow_the_numbered_philox_stream) {
  // The documented contract: counter (index lo, index hi, tensor, stream | number << 8),
  // key = the seed's two words.
  const uint64_t seed = 0x123456789abcdef0u;
  const PhiloxCounter block = philox_numbered(seed, RandomStream::redraw_pick, 77, 3, 0x100000002u);
  const PhiloxCounter expected =
      philox4x32_10({2u, 1u, 3u, 6u | (77u << 8)}, {0x9abcdef0u, 0x12345678u});
  BOOST_TEST(block == expected);
  BOOST_TEST(static_cast<uint32_t>(RandomStream::redraw) == 5u);
  BOOST_TEST(static_cast<uint32_t>(RandomStream::redraw_pick) == 6u);
  // a numbered block never meets a plain one (last word < 256)
  BOOST_TEST(!(philox_numbered(9, RandomStream::redraw, 1, 0, 5) ==
               philox_element(9, RandomStream::redraw, 0, 5)));
  for (const double rate : {0.1, 0.5, 0.9})
    for (uint32_t e = 1; e < 4; ++e)
      for (uint64_t i = 0; i < 200; ++i) {
        const double u = random_uniform53(philox_numbered(42, RandomStream::redraw_pick, e, 1, i));
        BOOST_TEST_REQUIRE(redraw_picked(42, e, 1, i, rate) == (u < rate));
      }
}

BOOST_AUTO_TEST_CASE(picks_are_reproducible_and_take_the_rate) {
  const int64_t n = 100000;
  for (const double rate : {0.1, 0.5, 0.01}) {
    int64_t picked = 0;
    for (int64_t i = 0; i < n; ++i)
      picked += redraw_picked(7, 1, 0, static_cast<uint64_t>(i), rate);
    // binomial: within 5 standard deviations (deterministic, so this never flickers)
    const double mean = n * rate, sd = std::sqrt(n * rate * (1 - rate));
    BOOST_TEST(std::fabs(static_cast<double>(picked) - mean) < 5 * sd,
               "rate " << rate << ": " << picked << " of " << n);
  }
  int64_t all = 0;
  for (int64_t i = 0; i < 10000; ++i) all += redraw_picked(7, 3, 2, static_cast<uint64_t>(i), 1.0);
  BOOST_TEST(all == 10000);
  // the same arguments, the same pick; another event, tensor or seed: other picks, unrelated
  // (at rate 0.5 about half of the picks agree)
  const auto agreement = [](auto other) {
    int64_t same = 0, n = 20000;
    for (int64_t i = 0; i < n; ++i)
      same += redraw_picked(7, 1, 0, static_cast<uint64_t>(i), 0.5) == other(i);
    return static_cast<double>(same) / n;
  };
  BOOST_TEST(agreement([](int64_t i) { return redraw_picked(7, 1, 0, i, 0.5); }) == 1.0);
  for (const double a : {agreement([](int64_t i) { return redraw_picked(7, 2, 0, i, 0.5); }),
                         agreement([](int64_t i) { return redraw_picked(7, 1, 1, i, 0.5); }),
                         agreement([](int64_t i) { return redraw_picked(8, 1, 0, i, 0.5); }),
                         agreement([](int64_t i) { return redraw_picked(7, 256, 0, i, 0.5); })})
    BOOST_TEST(std::fabs(a - 0.5) < 0.02, "agreement " << a);
}

BOOST_AUTO_TEST_CASE(redrawn_values_come_from_the_redraw_stream_at_the_recipes_std) {
  const Recipe recipe = small_recipe();  // kaiming_normal
  const std::vector<TensorSpec> specs = recipe_tensors(recipe);
  const std::vector<std::vector<float>> w = recipe_generate(recipe);
  const size_t t = 0;
  const double sigma = init_std(recipe.init, specs[t], recipe.scale_k);
  const int64_t n = specs[t].numel();
  double sum2 = 0;
  int64_t equal_first = 0, equal_g = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float g1 = weight_redrawn(recipe.init, sigma, recipe.seed, 0, i, 1);
    const float g2 = weight_redrawn(recipe.init, sigma, recipe.seed, 0, i, 2);
    BOOST_TEST_REQUIRE(
        g1 == weight_from_block(recipe.init, sigma,
                                philox_numbered(recipe.seed, RandomStream::redraw, 1, 0, i)));
    // the plain weights stream, number 0, is the recipe's own weight
    BOOST_TEST_REQUIRE(w[t][static_cast<size_t>(i)] ==
                       weight_from_block(recipe.init, sigma,
                                         philox_element(recipe.seed, RandomStream::weights, 0, i)));
    equal_first += g1 == w[t][static_cast<size_t>(i)];
    equal_g += g1 == g2;
    sum2 += static_cast<double>(g1) * g1;
  }
  BOOST_TEST(equal_first == 0);
  BOOST_TEST(equal_g == 0);
  const double std_seen = std::sqrt(sum2 / static_cast<double>(n));
  BOOST_TEST(std::fabs(std_seen / sigma - 1) < 5 / std::sqrt(2.0 * static_cast<double>(n)),
             "std " << std_seen << " vs " << sigma << " over " << n);
  // signed constant: the redrawn values are +-sigma too
  const Recipe tiny = tiny_recipe();
  const std::vector<TensorSpec> ts = recipe_tensors(tiny);
  const double st = init_std(tiny.init, ts[0], tiny.scale_k);
  int positive = 0;
  for (int64_t i = 0; i < ts[0].numel(); ++i)
    for (uint32_t g = 1; g < 5; ++g) {
      const float v = weight_redrawn(tiny.init, st, tiny.seed, 0, i, g);
      BOOST_TEST_REQUIRE(std::fabs(v) == static_cast<float>(st));
      positive += v > 0;
    }
  BOOST_TEST(positive > 0);
  BOOST_TEST(positive < 4 * ts[0].numel());
}

BOOST_AUTO_TEST_CASE(an_event_redraws_only_dropped_weights_and_counts_them) {
  EngineSetup s;
  const double rate = 0.5;
  const uint64_t seed = 11;
  RedrawState state(s.recipe, s.net, std::vector<bool>(s.net.tensors.size(), false), seed, rate);
  const std::vector<TensorSpec> specs = s.net.tensors;
  std::vector<std::vector<float>> expected = s.w;  // the engine's frozen weights
  std::vector<std::vector<uint16_t>> counts;
  for (const TensorSpec& spec : specs) counts.emplace_back(spec.numel(), uint16_t{0});
  int64_t redrawn_kept_before = 0;
  for (uint32_t e = 1; e <= 4; ++e) {
    std::vector<std::vector<uint8_t>> masks;
    int64_t expected_total = 0;
    for (size_t t = 0; t < specs.size(); ++t) {
      masks.push_back(s.mask(t));
      const double sigma = init_std(s.recipe.init, specs[t], s.recipe.scale_k);
      for (int64_t i = 0; i < specs[t].numel(); ++i)
        if (!masks[t][i] && redraw_picked(seed, e, static_cast<uint32_t>(t), i, rate)) {
          const uint16_t g = ++counts[t][i];
          expected[t][i] =
              weight_redrawn(s.recipe.init, sigma, s.recipe.seed, static_cast<uint32_t>(t), i, g);
          ++expected_total;
        }
    }
    BOOST_TEST_REQUIRE(expected_total > 0);
    const std::vector<float> eff_before = s.exec.weights(0);
    BOOST_TEST(state.event(*s.engine, e) == expected_total);
    for (size_t t = 0; t < specs.size(); ++t) {
      BOOST_TEST(state.counts(t) == counts[t], "event " << e << " tensor " << t);
      BOOST_TEST(s.mask(t) == masks[t]);  // an event changes no mask
      // exact bits: the engine holds the recipe's weights except the redrawn ones
      const std::vector<float> frozen = s.frozen(t);
      for (size_t i = 0; i < frozen.size(); ++i)
        BOOST_TEST_REQUIRE(frozen[i] == expected[t][i],
                           "event " << e << " tensor " << t << " weight " << i);
    }
    // w * mask did not change: only dropped weights moved
    s.engine->refresh();
    BOOST_TEST(s.exec.weights(0) == eff_before);
    // move the masks between events, as training does: every weight of tensor 0 trades
    // places with its neighbour in score order
    std::vector<float> sc(static_cast<size_t>(specs[0].numel()));
    s.engine->scores(0, sc.data());
    std::rotate(sc.begin(), sc.begin() + 1, sc.end());
    s.engine->set_scores(0, sc.data());
    s.engine->refresh();
    for (int64_t i = 0; i < specs[0].numel(); ++i)
      redrawn_kept_before += s.mask(0)[static_cast<size_t>(i)] && counts[0][i] > 0;
  }
  BOOST_TEST(*std::max_element(counts[0].begin(), counts[0].end()) >= 2);  // several redraws
  BOOST_TEST(redrawn_kept_before > 0);

  // The record: exactly the kept weights with a count, in increasing order, with their counts.
  Mask m;
  m.recipe = s.recipe;
  m.k = 0.5;
  for (size_t t = 0; t < specs.size(); ++t)
    m.layers.push_back(layer_mask_make(specs[t], 0.5, s.mask(t).data()));
  state.record(m);
  BOOST_TEST(m.redraw == kRedrawVersion);
  BOOST_REQUIRE(m.redraws.size() == specs.size());
  int64_t recorded = 0;
  for (size_t t = 0; t < specs.size(); ++t) {
    LayerRedraws want;
    for (int64_t i = 0; i < specs[t].numel(); ++i)
      if (m.layers[t].get(i) && counts[t][i] > 0) {
        want.index.push_back(static_cast<uint32_t>(i));
        want.count.push_back(counts[t][i]);
      }
    BOOST_TEST(m.redraws[t].index == want.index, "tensor " << t);
    BOOST_TEST(m.redraws[t].count == want.count, "tensor " << t);
    recorded += static_cast<int64_t>(want.index.size());
  }
  BOOST_TEST(recorded > 0);

  // The mask's effective weights are w * mask of the engine's frozen weights: what the
  // executor was handed.
  std::vector<std::vector<float>> eff = recipe_generate(s.recipe);
  mask_effective_weights(m, eff);
  s.engine->refresh();
  for (size_t t = 0; t < specs.size(); ++t) BOOST_TEST(eff[t] == s.exec.weights(t));
  // and without the record they differ (the redraws matter)
  Mask plain = m;
  plain.redraw = 0;
  plain.redraws.clear();
  std::vector<std::vector<float>> eff_plain = recipe_generate(s.recipe);
  mask_effective_weights(plain, eff_plain);
  BOOST_TEST(!(eff_plain == eff));

  // A state resumed from the counts hands the engine the same weights.
  EngineSetup fresh;
  RedrawState resumed(fresh.recipe, fresh.net, std::vector<bool>(specs.size(), false), seed, rate);
  for (size_t t = 0; t < specs.size(); ++t) resumed.set_counts(t, counts[t].data());
  resumed.apply(*fresh.engine);
  for (size_t t = 0; t < specs.size(); ++t) BOOST_TEST(fresh.frozen(t) == expected[t]);
}

BOOST_AUTO_TEST_CASE(dense_layers_have_no_counts_and_events_are_bounded) {
  EngineSetup s;
  std::vector<bool> dense(s.net.tensors.size(), false);
  dense[0] = true;
  RedrawState state(s.recipe, s.net, dense, 1, 0.5);
  BOOST_TEST(state.counts(0).empty());
  BOOST_TEST(state.counts(1).size() == static_cast<size_t>(s.net.tensors[1].numel()));
  const std::vector<float> w0 = s.frozen(0);
  state.event(*s.engine, 1);
  BOOST_TEST(s.frozen(0) == w0);  // dense layer 0 untouched
  BOOST_CHECK_THROW(state.event(*s.engine, 0), InvalidArgument);
  BOOST_CHECK_THROW(state.event(*s.engine, kRedrawEventsMax + 1), InvalidArgument);
  for (const double rate : {0.0, -0.1, 1.5, std::nan("")})
    BOOST_CHECK_EXCEPTION(RedrawState(s.recipe, s.net, dense, 1, rate), InvalidArgument,
                          message_has{"(0, 1]"});
}

BOOST_AUTO_TEST_CASE(version_2_mask_round_trip) {
  TempDir dir;
  const Mask m = tiny_mask_redrawn();
  mask_write(dir.file("a.mask"), m);
  const PopupFile f = popup_file_read(dir.file("a.mask"), FileKind::mask);
  BOOST_TEST(f.version == 2);
  BOOST_TEST(f.metadata.at("popup.version") == "2");
  BOOST_TEST(f.metadata.at("popup.redraw") == "1");
  // layout: the masks, then index and count of each layer with redraws, then the state
  std::vector<std::string> names;
  for (const Tensor& t : f.tensors) names.push_back(t.info.name);
  std::vector<std::string> want;
  for (const LayerMask& l : m.layers) want.push_back(l.name);
  for (size_t t = 0; t < m.layers.size(); ++t)
    if (!m.redraws[t].index.empty()) {
      want.push_back("redraw." + m.layers[t].name + ".index");
      want.push_back("redraw." + m.layers[t].name + ".count");
    }
  want.push_back("bn.running_mean");
  BOOST_TEST(names == want, boost::test_tools::per_element());
  const Tensor& index = f.tensors[m.layers.size()];
  BOOST_TEST((index.info.dtype == Dtype::U32));
  BOOST_TEST((f.tensors[m.layers.size() + 1].info.dtype == Dtype::U16));

  const Mask back = mask_read(dir.file("a.mask"));
  BOOST_TEST(back.redraw == kRedrawVersion);
  BOOST_REQUIRE(back.redraws.size() == m.layers.size());
  for (size_t t = 0; t < m.layers.size(); ++t) {
    BOOST_TEST(back.redraws[t].index == m.redraws[t].index);
    BOOST_TEST(back.redraws[t].count == m.redraws[t].count);
    BOOST_TEST(back.layers[t].bits == m.layers[t].bits);
  }
  BOOST_REQUIRE(back.state.size() == 1u);
  BOOST_TEST(back.state[0].f32 == m.state[0].f32);
  // and written again, the same bytes
  mask_write(dir.file("b.mask"), back);
  BOOST_TEST(file_bytes(dir.file("a.mask")) == file_bytes(dir.file("b.mask")));

  // redraws_apply puts the redrawn values at exactly the recorded positions
  std::vector<std::vector<float>> w = recipe_generate(m.recipe), orig = w;
  redraws_apply(back, w);
  const std::vector<TensorSpec> specs = recipe_tensors(m.recipe);
  for (size_t t = 0; t < specs.size(); ++t) {
    const double sigma = init_std(m.recipe.init, specs[t], m.recipe.scale_k);
    std::vector<float> want_w = orig[t];
    for (size_t j = 0; j < m.redraws[t].index.size(); ++j)
      want_w[m.redraws[t].index[j]] =
          weight_redrawn(m.recipe.init, sigma, m.recipe.seed, static_cast<uint32_t>(t),
                         m.redraws[t].index[j], m.redraws[t].count[j]);
    BOOST_TEST(w[t] == want_w);
  }
}

BOOST_AUTO_TEST_CASE(a_mask_without_redraws_stays_version_1_byte_for_byte) {
  TempDir dir;
  mask_write(dir.file("plain.mask"), tiny_mask());
  Mask none = tiny_mask();
  none.redraws.resize(none.layers.size());  // records, but redraw 0: not written
  none.redraws[0].index = {0};
  none.redraws[0].count = {1};
  mask_write(dir.file("none.mask"), none);
  BOOST_TEST(file_bytes(dir.file("plain.mask")) == file_bytes(dir.file("none.mask")));
  const PopupFile f = popup_file_read(dir.file("plain.mask"), FileKind::mask);
  BOOST_TEST(f.version == 1);
  BOOST_TEST(f.metadata.at("popup.version") == "1");
  BOOST_TEST(f.metadata.count("popup.redraw") == 0u);
  for (const Tensor& t : f.tensors) BOOST_TEST(t.info.name.rfind("redraw.", 0) != 0u);
  BOOST_TEST(mask_read(dir.file("plain.mask")).redraw == 0);
  // an IteRand mask whose kept weights were never redrawn is version 2 with no redraw tensors
  Mask empty = tiny_mask();
  empty.redraw = kRedrawVersion;
  empty.redraws.resize(empty.layers.size());
  mask_write(dir.file("empty.mask"), empty);
  const PopupFile e = popup_file_read(dir.file("empty.mask"), FileKind::mask);
  BOOST_TEST(e.version == 2);
  BOOST_TEST(e.tensors.size() == f.tensors.size());
  const Mask back = mask_read(dir.file("empty.mask"));
  BOOST_TEST(back.redraw == kRedrawVersion);
  for (const LayerRedraws& r : back.redraws) BOOST_TEST(r.index.empty());
}

BOOST_AUTO_TEST_CASE(version_and_redraw_keys_are_checked) {
  TempDir dir;
  const std::string v2 = dir.file("v2.mask"), v1 = dir.file("v1.mask");
  mask_write(v2, tiny_mask_redrawn());
  mask_write(v1, tiny_mask());
  const std::vector<char> v2_bytes = file_bytes(v2), v1_bytes = file_bytes(v1);
  const std::string bad = dir.file("bad.mask");

  file_write(bad, v2_bytes);  // version 1 file with popup.redraw
  header_replace(bad, R"("popup.version":"2")", R"("popup.version":"1")");
  BOOST_CHECK_EXCEPTION(mask_read(bad), FormatError,
                        message_has{"popup.redraw is a key of mask format version 2, not 1"});

  file_write(bad, v1_bytes);  // version 2 without popup.redraw
  header_replace(bad, R"("popup.version":"1")", R"("popup.version":"2")");
  BOOST_CHECK_EXCEPTION(mask_read(bad), FormatError,
                        message_has{"missing metadata key popup.redraw (mask format version 2)"});

  file_write(bad, v2_bytes);  // a redraw stream this popup does not know
  header_replace(bad, R"("popup.redraw":"1")", R"("popup.redraw":"2")");
  BOOST_CHECK_EXCEPTION(mask_read(bad), VersionError,
                        message_has{"popup.redraw '2' is not a redraw version this popup knows "
                                    "(it knows 1): upgrade popup"});
  file_write(bad, v2_bytes);
  header_replace(bad, R"("popup.redraw":"1")", R"("popup.redraw":"01")");
  BOOST_CHECK_THROW(mask_read(bad), Error);

  file_write(bad, v2_bytes);  // a newer mask format
  header_replace(bad, R"("popup.version":"2")", R"("popup.version":"3")");
  BOOST_CHECK_EXCEPTION(mask_read(bad), VersionError,
                        message_has{"mask format version 3 is newer than this popup reads (up "
                                    "to 2): upgrade popup"});
  // other kinds stay at version 1
  recipe_write(dir.file("a.recipe"), tiny_recipe());
  header_replace(dir.file("a.recipe"), R"("popup.version":"1")", R"("popup.version":"2")");
  BOOST_CHECK_EXCEPTION(popup_file_read(dir.file("a.recipe")), VersionError,
                        message_has{"recipe format version 2 is newer than this popup reads "
                                    "(up to 1)"});
}

BOOST_AUTO_TEST_CASE(damaged_redraw_records_are_refused) {
  TempDir dir;
  const std::string path = dir.file("bad.mask");
  const Mask good = tiny_mask_redrawn();
  const std::vector<TensorSpec> specs = recipe_tensors(good.recipe);
  const size_t t = 0;  // the first layer, with two or more records
  BOOST_REQUIRE(good.redraws[t].index.size() >= 2u);
  const LayerMask& layer = good.layers[t];
  const auto refused = [&](const Mask& m, const std::string& text) {
    mask_write(path, m);
    BOOST_CHECK_EXCEPTION(mask_read(path), FormatError, message_has{text});
  };
  const std::string entry = "redraw record of \"" + layer.name + "\", entry ";

  Mask m = good;
  std::swap(m.redraws[t].index[0], m.redraws[t].index[1]);
  refused(m, entry + "1 (weight " + std::to_string(m.redraws[t].index[1]) +
                 "): positions must increase");
  m = good;
  m.redraws[t].index[1] = m.redraws[t].index[0];
  refused(m, entry + "1 (weight " + std::to_string(m.redraws[t].index[0]) +
                 "): positions must increase");

  m = good;  // a dropped weight
  int64_t dropped = -1;
  for (int64_t i = m.redraws[t].index[0] + 1; i < layer.numel() && dropped < 0; ++i)
    if (!layer.get(i)) dropped = i;
  BOOST_REQUIRE(dropped >= 0);
  m.redraws[t].index.resize(2);  // entry 1 the dropped weight, still after entry 0
  m.redraws[t].count.resize(2);
  m.redraws[t].index[1] = static_cast<uint32_t>(dropped);
  refused(m, entry + "1 (weight " + std::to_string(dropped) +
                 "): the mask drops this weight (only kept weights are recorded)");

  m = good;  // past the layer's end (the last entry)
  m.redraws[t].index.back() = static_cast<uint32_t>(layer.numel());
  refused(m, "(weight " + std::to_string(layer.numel()) + "): past the layer's last weight");
  m.redraws[t].index.back() = 0xffffffffu;
  refused(m, "(weight 4294967295): past the layer's last weight");

  m = good;  // count 0
  m.redraws[t].count[1] = 0;
  refused(m, entry + "1 (weight " + std::to_string(m.redraws[t].index[1]) +
                 "): a redraw count is at least 1");

  m = good;  // more records than kept weights
  m.redraws[t].index.clear();
  m.redraws[t].count.clear();
  for (int64_t i = 0; i <= layer.kept; ++i) {
    m.redraws[t].index.push_back(static_cast<uint32_t>(i));
    m.redraws[t].count.push_back(1);
  }
  refused(m, "must be U32 [m] with 1 <= m <= the layer's " + std::to_string(layer.kept) +
                 " kept weights");

  // Tensor-level damage, written from a good file's metadata and tensors.
  mask_write(dir.file("good.mask"), good);
  const PopupFile f = popup_file_read(dir.file("good.mask"), FileKind::mask);
  const std::string index_name = "redraw." + layer.name + ".index";
  const std::string count_name = "redraw." + layer.name + ".count";
  const size_t ix = tensor_at(f, index_name), cx = tensor_at(f, count_name);
  BOOST_REQUIRE(cx == ix + 1);
  const auto refused_refs = [&](const std::vector<TensorRef>& refs, const std::string& text) {
    rewrite(path, f, refs);
    BOOST_CHECK_EXCEPTION(mask_read(path), FormatError, message_has{text});
  };
  std::vector<TensorRef> refs = refs_of(f);
  refs.erase(refs.begin() + static_cast<long>(cx));  // an index without its count
  refused_refs(refs, "redraw index \"" + index_name + "\" must be followed by \"" + count_name);

  refs = refs_of(f);  // count before index
  std::swap(refs[ix], refs[cx]);
  refused_refs(refs, "tensor \"" + count_name + "\" is not the redraw index of a later layer");

  refs = refs_of(f);  // wrong dtypes
  refs[ix].dtype = Dtype::I32;
  refused_refs(refs, "redraw index \"" + index_name + "\" must be U32 [m]");
  refs = refs_of(f);
  refs[cx].dtype = Dtype::I16;
  refused_refs(refs, "must be followed by \"" + count_name + "\", U16");
  refs = refs_of(f);
  refs[cx].dtype = Dtype::U32;  // U32 count (data of the index, right size)
  refs[cx].data = refs[ix].data;
  refused_refs(refs, "must be followed by \"" + count_name + "\", U16");
  refs = refs_of(f);  // count of another length
  refs[cx].shape = {refs[ix].shape[0] - 1};
  refused_refs(refs, "must be followed by \"" + count_name + "\", U16");
  refs = refs_of(f);  // index of two dimensions
  refs[ix].shape = {1, refs[ix].shape[0]};
  refused_refs(refs, "must be U32 [m]");

  // A redraw tensor of a layer that comes earlier than one already recorded
  BOOST_REQUIRE(good.redraws.size() >= 2u && !good.redraws[1].index.empty());
  refs = refs_of(f);
  const size_t ix1 = tensor_at(f, "redraw." + good.layers[1].name + ".index");
  std::rotate(refs.begin() + static_cast<long>(ix), refs.begin() + static_cast<long>(ix1),
              refs.begin() + static_cast<long>(ix1 + 2));  // layer 1's pair before layer 0's
  refused_refs(refs, "is not the redraw index of a later layer");

  // An unknown redraw.* tensor
  refs = refs_of(f);
  refs[ix].name = "redraw.nope.index";
  refused_refs(refs, "tensor \"redraw.nope.index\" is not the redraw index of a later layer");

  // A version 1 file with redraw tensors (and no popup.redraw): not state
  PopupFile plain = f;
  plain.metadata.erase("popup.redraw");
  popup_file_write(path, plain.kind, plain.recipe, plain.metadata, refs_of(f));
  BOOST_CHECK_THROW(mask_read(path), FormatError);
}

BOOST_AUTO_TEST_SUITE_END()

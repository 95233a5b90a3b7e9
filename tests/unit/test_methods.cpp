// The methods other than edge-popup (method_engine.hpp), on the scripted executor: global top-k
// keeps exactly the global count with the (layer, element) tie rule and ramps; biprop hands
// sign(w) * alpha * mask with alpha the mean |w| of the kept weights; dense training updates
// the weights by SGD; the supermask's samples have the density sigmoid(s) within sampling
// error and are reproducible; each method's first step is its stated gradient, and every
// method resumes from a checkpoint to the same result.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "format/output_file.hpp"
#include "train/method.hpp"
#include "train/method_engine.hpp"
#include "scripted_executor.hpp"
#include "temp_dir.hpp"
#include "train/topk.hpp"

using namespace popup;
using namespace scripted;

namespace {

std::vector<std::vector<float>> scores_of(const Trainer& trainer, const TempDir& dir) {
  trainer.write_scores(dir.file("s.scores"));
  return weights_from_file(popup_file_read(dir.file("s.scores")));
}

std::vector<std::vector<float>> weights_written(const Trainer& trainer, const TempDir& dir) {
  OutputFile out(dir.file("d.weights"));
  trainer.write_weights(out);
  return weights_from_file(popup_file_read(dir.file("d.weights"), FileKind::weights));
}

// One step (the first epoch of two, one batch each), then stopped.
void first_epoch(Setup& s) {
  std::atomic<bool> stop{true};
  TrainHooks hooks;
  hooks.stop = &stop;
  s.trainer->run(hooks);
}

float sign_of(float v) { return static_cast<float>((v > 0) - (v < 0)); }

// The scores a Setup starts from (edge-popup's initialisation, also global's and biprop's).
std::vector<std::vector<float>> initial_scores(Method method, const TempDir& dir) {
  Setup s(false, method);
  return scores_of(*s.trainer, dir);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(methods)

BOOST_AUTO_TEST_CASE(global_keeps_the_global_count_ties_by_layer_then_element) {
  const Recipe recipe = small_recipe();
  const Network net = arch_network(recipe.arch, recipe.input, recipe.classes);
  const std::vector<std::vector<float>> w = recipe_generate(recipe);
  ScriptedExecutor exec(net);
  MethodEngine engine(exec, OptimizerConfig(), Method::global, 0);
  // |score| in {0.1, 0.2, 0.3}: ties everywhere, within and across layers
  std::vector<std::vector<float>> scores(w.size());
  int64_t total = 0;
  for (size_t t = 0; t < w.size(); ++t) {
    const int64_t n = static_cast<int64_t>(w[t].size());
    for (int64_t i = 0; i < n; ++i)
      scores[t].push_back(static_cast<float>((i * 7 + static_cast<int64_t>(t) * 3) % 3 + 1) * 0.1f *
                          (i % 2 ? -1.0f : 1.0f));
    engine.load(t, n, w[t].data(), scores[t].data(), n);
    total += n;
  }
  for (const double k : {0.3, 0.5, 0.77}) {
    engine.set_keep_fraction(k);
    engine.refresh();
    // The reference: a full sort by (|s| descending, layer, element).
    std::vector<std::tuple<float, size_t, int64_t>> order;
    for (size_t t = 0; t < w.size(); ++t)
      for (int64_t i = 0; i < static_cast<int64_t>(w[t].size()); ++i)
        order.emplace_back(std::fabs(scores[t][static_cast<size_t>(i)]), t, i);
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) > std::get<0>(b);
      return std::tie(std::get<1>(a), std::get<2>(a)) < std::tie(std::get<1>(b), std::get<2>(b));
    });
    const int64_t keep =
        total - static_cast<int64_t>(std::floor((1 - k) * static_cast<double>(total)));
    std::vector<std::vector<uint8_t>> expected(w.size());
    for (size_t t = 0; t < w.size(); ++t) expected[t].assign(w[t].size(), 0);
    for (int64_t j = 0; j < keep; ++j)
      expected[std::get<1>(order[static_cast<size_t>(j)])]
              [static_cast<size_t>(std::get<2>(order[static_cast<size_t>(j)]))] = 1;
    int64_t kept = 0;
    for (size_t t = 0; t < w.size(); ++t) {
      std::vector<uint8_t> mask(w[t].size());
      engine.mask(t, mask.data());
      for (size_t i = 0; i < mask.size(); ++i) {
        BOOST_TEST_REQUIRE(mask[i] == expected[t][i],
                           "k " << k << " tensor " << t << " element " << i);
        BOOST_TEST_REQUIRE(exec.weights(t)[i] == (mask[i] ? w[t][i] : 0.0f));
        kept += mask[i];
      }
    }
    BOOST_TEST(kept == keep);
  }
}

BOOST_AUTO_TEST_CASE(global_first_step_is_straight_through_and_masks_are_global_topk) {
  TempDir dir;
  const std::vector<std::vector<float>> before = initial_scores(Method::global, dir);
  Setup s(false, Method::global, 0.3);
  first_epoch(s);
  const std::vector<std::vector<float>> after = scores_of(*s.trainer, dir);
  const std::vector<std::vector<float>> w = recipe_generate(s.recipe);
  std::vector<float> all;
  for (size_t t = 0; t < w.size(); ++t)
    for (size_t i = 0; i < w[t].size(); ++i) {
      const float sc = before[t][i];
      const float g =
          ScriptedExecutor::gradient(t, static_cast<int64_t>(i)) * w[t][i] * sign_of(sc);
      BOOST_TEST_REQUIRE(after[t][i] == sc - 0.1f * (g + 0.01f * sc),
                         "tensor " << t << " element " << i);
      all.push_back(after[t][i]);
    }
  std::vector<uint8_t> mask(all.size());
  std::vector<uint64_t> scratch;
  const int64_t n = static_cast<int64_t>(all.size());
  topk_mask(all.data(), n, topk_keep_count(n, 0.3), mask.data(), scratch);
  const Mask m = s.trainer->mask();
  size_t at = 0;
  int64_t kept = 0;
  for (size_t t = 0; t < w.size(); ++t) {
    for (int64_t i = 0; i < m.layers[t].numel(); ++i)
      BOOST_TEST_REQUIRE(m.layers[t].get(i) == (mask[at++] == 1));
    kept += m.layers[t].kept;
    BOOST_TEST(m.extra.at("popup.train.density." + m.layers[t].name) ==
               double_format(static_cast<double>(m.layers[t].kept) /
                             static_cast<double>(m.layers[t].numel())));
  }
  BOOST_TEST(kept == topk_keep_count(n, 0.3));
  BOOST_TEST(m.extra.at("popup.train.method") == "global");
}

BOOST_AUTO_TEST_CASE(global_ramp_is_cubic_and_starts_dense) {
  BOOST_TEST(global_keep_fraction(0.2, 0, 4) == 1.0);
  BOOST_TEST(global_keep_fraction(0.2, 1, 4) == 0.2 + 0.8 * 0.75 * 0.75 * 0.75);
  BOOST_TEST(global_keep_fraction(0.2, 4, 4) == 0.2);
  BOOST_TEST(global_keep_fraction(0.2, 3, 0) == 0.2);
  Setup s(false, Method::global, 0.2, [](TrainConfig& c) { c.ramp_epochs = 1; });
  first_epoch(s);  // epoch 0 of the ramp keeps everything
  Mask m = s.trainer->mask();
  for (const LayerMask& l : m.layers) BOOST_TEST(l.kept == l.numel());
  s.trainer->run({});
  m = s.trainer->mask();
  int64_t kept = 0, total = 0;
  for (const LayerMask& l : m.layers) kept += l.kept, total += l.numel();
  BOOST_TEST(kept == topk_keep_count(total, 0.2));
  BOOST_TEST(m.extra.at("popup.train.ramp_epochs") == "1");
}

BOOST_AUTO_TEST_CASE(biprop_hands_sign_alpha_mask_with_alpha_the_mean_kept_magnitude) {
  TempDir dir;
  const std::vector<std::vector<float>> before = initial_scores(Method::biprop, dir);
  Setup s(false, Method::biprop, 0.5);
  const std::vector<std::vector<float>> w = recipe_generate(s.recipe);
  const auto check = [&](const std::vector<std::vector<float>>& scores, const Mask* file) {
    std::vector<uint64_t> scratch;
    for (size_t t = 0; t < w.size(); ++t) {
      const int64_t n = static_cast<int64_t>(w[t].size());
      std::vector<uint8_t> mask(static_cast<size_t>(n));
      topk_mask(scores[t].data(), n, topk_keep_count(n, 0.5), mask.data(), scratch);
      double sum = 0;
      int64_t kept = 0;
      for (int64_t i = 0; i < n; ++i)
        if (mask[static_cast<size_t>(i)]) sum += std::fabs(w[t][static_cast<size_t>(i)]), ++kept;
      BOOST_TEST(kept == topk_keep_count(n, 0.5));
      const float alpha = static_cast<float>(sum / static_cast<double>(kept));
      for (int64_t i = 0; i < n; ++i) {
        const size_t j = static_cast<size_t>(i);
        BOOST_TEST_REQUIRE(s.exec->weights(t)[j] == (mask[j] ? sign_of(w[t][j]) * alpha : 0.0f),
                           "tensor " << t << " element " << i);
      }
      if (file)
        BOOST_TEST(file->extra.at("popup.train.alpha." + file->layers[t].name) ==
                   double_format(alpha));
    }
  };
  check(before, nullptr);  // the initial masks
  first_epoch(s);
  const std::vector<std::vector<float>> after = scores_of(*s.trainer, dir);
  // The gradient: the reference's backward passes g * |w| to |s|, with g = dL/dw_eff * sign(w):
  // dL/ds = dL/dw_eff * w * sign(s), as edge-popup's.
  for (size_t t = 0; t < w.size(); ++t)
    for (size_t i = 0; i < w[t].size(); ++i) {
      const float sc = before[t][i];
      const float g =
          ScriptedExecutor::gradient(t, static_cast<int64_t>(i)) * w[t][i] * sign_of(sc);
      BOOST_TEST_REQUIRE(after[t][i] == sc - 0.1f * (g + 0.01f * sc));
    }
  const Mask m = s.trainer->mask();
  check(after, &m);
  // What popup-eval makes of the mask file is what the trainer handed the executor.
  std::vector<std::vector<float>> eff = w;
  mask_effective_weights(m, eff);
  for (size_t t = 0; t < w.size(); ++t) BOOST_TEST(eff[t] == s.exec->weights(t));
}

BOOST_AUTO_TEST_CASE(dense_trains_the_weights_by_sgd) {
  TempDir dir;
  Setup s(false, Method::dense);
  const std::vector<std::vector<float>> w = recipe_generate(s.recipe);
  BOOST_TEST(s.exec->weights(0) == w[0]);
  first_epoch(s);
  const std::vector<std::vector<float>> trained = weights_written(*s.trainer, dir);
  for (size_t t = 0; t < w.size(); ++t) {
    for (size_t i = 0; i < w[t].size(); ++i) {
      const float g = ScriptedExecutor::gradient(t, static_cast<int64_t>(i));
      BOOST_TEST_REQUIRE(trained[t][i] == w[t][i] - 0.1f * (g + 0.01f * w[t][i]));
    }
    BOOST_TEST(s.exec->weights(t) == trained[t]);
  }
  const PopupFile f = popup_file_read(dir.file("d.weights"), FileKind::weights);
  BOOST_TEST(f.metadata.at("popup.train.method") == "dense");
  BOOST_TEST(f.metadata.at("popup.train.test_acc") == "0.5");
  BOOST_TEST(f.metadata.count("popup.train.k") == 0u);
  BOOST_CHECK_THROW(s.trainer->mask(), InvalidArgument);
}

BOOST_AUTO_TEST_CASE(method_defaults_fill_only_what_was_not_given) {
  TrainConfig c;
  c.method = Method::dense;
  train_config_method_defaults(c, {});
  BOOST_TEST(c.schedule.base_lr == 0.01);
  BOOST_TEST(c.batch_size == 128);
  c = TrainConfig();
  c.method = Method::dense;
  c.optimizer.kind = OptimizerKind::adam;
  train_config_method_defaults(c, {});
  BOOST_TEST(c.schedule.base_lr == 3e-4);
  BOOST_TEST(c.batch_size == 60);
  BOOST_TEST((c.schedule.kind == ScheduleKind::constant));
  c = TrainConfig();
  c.method = Method::supermask;
  c.schedule.base_lr = 5;
  GivenOptions given;
  given.lr = true;
  train_config_method_defaults(c, given);
  BOOST_TEST(c.schedule.base_lr == 5);
  BOOST_TEST(c.optimizer.weight_decay == 0);
}

BOOST_AUTO_TEST_CASE(supermask_samples_have_density_sigmoid_within_five_sigma_and_repeat) {
  const int64_t n = 200000;
  std::vector<float> logits(static_cast<size_t>(n));
  double expected = 0, variance = 0;
  for (int64_t i = 0; i < n; ++i) {
    logits[static_cast<size_t>(i)] =
        static_cast<float>(-3.0 + 6.0 * static_cast<double>(i % 1000) / 999.0);
    const double p = 1 / (1 + std::exp(-static_cast<double>(logits[static_cast<size_t>(i)])));
    expected += p;
    variance += p * (1 - p);
  }
  std::vector<uint8_t> a(static_cast<size_t>(n)), b(a.size()), c(a.size());
  for (uint32_t draw = 0; draw < 3; ++draw) {
    supermask_sample(logits.data(), n, 7, RandomStream::supermask, draw, 2, a.data());
    const double count = static_cast<double>(std::count(a.begin(), a.end(), uint8_t{1}));
    // the count of independent Bernoulli(p_i) has mean sum p_i, variance sum p_i (1 - p_i):
    // 5 standard deviations (about 1 in 1.7 million by chance)
    BOOST_TEST(std::fabs(count - expected) < 5 * std::sqrt(variance),
               "draw " << draw << ": " << count << " vs " << expected);
  }
  // a constant logit: density sigmoid(c)
  std::vector<float> constant(static_cast<size_t>(n), 0.7f);
  supermask_sample(constant.data(), n, 1, RandomStream::supermask, 0, 0, a.data());
  const double p = 1 / (1 + std::exp(-0.7));
  const double density =
      static_cast<double>(std::count(a.begin(), a.end(), uint8_t{1})) / static_cast<double>(n);
  BOOST_TEST(std::fabs(density - p) < 5 * std::sqrt(p * (1 - p) / static_cast<double>(n)));
  // reproducible; another draw, tensor, seed or stream is another mask
  supermask_sample(logits.data(), n, 7, RandomStream::supermask, 1, 2, a.data());
  supermask_sample(logits.data(), n, 7, RandomStream::supermask, 1, 2, b.data());
  BOOST_TEST(a == b);
  supermask_sample(logits.data(), n, 7, RandomStream::supermask, 2, 2, c.data());
  BOOST_TEST(a != c);
  supermask_sample(logits.data(), n, 7, RandomStream::supermask_eval, 1, 2, c.data());
  BOOST_TEST(a != c);
}

BOOST_AUTO_TEST_CASE(supermask_first_step_is_straight_through_sigmoid) {
  TempDir dir;
  Setup s(false, Method::supermask, 0.5, [](TrainConfig& c) {
    c.score_init = 0.25;
    c.optimizer.weight_decay = 0.01;
  });
  const std::vector<std::vector<float>> w = recipe_generate(s.recipe);
  // before training: the weights of draw 0
  for (size_t t = 0; t < w.size(); ++t) {
    std::vector<float> logits(w[t].size(), 0.25f);
    std::vector<uint8_t> m(w[t].size());
    supermask_sample(logits.data(), static_cast<int64_t>(m.size()), 0, RandomStream::supermask, 0,
                     static_cast<uint32_t>(t), m.data());
    for (size_t i = 0; i < m.size(); ++i)
      BOOST_TEST_REQUIRE(s.exec->weights(t)[i] == (m[i] ? w[t][i] : 0.0f));
  }
  first_epoch(s);
  const std::vector<std::vector<float>> after = scores_of(*s.trainer, dir);
  const Mask mask = s.trainer->mask();
  for (size_t t = 0; t < w.size(); ++t) {
    const float p = 1.0f / (1.0f + std::exp(-0.25f));
    std::vector<uint8_t> m(w[t].size());
    supermask_sample(after[t].data(), static_cast<int64_t>(m.size()), 0, RandomStream::supermask, 1,
                     static_cast<uint32_t>(t), m.data());
    for (size_t i = 0; i < w[t].size(); ++i) {
      const float g =
          ScriptedExecutor::gradient(t, static_cast<int64_t>(i)) * w[t][i] * (p * (1.0f - p));
      BOOST_TEST_REQUIRE(after[t][i] == 0.25f - 0.1f * (g + 0.01f * 0.25f),
                         "tensor " << t << " element " << i);
      // after the epoch's evaluation the executor has the sample of the next step again
      BOOST_TEST_REQUIRE(s.exec->weights(t)[i] == (m[i] ? w[t][i] : 0.0f));
      BOOST_TEST_REQUIRE(mask.layers[t].get(static_cast<int64_t>(i)) == (after[t][i] > 0.0f));
    }
    BOOST_TEST(mask.layers[t].k == 1.0);
  }
  BOOST_TEST(mask.k == 1.0);
  BOOST_TEST(mask.extra.at("popup.train.score_init") == "0.25");
}

BOOST_AUTO_TEST_CASE(every_method_resumes_to_the_same_result) {
  for (const Method method : {Method::global, Method::biprop, Method::supermask, Method::dense}) {
    BOOST_TEST_CONTEXT(method_name(method)) {
      TempDir dir;
      const auto adjust = [](TrainConfig& c) {
        c.schedule.epochs = 3;
        c.ramp_epochs = c.method == Method::global ? 2 : 0;
        c.optimizer.kind = OptimizerKind::adam;
      };
      Setup whole(false, method, 0.4, adjust);
      whole.trainer->run({});
      Setup first(false, method, 0.4, adjust);
      std::atomic<bool> stop{true};
      TrainHooks hooks;
      hooks.stop = &stop;
      hooks.checkpoint_path = dir.file("c.ckpt");
      first.trainer->run(hooks);
      BOOST_TEST(first.trainer->stopped());
      Setup resumed(false, method, 0.4, adjust);
      resumed.trainer->resume(popup_file_read(dir.file("c.ckpt"), FileKind::checkpoint));
      resumed.trainer->run({});
      BOOST_TEST(resumed.trainer->finished());
      if (method == Method::dense) {
        BOOST_TEST(weights_written(*whole.trainer, dir) == weights_written(*resumed.trainer, dir));
        continue;
      }
      const Mask a = whole.trainer->mask(), b = resumed.trainer->mask();
      for (size_t t = 0; t < a.layers.size(); ++t) BOOST_TEST(a.layers[t].bits == b.layers[t].bits);
      BOOST_TEST(scores_of(*whole.trainer, dir) == scores_of(*resumed.trainer, dir));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

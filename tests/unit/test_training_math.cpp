// The backend-independent pieces of training: top-k counts and tie-breaks against a full
// sort, the incremental top-k selector against topk_mask, optimiser updates against
// hand-computed PyTorch steps and the fused straight-through update against the unfused one
// (bit for bit), the host engines' LazyOptimizer (steps kept until it is made, state per
// tensor), schedules against the formula.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "error.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"
#include "train/topk.hpp"

using namespace popup;

BOOST_AUTO_TEST_SUITE(training_math)

BOOST_AUTO_TEST_CASE(keep_count_is_n_minus_floor_of_dropped) {
  BOOST_TEST(topk_keep_count(10, 0.5) == 5);
  BOOST_TEST(topk_keep_count(11, 0.5) == 6);  // floor(5.5) = 5 dropped
  BOOST_TEST(topk_keep_count(10, 0.3) == 3);  // (1 - 0.3) * 10 = 7.000000000000001 -> 7
  BOOST_TEST(topk_keep_count(3, 0.1) == 1);   // floor(2.7) = 2 dropped
  BOOST_TEST(topk_keep_count(7, 1.0) == 7);
  BOOST_TEST(topk_keep_count(2560, 0.5) == 1280);
}

BOOST_AUTO_TEST_CASE(mask_equals_full_sort_reference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<uint64_t> scratch;
  for (const int64_t n : {1, 2, 7, 100, 4097}) {
    for (const double k : {0.1, 0.3, 0.5, 0.9, 1.0}) {
      std::vector<float> s(static_cast<size_t>(n));
      for (float& x : s) x = normal(rng);
      const int64_t keep = topk_keep_count(n, k);
      std::vector<uint8_t> mask(static_cast<size_t>(n));
      topk_mask(s.data(), n, keep, mask.data(), scratch);
      // Reference: stable sort of indices by |s| descending; the first `keep` are kept.
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return std::fabs(s[static_cast<size_t>(a)]) > std::fabs(s[static_cast<size_t>(b)]);
      });
      std::vector<uint8_t> expected(static_cast<size_t>(n), 0);
      for (int64_t i = 0; i < keep; ++i)
        expected[static_cast<size_t>(order[static_cast<size_t>(i)])] = 1;
      BOOST_TEST_CONTEXT("n=" << n << " k=" << k) { BOOST_TEST(mask == expected); }
    }
  }
}

BOOST_AUTO_TEST_CASE(ties_keep_the_lower_index_and_sign_does_not_matter) {
  const std::vector<float> s = {0.5f, -0.5f, 0.25f, 0.5f, -0.75f, 0.0f};
  std::vector<uint8_t> mask(s.size());
  std::vector<uint64_t> scratch;
  topk_mask(s.data(), 6, 3, mask.data(), scratch);  // -0.75, then two of the three 0.5s
  BOOST_TEST(mask == (std::vector<uint8_t>{1, 1, 0, 0, 1, 0}), boost::test_tools::per_element());
}

namespace {

// The first index where two masks differ, or -1.
int64_t first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return -1;
}

// The first index where two float arrays differ in their bits, or -1.
int64_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(selector_equals_topk_mask_over_perturbed_steps) {
  // Each layer size runs a sequence of steps through one selector, as training does: small
  // moves (the band holds the threshold), large moves and rescalings (the band misses, moves,
  // or the full selection runs), ties, zeros of both signs, infinities and NaN (the largest
  // |score|: its bit pattern is above infinity's). 70001 runs the parallel pass.
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<uint64_t> scratch_ref, scratch;
  int64_t band_steps = 0;
  for (const int64_t n : {1, 2, 3, 7, 100, 4097, 70001}) {
    std::vector<int64_t> keeps = {0, 1, n - 1, n, n / 2, topk_keep_count(n, 0.3)};
    for (const int64_t keep : keeps) {
      if (keep < 0) continue;
      TopkSelector selector;
      std::vector<float> s(static_cast<size_t>(n));
      for (float& x : s) x = normal(rng);
      std::vector<uint8_t> expected(static_cast<size_t>(n)), mask(static_cast<size_t>(n));
      for (int step = 0; step < 40; ++step) {
        const int kind = step % 10;
        for (float& x : s) {
          if (kind <= 4)
            x += 1e-6f * normal(rng);  // small: training steps
          else if (kind == 5)
            x += 0.3f * normal(rng);  // large
          else if (kind == 6)
            x *= 4.0f;  // the threshold jumps up
          else if (kind == 7)
            x *= 0.01f;  // ... and down
          else if (kind == 8)
            x = std::round(x * 4.0f) / 4.0f;  // ties, zeros among them
          else if (uniform(rng) < 0.01f)
            x = -x;  // signs do not matter
        }
        if (kind == 9 && n >= 7) {  // specials: NaN, infinities, signed zeros
          s[1] = std::numeric_limits<float>::quiet_NaN();
          s[static_cast<size_t>(n) / 2] = -std::numeric_limits<float>::infinity();
          s[static_cast<size_t>(n) - 1] = std::numeric_limits<float>::infinity();
          s[2] = -0.0f;
          s[3] = 0.0f;
        }
        if (kind == 0 && n >= 7) {  // NaN again with its sign bit set; specials linger
          s[4] = -std::numeric_limits<float>::quiet_NaN();
        }
        topk_mask(s.data(), n, keep, expected.data(), scratch_ref);
        selector.select(s.data(), n, keep, mask.data(), scratch);
        if (!selector.last().full && selector.last().passes > 0) ++band_steps;
        const int64_t diff = first_difference(mask, expected);
        BOOST_TEST_CONTEXT("n=" << n << " keep=" << keep << " step=" << step) {
          BOOST_TEST(diff == -1, "first differing index " << diff);
          BOOST_TEST(std::count(mask.begin(), mask.end(), uint8_t{1}) == std::min(keep, n));
        }
        // Specials would pin the threshold and hide the band's work: clear them again.
        for (float& x : s)
          if (!std::isfinite(x)) x = normal(rng);
      }
    }
  }
  BOOST_TEST(band_steps > 100);  // most steps found the threshold in the band
}

BOOST_AUTO_TEST_CASE(selector_handles_all_equal_scores_and_a_threshold_at_the_extremes) {
  // All |score| equal: the band holds every key and the tie-break alone decides (lower
  // indices kept). Then the threshold goes to NaN's bit pattern and to zero.
  const int64_t n = 50000;
  std::vector<uint64_t> scratch_ref, scratch;
  std::vector<uint8_t> expected(n), mask(n);
  TopkSelector selector;
  std::vector<float> s(n, 0.5f);
  for (int64_t i = 0; i < n; i += 3) s[static_cast<size_t>(i)] = -0.5f;
  const int64_t keep = n / 3;
  for (int step = 0; step < 4; ++step) {
    if (step == 2) std::fill(s.begin(), s.end(), std::numeric_limits<float>::quiet_NaN());
    if (step == 3) std::fill(s.begin(), s.end(), 0.0f);
    topk_mask(s.data(), n, keep, expected.data(), scratch_ref);
    selector.select(s.data(), n, keep, mask.data(), scratch);
    BOOST_TEST_CONTEXT("step=" << step) {
      BOOST_TEST(first_difference(mask, expected) == -1);
      BOOST_TEST(std::all_of(mask.begin(), mask.begin() + keep, [](uint8_t m) { return m == 1; }));
    }
  }
}

BOOST_AUTO_TEST_CASE(straight_through_update_equals_gradient_then_update_bit_for_bit) {
  // The fused pass forms g * w * sign(s) per element inside the optimiser's loop; the unfused
  // path forms it first (as the engine used to) and calls update(). Same bits, every config.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  const int64_t n = 40000;  // above the parallel threshold
  std::vector<OptimizerConfig> configs(5);
  configs[1].nesterov = true;
  configs[2].momentum = 0;
  configs[3].kind = OptimizerKind::adam;
  configs[4].kind = OptimizerKind::adam;
  configs[4].weight_decay = 0;
  for (size_t c = 0; c < configs.size(); ++c) {
    Optimizer fused(configs[c], {3, n}), unfused(configs[c], {3, n});
    std::vector<float> w(n), s(n);
    for (int64_t i = 0; i < n; ++i) {
      w[static_cast<size_t>(i)] = i % 2 ? 0.05f : -0.05f * normal(rng);
      s[static_cast<size_t>(i)] = 0.1f * normal(rng);
    }
    s[0] = 0.0f;
    s[1] = -0.0f;
    s[2] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> s_fused = s, s_unfused = s;
    for (int step = 0; step < 4; ++step) {
      std::vector<float> grad_w(n);
      for (float& g : grad_w) g = 1e-3f * normal(rng);
      std::vector<float> g = grad_w;
      for (int64_t i = 0; i < n; ++i) {
        const float x = s_unfused[static_cast<size_t>(i)];
        const float sign = static_cast<float>((x > 0.0f) - (x < 0.0f));
        g[static_cast<size_t>(i)] = g[static_cast<size_t>(i)] * w[static_cast<size_t>(i)] * sign;
      }
      const double lr = 0.1 / (step + 1);
      fused.begin_step();
      fused.update_straight_through(1, s_fused.data(), grad_w.data(), w.data(), lr);
      unfused.begin_step();
      unfused.update(1, s_unfused.data(), g.data(), lr);
      BOOST_TEST_CONTEXT("config=" << c << " step=" << step) {
        BOOST_TEST(first_bit_difference(s_fused, s_unfused) == -1);
        for (const std::string& name : fused.state_names())
          BOOST_TEST(first_bit_difference(fused.state(name, 1), unfused.state(name, 1)) == -1,
                     name);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(sgd_matches_pytorch_steps) {
  // PyTorch SGD(lr=0.1, momentum=0.9, weight_decay=0.01): buf = g + wd p on the first step,
  // then buf = 0.9 buf + (g + wd p); p -= lr buf. Hand-computed for p = 1, g = 0.5, 0.25.
  OptimizerConfig c;
  c.weight_decay = 0.01;
  Optimizer opt(c, {1});
  float p = 1.0f;
  const float g1 = 0.5f, g2 = 0.25f;
  opt.begin_step();
  opt.update(0, &p, &g1, 0.1);
  const float d1 = 0.5f + 0.01f * 1.0f, p1 = 1.0f - 0.1f * d1;
  BOOST_TEST(p == p1);
  opt.begin_step();
  opt.update(0, &p, &g2, 0.1);
  const float buf2 = 0.9f * d1 + (0.25f + 0.01f * p1);
  BOOST_TEST(p == p1 - 0.1f * buf2);
}

BOOST_AUTO_TEST_CASE(nesterov_and_adam_match_their_formulas) {
  OptimizerConfig c;
  c.weight_decay = 0;
  c.nesterov = true;
  Optimizer sgd(c, {1});
  float p = 2.0f;
  const float g = 1.0f;
  sgd.begin_step();
  sgd.update(0, &p, &g, 0.5);
  BOOST_TEST(p == 2.0f - 0.5f * (1.0f + 0.9f * 1.0f));  // d + mu * buf, buf = d
  OptimizerConfig a;
  a.kind = OptimizerKind::adam;
  a.weight_decay = 0;
  Optimizer adam(a, {1});
  float q = 1.0f;
  adam.begin_step();
  adam.update(0, &q, &g, 0.01);
  // Step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2: q -= lr * g / (|g| + eps).
  BOOST_TEST(std::fabs(q - (1.0f - 0.01f * 1.0f / (1.0f + 1e-8f))) < 1e-7);
}

BOOST_AUTO_TEST_CASE(lazy_optimizer_keeps_steps_sizes_and_state_of_the_engines) {
  OptimizerConfig c;
  c.kind = OptimizerKind::adam;
  LazyOptimizer lazy(c);
  lazy.tensor_add(2);
  lazy.tensor_add(0);  // a layer kept dense: no state
  lazy.tensor_add(3);
  BOOST_TEST((lazy.state_names() == std::vector<std::string>{"adam_m", "adam_v"}));
  lazy.set_steps(7);  // a resumed checkpoint, before the optimiser exists
  BOOST_TEST(!lazy.made());
  BOOST_TEST(lazy.steps() == 7);
  const std::vector<float> in{1.5f, -2.0f, 0.25f};
  lazy.set_state("adam_v", 2, in.data());
  BOOST_TEST(lazy.made());
  BOOST_TEST(lazy.get().steps() == 7);
  BOOST_TEST(lazy.get().state("adam_m", 0).size() == 2u);
  BOOST_TEST(lazy.get().state("adam_v", 1).empty());
  std::vector<float> out(3, 0.0f);
  lazy.state("adam_v", 2, out.data());
  BOOST_TEST(out == in, boost::test_tools::per_element());
  lazy.get().begin_step();
  BOOST_TEST(lazy.steps() == 8);
  lazy.set_steps(3);
  BOOST_TEST(lazy.get().steps() == 3);
  BOOST_CHECK_THROW(lazy.state("momentum_v", 0, out.data()), popup::InvalidArgument);
  c.kind = OptimizerKind::sgd;
  BOOST_TEST((LazyOptimizer(c).state_names() == std::vector<std::string>{"momentum"}));
}

BOOST_AUTO_TEST_CASE(schedules_follow_the_reference) {
  ScheduleConfig c;
  c.base_lr = 0.1;
  c.epochs = 4;
  BOOST_TEST(schedule_lr(c, 0, 5, 10) == 0.1);
  BOOST_TEST(std::fabs(schedule_lr(c, 2, 0, 10) - 0.05) < 1e-15);
  BOOST_TEST(std::fabs(schedule_lr(c, 3, 9, 10) - 0.1 * 0.5 * (1 + std::cos(M_PI * 3 / 4))) <
             1e-15);
  c.kind = ScheduleKind::cosine_step;
  BOOST_TEST(std::fabs(schedule_lr(c, 1, 5, 10) - 0.1 * 0.5 * (1 + std::cos(M_PI * 1.5 / 4))) <
             1e-15);
  c.kind = ScheduleKind::cosine;
  c.warmup_epochs = 2;
  BOOST_TEST(std::fabs(schedule_lr(c, 0, 0, 10) - 0.05) < 1e-15);  // base * (e + 1) / W
  BOOST_TEST(schedule_lr(c, 2, 0, 10) == 0.1);                     // cosine restarts after W
  c.kind = ScheduleKind::step;
  c.warmup_epochs = 0;
  c.step_size = 2;
  c.gamma = 0.5;
  BOOST_TEST(schedule_lr(c, 3, 0, 10) == 0.05);
  BOOST_CHECK_THROW(schedule_parse("linear"), InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

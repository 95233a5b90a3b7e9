// The backend-independent pieces of training: top-k counts and tie-breaks against a full
// sort, optimiser updates against hand-computed PyTorch steps, schedules against the formula.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "error.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"
#include "topk.hpp"

using namespace popup;

BOOST_AUTO_TEST_SUITE(training_math)

BOOST_AUTO_TEST_CASE(keep_count_is_n_minus_floor_of_dropped) {
  BOOST_TEST(topk_keep_count(10, 0.5) == 5);
  BOOST_TEST(topk_keep_count(11, 0.5) == 6);   // floor(5.5) = 5 dropped
  BOOST_TEST(topk_keep_count(10, 0.3) == 3);   // (1 - 0.3) * 10 = 7.000000000000001 -> 7
  BOOST_TEST(topk_keep_count(3, 0.1) == 1);    // floor(2.7) = 2 dropped
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
      for (int64_t i = 0; i < keep; ++i) expected[static_cast<size_t>(order[static_cast<size_t>(i)])] = 1;
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

BOOST_AUTO_TEST_CASE(schedules_follow_the_reference) {
  ScheduleConfig c;
  c.base_lr = 0.1;
  c.epochs = 4;
  BOOST_TEST(schedule_lr(c, 0, 5, 10) == 0.1);
  BOOST_TEST(std::fabs(schedule_lr(c, 2, 0, 10) - 0.05) < 1e-15);
  BOOST_TEST(std::fabs(schedule_lr(c, 3, 9, 10) - 0.1 * 0.5 * (1 + std::cos(M_PI * 3 / 4))) < 1e-15);
  c.kind = ScheduleKind::cosine_step;
  BOOST_TEST(std::fabs(schedule_lr(c, 1, 5, 10) - 0.1 * 0.5 * (1 + std::cos(M_PI * 1.5 / 4))) < 1e-15);
  c.kind = ScheduleKind::cosine;
  c.warmup_epochs = 2;
  BOOST_TEST(std::fabs(schedule_lr(c, 0, 0, 10) - 0.05) < 1e-15);  // base * (e + 1) / W
  BOOST_TEST(schedule_lr(c, 2, 0, 10) == 0.1);                      // cosine restarts after W
  c.kind = ScheduleKind::step;
  c.warmup_epochs = 0;
  c.step_size = 2;
  c.gamma = 0.5;
  BOOST_TEST(schedule_lr(c, 3, 0, 10) == 0.05);
  BOOST_CHECK_THROW(schedule_parse("linear"), InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

// The trainer's algorithm with a scripted executor: after one step the scores are exactly
// s - lr * (g * w * sign(s) + wd * s) (PyTorch SGD's first step), the executor receives
// w * topk(|s|), masks keep the exact count, dense layers stay whole, and a checkpoint
// round trip resumes to the same state.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "scripted_executor.hpp"
#include "temp_dir.hpp"
#include "topk.hpp"
#include "trainer.hpp"

using namespace popup;

namespace {

using namespace scripted;

std::vector<std::vector<float>> scores_of(const Trainer& trainer, const TempDir& dir) {
  trainer.write_scores(dir.file("s.scores"));
  return weights_from_file(popup_file_read(dir.file("s.scores")));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(trainer)

BOOST_AUTO_TEST_CASE(first_step_is_straight_through_sgd_and_masks_are_topk) {
  TempDir dir;
  Setup s;
  const std::vector<std::vector<float>> before = scores_of(*s.trainer, dir);
  const std::vector<std::vector<float>> w = recipe_generate(s.recipe);
  std::atomic<bool> stop{true};  // stop after the first epoch (one step)
  TrainHooks hooks;
  hooks.stop = &stop;
  s.trainer->run(hooks);
  BOOST_TEST(s.exec->forwards() == 1);
  const std::vector<std::vector<float>> after = scores_of(*s.trainer, dir);
  std::vector<uint64_t> scratch;
  for (size_t t = 0; t < w.size(); ++t) {
    const int64_t n = static_cast<int64_t>(w[t].size());
    for (int64_t i = 0; i < n; ++i) {
      const float sc = before[t][static_cast<size_t>(i)];
      const float sign = static_cast<float>((sc > 0) - (sc < 0));
      const float g = ScriptedExecutor::gradient(t, i) * w[t][static_cast<size_t>(i)] * sign;
      const float expected = sc - 0.1f * (g + 0.01f * sc);  // lr 0.1 in epoch 0 of 2
      BOOST_TEST_REQUIRE(after[t][static_cast<size_t>(i)] == expected, "tensor " << t << " element " << i);
    }
    std::vector<uint8_t> mask(static_cast<size_t>(n));
    topk_mask(after[t].data(), n, topk_keep_count(n, 0.5), mask.data(), scratch);
    for (int64_t i = 0; i < n; ++i)
      BOOST_TEST_REQUIRE(s.exec->weights(t)[static_cast<size_t>(i)] ==
                         (mask[static_cast<size_t>(i)] ? w[t][static_cast<size_t>(i)] : 0.0f));
  }
  const Mask m = s.trainer->mask();
  for (const LayerMask& l : m.layers) BOOST_TEST(l.kept == topk_keep_count(l.numel(), 0.5));
  BOOST_TEST(m.extra.at("popup.train.test_acc") == "0.5");
}

BOOST_AUTO_TEST_CASE(dense_first_layer_keeps_every_weight) {
  Setup s(/*first_dense=*/true);
  TrainHooks hooks;
  s.trainer->run(hooks);
  const Mask m = s.trainer->mask();
  BOOST_TEST(m.layers[0].kept == m.layers[0].numel());
  BOOST_TEST(m.layers[0].k == 1.0);
  BOOST_TEST(m.layers[1].kept == topk_keep_count(m.layers[1].numel(), 0.5));
  BOOST_TEST(s.exec->weights(0) == recipe_generate(s.recipe)[0]);
}

BOOST_AUTO_TEST_CASE(checkpoint_resumes_to_the_same_mask) {
  TempDir dir;
  Setup whole;
  whole.trainer->run({});
  Setup first;
  std::atomic<bool> stop{true};
  TrainHooks hooks;
  hooks.stop = &stop;
  hooks.checkpoint_path = dir.file("c.ckpt");
  first.trainer->run(hooks);
  BOOST_TEST(first.trainer->stopped());
  Setup resumed;
  resumed.trainer->resume(popup_file_read(dir.file("c.ckpt"), FileKind::checkpoint));
  resumed.trainer->run({});
  BOOST_TEST(resumed.trainer->finished());
  const Mask a = whole.trainer->mask(), b = resumed.trainer->mask();
  for (size_t t = 0; t < a.layers.size(); ++t) BOOST_TEST(a.layers[t].bits == b.layers[t].bits);
  BOOST_TEST(scores_of(*whole.trainer, dir) == scores_of(*resumed.trainer, dir));
}

BOOST_AUTO_TEST_SUITE_END()

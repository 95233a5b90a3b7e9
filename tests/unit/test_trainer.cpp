// The trainer's algorithm with a scripted executor: after one step the scores are exactly
// s - lr * (g * w * sign(s) + wd * s) (PyTorch SGD's first step), the executor receives
// w * topk(|s|), masks keep the exact count, dense layers stay whole, and a checkpoint
// round trip resumes to the same state. With learn_bn (scripted affine BatchNorm on resnet18)
// gamma and beta move by exactly the optimiser's update of the executor's BatchNorm gradients,
// for every masking method, travel in the mask and resume exactly; dense training of a ResNet
// writes them, with the running statistics, after its weights. Checkpoints every N steps fall
// mid-epoch and resume to the same mask. IteRand (method iterand) records its redraws in the
// mask, whose effective weights are those training used, and resumes to the same record.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "scripted_executor.hpp"
#include "format/state_tensors.hpp"
#include "temp_dir.hpp"
#include "train/method.hpp"
#include "train/topk.hpp"
#include "train/trainer.hpp"

using namespace popup;

namespace {

using namespace scripted;

std::vector<std::vector<float>> scores_of(const Trainer& trainer, const TempDir& dir) {
  trainer.write_scores(dir.file("s.scores"));
  return weights_from_file(popup_file_read(dir.file("s.scores")));
}

// A trainer with learn_bn over the scripted affine-BatchNorm executor (two epochs of one step).
struct BnSetup {
  Recipe recipe = resnet_recipe();
  Dataset data;
  TrainConfig config;
  ScriptedBnExecutor* exec = nullptr;
  std::unique_ptr<Trainer> trainer;

  explicit BnSetup(Method method = Method::edge_popup, OptimizerKind kind = OptimizerKind::sgd,
                   bool learn_bn = true) {
    data.name = "synthetic";
    data.train = zero_split(8);
    data.test = zero_split(6);
    config.batch_size = 8;
    config.schedule.epochs = 2;
    config.method = method;
    config.learn_bn = learn_bn;
    config.optimizer.kind = kind;
    config.optimizer.weight_decay = 0.01;
    const Network net = arch_network(recipe.arch, recipe.input, recipe.classes);
    auto scripted = std::make_unique<ScriptedBnExecutor>(net);
    exec = scripted.get();
    trainer = std::make_unique<Trainer>(recipe, recipe_generate(recipe), data, config,
                                        std::move(scripted));
  }
};

const Tensor& state_tensor(const Mask& m, const std::string& name) {
  for (const Tensor& t : m.state)
    if (t.info.name == name) return t;
  BOOST_FAIL("the mask has no state tensor " << name);
  return m.state.front();
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
      BOOST_TEST_REQUIRE(after[t][static_cast<size_t>(i)] == expected,
                         "tensor " << t << " element " << i);
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

BOOST_AUTO_TEST_CASE(checkpoint_every_parses_epochs_steps_and_wall_time) {
  const auto parsed = [](const std::string& text) {
    CheckpointEvery every;
    checkpoint_every_parse(text, every);
    return every;
  };
  BOOST_TEST(parsed("5").epochs == 5);
  BOOST_TEST(parsed("2epochs").epochs == 2);
  BOOST_TEST(parsed("500steps").steps == 500);
  BOOST_TEST(parsed("30s").seconds == 30);
  BOOST_TEST(parsed("10min").seconds == 600);
  BOOST_TEST(parsed("2h").seconds == 7200);
  const CheckpointEvery none = parsed("0");
  BOOST_TEST((none.epochs == 0 && none.steps == 0 && none.seconds == 0));
  CheckpointEvery both;
  checkpoint_every_parse("3", both);
  checkpoint_every_parse("7steps", both);
  BOOST_TEST((both.epochs == 3 && both.steps == 7));
  for (const char* bad : {"", "x", "5x", "-1", "1.5h", "0steps", "1000000001", "99999999999"})
    BOOST_CHECK_THROW(parsed(bad), InvalidArgument);
}

// Four steps an epoch, two epochs: a checkpoint every 3 steps falls mid-epoch (steps 3 and 6);
// the last one resumes to the mask of the run that was never stopped. Every 4 steps the
// checkpoint falls on an epoch's last step and is written at the epoch's end.
BOOST_AUTO_TEST_CASE(step_checkpoints_mid_epoch_resume_to_the_same_mask) {
  TempDir dir;
  const auto two_per_batch = [](TrainConfig& c) { c.batch_size = 2; };
  Setup whole(false, Method::edge_popup, 0.5, two_per_batch);
  whole.trainer->run({});
  for (const int64_t steps : {3, 4}) {
    Setup first(false, Method::edge_popup, 0.5, two_per_batch);
    TrainHooks hooks;
    hooks.checkpoint_path = dir.file("c.ckpt");
    hooks.checkpoint_every.steps = steps;
    first.trainer->run(hooks);
    const PopupFile c = popup_file_read(dir.file("c.ckpt"), FileKind::checkpoint);
    const std::string epoch = steps == 3 ? "1" : "2", batch = steps == 3 ? "2" : "0";
    BOOST_TEST(c.metadata.at("popup.checkpoint.epoch") == epoch);
    BOOST_TEST(c.metadata.at("popup.checkpoint.batch") == batch);
    BOOST_TEST(c.metadata.at("popup.checkpoint.steps") == std::to_string(steps == 3 ? 6 : 8));
    Setup resumed(false, Method::edge_popup, 0.5, two_per_batch);
    resumed.trainer->resume(c);
    resumed.trainer->run({});
    BOOST_TEST(resumed.trainer->finished());
    const Mask a = whole.trainer->mask(), b = resumed.trainer->mask();
    for (size_t t = 0; t < a.layers.size(); ++t) BOOST_TEST(a.layers[t].bits == b.layers[t].bits);
    BOOST_TEST(scores_of(*whole.trainer, dir) == scores_of(*resumed.trainer, dir));
  }
}

BOOST_AUTO_TEST_CASE(learn_bn_steps_gamma_and_beta_by_the_optimiser_for_every_method) {
  for (const Method method :
       {Method::edge_popup, Method::global, Method::biprop, Method::supermask}) {
    BOOST_TEST_CONTEXT(method_name(method)) {
      BnSetup s(method);
      const int bns = static_cast<int>(s.exec->names().size());
      BOOST_TEST(bns == 20);
      BOOST_TEST(s.exec->bn_sets() == bns);  // 1 and 0 handed at the start
      BOOST_TEST(s.exec->gamma(0) == std::vector<float>(s.exec->gamma(0).size(), 1.0f));
      std::atomic<bool> stop{true};  // one step
      TrainHooks hooks;
      hooks.stop = &stop;
      s.trainer->run(hooks);
      BOOST_TEST(s.exec->bn_sets() == 2 * bns);  // and after the step
      // PyTorch SGD's first step (momentum buffer = d): p - lr (g + wd p), lr 0.1, wd
      // 0.01 (supermask's default wd 0 is not applied here: Setup sets it)
      const float lr = 0.1f, wd = 0.01f;
      const Mask m = s.trainer->mask();
      BOOST_TEST(m.extra.at("popup.train.learn_bn") == "1");
      for (size_t b = 0; b < s.exec->names().size(); ++b) {
        const std::string& bn = s.exec->names()[b];
        const std::vector<float>& gamma = s.exec->gamma(b);
        const std::vector<float>& beta = s.exec->beta(b);
        for (size_t c = 0; c < gamma.size(); ++c) {
          const float want_gamma =
              1.0f - lr * (ScriptedBnExecutor::bn_gradient(b, c, false) + wd * 1.0f);
          const float want_beta =
              0.0f - lr * (ScriptedBnExecutor::bn_gradient(b, c, true) + wd * 0.0f);
          BOOST_TEST_REQUIRE(gamma[c] == want_gamma, bn << " channel " << c);
          BOOST_TEST_REQUIRE(beta[c] == want_beta, bn << " channel " << c);
        }
        BOOST_TEST(state_tensor(m, bn + ".weight").f32 == gamma);
        BOOST_TEST(state_tensor(m, bn + ".bias").f32 == beta);
      }
      // PyTorch's state_dict order: weight, bias, running_mean, running_var
      const size_t first = m.state.size() - 4 * s.exec->names().size();
      BOOST_TEST(m.state.at(first).info.name == "bn1.weight");
      BOOST_TEST(m.state.at(first + 1).info.name == "bn1.bias");
      BOOST_TEST(m.state.at(first + 2).info.name == "bn1.running_mean");
    }
  }
}

BOOST_AUTO_TEST_CASE(learn_bn_adam_step_is_the_optimisers_update) {
  BnSetup s(Method::edge_popup, OptimizerKind::adam);
  std::atomic<bool> stop{true};
  TrainHooks hooks;
  hooks.stop = &stop;
  s.trainer->run(hooks);
  for (size_t b = 0; b < s.exec->names().size(); ++b) {
    const auto c = static_cast<int64_t>(s.exec->gamma(b).size());
    Optimizer reference(s.config.optimizer, {c, c});
    reference.begin_step();
    std::vector<float> gamma(static_cast<size_t>(c), 1.0f), beta(static_cast<size_t>(c), 0.0f);
    std::vector<float> dgamma(gamma.size()), dbeta(beta.size());
    s.exec->bn_grads(b, dgamma.data(), dbeta.data());
    reference.update(0, gamma.data(), dgamma.data(), 0.1);
    reference.update(1, beta.data(), dbeta.data(), 0.1);
    BOOST_TEST_REQUIRE(s.exec->gamma(b) == gamma, s.exec->names()[b]);
    BOOST_TEST_REQUIRE(s.exec->beta(b) == beta, s.exec->names()[b]);
  }
}

BOOST_AUTO_TEST_CASE(learn_bn_checkpoint_resumes_to_the_same_gamma_and_beta) {
  for (const OptimizerKind kind : {OptimizerKind::sgd, OptimizerKind::adam}) {
    BOOST_TEST_CONTEXT(optimizer_name(kind)) {
      TempDir dir;
      BnSetup whole(Method::edge_popup, kind);
      whole.trainer->run({});
      BnSetup first(Method::edge_popup, kind);
      std::atomic<bool> stop{true};
      TrainHooks hooks;
      hooks.stop = &stop;
      hooks.checkpoint_path = dir.file("c.ckpt");
      first.trainer->run(hooks);
      BnSetup resumed(Method::edge_popup, kind);
      const PopupFile ckpt = popup_file_read(dir.file("c.ckpt"), FileKind::checkpoint);
      resumed.trainer->resume(ckpt);
      BOOST_TEST(resumed.exec->gamma(0) == first.exec->gamma(0));  // handed on resuming
      resumed.trainer->run({});
      const Mask a = whole.trainer->mask(), b = resumed.trainer->mask();
      BOOST_TEST_REQUIRE(a.state.size() == b.state.size());
      for (size_t i = 0; i < a.state.size(); ++i) {
        BOOST_TEST(a.state[i].info.name == b.state[i].info.name);
        BOOST_TEST(a.state[i].f32 == b.state[i].f32, a.state[i].info.name);
      }
      for (size_t t = 0; t < a.layers.size(); ++t) BOOST_TEST(a.layers[t].bits == b.layers[t].bits);
      BOOST_TEST(whole.exec->gamma(3) != std::vector<float>(whole.exec->gamma(3).size(), 1.0f));
      // a checkpoint of a --learn-bn run does not resume without it
      BnSetup plain(Method::edge_popup, kind, /*learn_bn=*/false);
      BOOST_CHECK_THROW(plain.trainer->resume(ckpt), MismatchError);
    }
  }
}

BOOST_AUTO_TEST_CASE(learn_bn_mask_round_trip_and_reader_checks) {
  TempDir dir;
  BnSetup s;
  s.trainer->run({});
  const Mask m = s.trainer->mask();
  mask_write(dir.file("bn.mask"), m);
  const Mask back = mask_read(dir.file("bn.mask"));
  BOOST_TEST(state_has_affine_bn(back.state));
  BOOST_TEST(back.state.size() == m.state.size());
  BOOST_TEST(state_tensor(back, "layer3.0.downsample.1.bias").f32 ==
             state_tensor(m, "layer3.0.downsample.1.bias").f32);
  const auto refused = [&](const std::function<void(Mask&)>& change, const std::string& why) {
    Mask bad = m;
    change(bad);
    mask_write(dir.file("bad.mask"), bad);
    BOOST_CHECK_EXCEPTION(mask_read(dir.file("bad.mask")), Error, [&](const Error& e) {
      const bool found = std::string(e.what()).find(why) != std::string::npos;
      if (!found) BOOST_TEST_MESSAGE("message: " << e.what());
      return found;
    });
  };
  refused([](Mask& b) { b.state.erase(b.state.begin() + 1); },  // bn1.bias
          "39 BatchNorm scales and shifts, but the recipe's resnet18 has 20 BatchNorms");
  refused(
      [](Mask& b) {
        b.state[0].info.shape = {2, 32};
      },
      "BatchNorm parameter \"bn1.weight\" must be F32 [64]");
  refused([](Mask& b) { b.state[0].info.name = "bn9.weight"; }, "unexpected tensor \"bn9.weight\"");
  // a mask without them is evaluated as before
  Mask plain = m;
  plain.state.erase(std::remove_if(plain.state.begin(), plain.state.end(),
                                   [](const Tensor& t) {
                                     return t.info.name.find("running") == std::string::npos;
                                   }),
                    plain.state.end());
  BOOST_TEST(!state_has_affine_bn(plain.state));
  mask_write(dir.file("plain.mask"), plain);
  BOOST_TEST(mask_read(dir.file("plain.mask")).state.size() == 40);
}

BOOST_AUTO_TEST_CASE(dense_resnet_writes_its_batchnorm_into_the_weights_file) {
  TempDir dir;
  BnSetup s(Method::dense);
  s.trainer->run({});
  {
    OutputFile out(dir.file("r.weights"));
    s.trainer->write_weights(out);
  }
  PopupFile f = popup_file_read(dir.file("r.weights"), FileKind::weights);
  const std::vector<Tensor> state = state_take(f);
  BOOST_TEST(state_has_affine_bn(state));
  BOOST_TEST_REQUIRE(state.size() == 4 * s.exec->names().size());  // weight, bias, mean, var
  for (size_t b = 0; b < s.exec->names().size(); ++b) {
    const std::string& bn = s.exec->names()[b];
    BOOST_TEST(state[4 * b].info.name == bn + ".weight");
    BOOST_TEST(state[4 * b + 1].info.name == bn + ".bias");
    BOOST_TEST(state[4 * b + 2].info.name == bn + ".running_mean");
    BOOST_TEST(state[4 * b + 3].info.name == bn + ".running_var");
    BOOST_TEST(state[4 * b].f32 == s.exec->gamma(b));
    BOOST_TEST(state[4 * b + 1].f32 == s.exec->beta(b));
  }
  BOOST_TEST(s.exec->gamma(0) != std::vector<float>(s.exec->gamma(0).size(), 1.0f));
  const std::vector<std::vector<float>> weights = weights_from_file(std::move(f));
  BOOST_TEST(weights.size() == recipe_tensors(s.recipe).size());
  BOOST_TEST(weights != recipe_generate(s.recipe));  // trained
  // the reader's checks of the state: F32 only; gamma and beta for all BatchNorms or none
  const auto refused = [&](const std::vector<TensorRef>& extra, const std::string& why) {
    const PopupFile good = popup_file_read(dir.file("r.weights"));
    std::vector<TensorRef> refs;
    for (const Tensor& t : good.tensors)
      if (t.info.name.find("bn1.") != 0)
        refs.push_back({t.info.name, Dtype::F32, t.info.shape, t.f32.data()});
    for (const TensorRef& r : extra) refs.push_back(r);
    popup_file_write(dir.file("bad.weights"), FileKind::weights, s.recipe, {}, refs);
    BOOST_CHECK_EXCEPTION(popup_file_read(dir.file("bad.weights")), Error, [&](const Error& e) {
      const bool found = std::string(e.what()).find(why) != std::string::npos;
      if (!found) BOOST_TEST_MESSAGE("message: " << e.what());
      return found;
    });
  };
  const std::vector<uint8_t> bytes(64, 0);
  const std::vector<float> c64(64, 0.0f);
  refused({{"bn1.weight", Dtype::U8, {64}, bytes.data()}},
          "unexpected tensor \"bn1.weight\" after the weights (state tensors are F32)");
  refused({{"bn1.weight", Dtype::F32, {64}, c64.data()}},
          "39 BatchNorm scales and shifts, but the recipe's resnet18 has 20 BatchNorms");
  refused({{"fc2.weight", Dtype::F32, {64}, c64.data()}}, "unexpected tensor \"fc2.weight\"");
}

BOOST_AUTO_TEST_CASE(dense_training_of_a_resnet_needs_learn_bn) {
  BOOST_CHECK_EXCEPTION(BnSetup(Method::dense, OptimizerKind::sgd, /*learn_bn=*/false),
                        InvalidArgument, [](const InvalidArgument& e) {
                          return std::string(e.what()).find("trains its BatchNorm too") !=
                                 std::string::npos;
                        });
}

BOOST_AUTO_TEST_CASE(learn_bn_needs_a_network_with_batchnorm) {
  BOOST_CHECK_EXCEPTION(
      Setup(false, Method::edge_popup, 0.5, [](TrainConfig& c) { c.learn_bn = true; }),
      InvalidArgument, [](const InvalidArgument& e) {
        return std::string(e.what()).find("has no BatchNorm") != std::string::npos;
      });
}

// IteRand on the edge-popup engine: four steps an epoch, two epochs, a redraw event every two
// steps at rate 0.5. The redraws change training (the scores differ from edge-popup's), the
// mask records redrawn kept weights, its effective weights are exactly those the executor was
// last handed, and a checkpoint between events (step 3) or right after one (step 4) resumes to
// the same bits, record and scores.
namespace {
const auto iterand_config = [](TrainConfig& c) {
  c.batch_size = 2;
  c.rerandomize_every = 2;
  c.rerandomize_rate = 0.5;
};

void same_record(const Mask& a, const Mask& b) {
  BOOST_TEST(a.redraw == b.redraw);
  BOOST_REQUIRE(a.redraws.size() == b.redraws.size());
  for (size_t t = 0; t < a.redraws.size(); ++t) {
    BOOST_TEST(a.redraws[t].index == b.redraws[t].index, "tensor " << t);
    BOOST_TEST(a.redraws[t].count == b.redraws[t].count, "tensor " << t);
  }
}

int64_t recorded(const Mask& m) {
  int64_t n = 0;
  for (const LayerRedraws& r : m.redraws) n += static_cast<int64_t>(r.index.size());
  return n;
}
}  // namespace

BOOST_AUTO_TEST_CASE(iterand_redraws_change_training_and_the_mask_records_them) {
  TempDir dir;
  Setup iterand(false, Method::iterand, 0.5, iterand_config);
  iterand.trainer->run({});
  Setup plain(false, Method::edge_popup, 0.5, [](TrainConfig& c) { c.batch_size = 2; });
  plain.trainer->run({});
  const Mask m = iterand.trainer->mask();
  BOOST_TEST(m.redraw == kRedrawVersion);
  BOOST_TEST(m.extra.at("popup.train.method") == "iterand");
  BOOST_TEST(m.extra.at("popup.train.rerandomize_every") == "2");
  BOOST_TEST(m.extra.at("popup.train.rerandomize_rate") == "0.5");
  BOOST_TEST_REQUIRE(recorded(m) > 0);
  BOOST_TEST(plain.trainer->mask().redraw == 0);
  BOOST_TEST(scores_of(*iterand.trainer, dir) != scores_of(*plain.trainer, dir));
  // counts of at most 4 events; recorded weights are kept, increasing
  for (size_t t = 0; t < m.redraws.size(); ++t)
    for (size_t j = 0; j < m.redraws[t].index.size(); ++j) {
      BOOST_TEST(m.layers[t].get(m.redraws[t].index[j]));
      BOOST_TEST((m.redraws[t].count[j] >= 1 && m.redraws[t].count[j] <= 4));
      if (j) BOOST_TEST(m.redraws[t].index[j] > m.redraws[t].index[j - 1]);
    }
  // the effective weights popup-eval builds from the mask are what training last handed over
  std::vector<std::vector<float>> eff = recipe_generate(iterand.recipe);
  mask_effective_weights(m, eff);
  for (size_t t = 0; t < eff.size(); ++t)
    BOOST_TEST(eff[t] == iterand.exec->weights(t), "tensor " << t);
  Mask unrecorded = m;
  unrecorded.redraw = 0;
  unrecorded.redraws.clear();
  std::vector<std::vector<float>> eff_plain = recipe_generate(iterand.recipe);
  mask_effective_weights(unrecorded, eff_plain);
  BOOST_TEST(eff_plain != eff);
  // and through the file
  mask_write(dir.file("i.mask"), m);
  BOOST_TEST(popup_file_read(dir.file("i.mask")).version == 2);
  std::vector<std::vector<float>> eff_file = recipe_generate(iterand.recipe);
  mask_effective_weights(mask_read(dir.file("i.mask")), eff_file);
  BOOST_TEST(eff_file == eff);
}

// Event 1 comes right after step K = 2 (the last of a run of one epoch of two steps), from the
// training seed, on the mask of the scores after that step: the checkpoint of step 2 holds
// exactly the picks of redraw_picked among the weights topk(scores) drops as counts.
BOOST_AUTO_TEST_CASE(iterand_event_k_uses_the_mask_after_step_k_and_the_training_seed) {
  TempDir dir;
  const auto config = [](TrainConfig& c) {
    c.batch_size = 4;  // two steps an epoch
    c.schedule.epochs = 1;
    c.rerandomize_every = 2;
    c.rerandomize_rate = 0.5;
    c.seed = 3;
  };
  Setup s(false, Method::iterand, 0.5, config);
  TrainHooks hooks;
  hooks.checkpoint_path = dir.file("c.ckpt");
  hooks.checkpoint_every.steps = 2;
  s.trainer->run(hooks);
  const PopupFile c = popup_file_read(dir.file("c.ckpt"), FileKind::checkpoint);
  BOOST_TEST_REQUIRE(c.metadata.at("popup.checkpoint.steps") == "2");
  const auto tensor = [&](const std::string& name) -> const Tensor& {
    for (const Tensor& t : c.tensors)
      if (t.info.name == name) return t;
    BOOST_FAIL("no tensor " << name);
    return c.tensors.front();
  };
  int64_t total = 0, other_seed_differs = 0;
  std::vector<uint64_t> scratch;
  const std::vector<TensorSpec> specs = recipe_tensors(s.recipe);
  for (size_t t = 0; t < specs.size(); ++t) {
    const int64_t n = specs[t].numel();
    const std::vector<float>& scores = tensor("scores." + specs[t].name).f32;
    std::vector<uint8_t> mask(static_cast<size_t>(n));
    topk_mask(scores.data(), n, topk_keep_count(n, 0.5), mask.data(), scratch);
    const Tensor& counts = tensor("redraws." + specs[t].name);
    BOOST_REQUIRE(counts.u8.size() == static_cast<size_t>(2 * n));
    for (int64_t i = 0; i < n; ++i) {
      uint16_t got;
      std::memcpy(&got, counts.u8.data() + 2 * i, 2);
      const bool picked =
          !mask[static_cast<size_t>(i)] && redraw_picked(3, 1, static_cast<uint32_t>(t), i, 0.5);
      BOOST_TEST_REQUIRE(got == (picked ? 1 : 0), "tensor " << t << " weight " << i);
      total += got;
      other_seed_differs +=
          picked != (!mask[static_cast<size_t>(i)] &&
                     redraw_picked(s.recipe.seed, 1, static_cast<uint32_t>(t), i, 0.5));
    }
  }
  BOOST_TEST(total > 0);
  BOOST_TEST(other_seed_differs > 0);
}

BOOST_AUTO_TEST_CASE(iterand_checkpoints_resume_to_the_same_mask_and_record) {
  TempDir dir;
  Setup whole(false, Method::iterand, 0.5, iterand_config);
  whole.trainer->run({});
  const Mask a = whole.trainer->mask();
  BOOST_TEST_REQUIRE(recorded(a) > 0);
  for (const int64_t steps : {3, 4}) {
    Setup first(false, Method::iterand, 0.5, iterand_config);
    TrainHooks hooks;
    hooks.checkpoint_path = dir.file("c.ckpt");
    hooks.checkpoint_every.steps = steps;
    first.trainer->run(hooks);
    const PopupFile c = popup_file_read(dir.file("c.ckpt"), FileKind::checkpoint);
    BOOST_TEST(c.version == 2);
    BOOST_TEST(c.metadata.at("popup.redraw") == "1");
    int counts_tensors = 0;
    for (const Tensor& t : c.tensors)
      if (t.info.name.rfind("redraws.", 0) == 0) {
        ++counts_tensors;
        BOOST_TEST((t.info.dtype == Dtype::U16));
      }
    BOOST_TEST(counts_tensors == static_cast<int>(recipe_tensors(whole.recipe).size()));
    Setup resumed(false, Method::iterand, 0.5, iterand_config);
    resumed.trainer->resume(c);
    resumed.trainer->run({});
    BOOST_TEST(resumed.trainer->finished());
    const Mask b = resumed.trainer->mask();
    for (size_t t = 0; t < a.layers.size(); ++t) BOOST_TEST(a.layers[t].bits == b.layers[t].bits);
    same_record(a, b);
    BOOST_TEST(scores_of(*whole.trainer, dir) == scores_of(*resumed.trainer, dir));
    for (size_t t = 0; t < a.layers.size(); ++t)
      BOOST_TEST(whole.exec->weights(t) == resumed.exec->weights(t), "tensor " << t);
    // a checkpoint without the counts of a layer is refused
    std::vector<TensorRef> refs;
    for (const Tensor& t : c.tensors)
      if (t.info.name != "redraws." + a.layers[1].name)
        refs.push_back({t.info.name, t.info.dtype, t.info.shape,
                        t.info.dtype == Dtype::F32 ? static_cast<const void*>(t.f32.data())
                                                   : static_cast<const void*>(t.u8.data())});
    popup_file_write(dir.file("bad.ckpt"), FileKind::checkpoint, c.recipe, c.metadata, refs);
    Setup lacking(false, Method::iterand, 0.5, iterand_config);
    BOOST_CHECK_EXCEPTION(
        lacking.trainer->resume(popup_file_read(dir.file("bad.ckpt"), FileKind::checkpoint)),
        FormatError, [&](const FormatError& e) {
          BOOST_TEST_MESSAGE("message: " << e.what());
          return std::string(e.what()).find("lacks tensor redraws." + a.layers[1].name) !=
                 std::string::npos;
        });
  }
}

BOOST_AUTO_TEST_CASE(iterand_events_are_bounded) {
  // one step an epoch: 65535 epochs at every 1 is the most a run may hold, one more is refused
  BOOST_CHECK_NO_THROW(Setup(false, Method::iterand, 0.5, [](TrainConfig& c) {
    c.schedule.epochs = 65535;
    c.rerandomize_every = 1;
  }));
  BOOST_CHECK_EXCEPTION(Setup(false, Method::iterand, 0.5,
                              [](TrainConfig& c) {
                                c.schedule.epochs = 65536;
                                c.rerandomize_every = 1;
                              }),
                        InvalidArgument, [](const InvalidArgument& e) {
                          BOOST_TEST_MESSAGE("message: " << e.what());
                          return std::string(e.what()).find("more than 65535 redraw events") !=
                                 std::string::npos;
                        });
  BOOST_CHECK_THROW(
      Setup(false, Method::iterand, 0.5, [](TrainConfig& c) { c.rerandomize_every = 0; }),
      InvalidArgument);
  BOOST_CHECK_THROW(
      Setup(false, Method::iterand, 0.5, [](TrainConfig& c) { c.rerandomize_rate = 0; }),
      InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

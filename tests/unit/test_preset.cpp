// popup-train --preset: the official recipes' values (checked against the configuration files
// of allenai/hidden-networks by hand, numbers written here once more), options given on the
// command line left alone, the method defaults kept from overriding a preset, refusals.
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

#include "error.hpp"
#include "train/train_preset.hpp"

using namespace popup;

namespace {

// on_command_line for a set of option names
struct Given {
  std::set<std::string> options;
  bool operator()(const std::string& option) const { return options.count(option) > 0; }
};

bool message_has(const InvalidArgument& e, const std::string& text) {
  return std::string(e.what()).find(text) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(train_preset)

BOOST_AUTO_TEST_CASE(imagenet_is_the_largescale_config) {
  TrainConfig c;
  GivenOptions given;
  train_preset_apply("imagenet", c, given, Given{});
  BOOST_TEST(c.schedule.epochs == 100);
  BOOST_TEST(c.batch_size == 256);
  BOOST_TEST(c.schedule.base_lr == 0.256);
  BOOST_TEST(c.schedule.warmup_epochs == 5);
  BOOST_TEST((c.schedule.kind == ScheduleKind::cosine));
  BOOST_TEST((c.optimizer.kind == OptimizerKind::sgd));
  BOOST_TEST(c.optimizer.momentum == 0.875);
  BOOST_TEST(!c.optimizer.nesterov);
  BOOST_TEST(c.optimizer.weight_decay == 1.0 / 32768);  // 3.0517578125e-5 exactly
  BOOST_TEST(c.label_smoothing == 0.1);
  BOOST_TEST(c.k == 0.3);
  BOOST_TEST(!c.learn_bn);  // non-affine BatchNorm, popup's default
  BOOST_TEST(given.lr);
  BOOST_TEST(given.batch_size);
  BOOST_TEST(given.weight_decay);
  BOOST_TEST(given.schedule);
}

BOOST_AUTO_TEST_CASE(cifar_presets_are_the_smallscale_configs) {
  TrainConfig conv;
  GivenOptions given;
  train_preset_apply("cifar", conv, given, Given{});
  BOOST_TEST(conv.schedule.epochs == 100);
  BOOST_TEST(conv.batch_size == 128);
  BOOST_TEST(conv.schedule.base_lr == 0.1);
  BOOST_TEST(conv.schedule.warmup_epochs == 0);
  BOOST_TEST(conv.optimizer.momentum == 0.9);
  BOOST_TEST(conv.optimizer.weight_decay == 1e-4);
  BOOST_TEST(conv.label_smoothing == 0);
  TrainConfig resnet;
  train_preset_apply("cifar-resnet18", resnet, given, Given{});
  BOOST_TEST(resnet.batch_size == 256);
  BOOST_TEST(resnet.optimizer.weight_decay == 5e-4);
  BOOST_TEST(resnet.schedule.base_lr == 0.1);
}

BOOST_AUTO_TEST_CASE(options_given_override_the_preset) {
  TrainConfig c;
  c.schedule.base_lr = 0.05;
  c.schedule.epochs = 10;
  c.k = 0.5;
  c.batch_size = 32;
  c.optimizer.nesterov = true;
  GivenOptions given;
  train_preset_apply("imagenet", c, given,
                     Given{{"--lr", "--epochs", "--k", "--batch-size", "--nesterov"}});
  BOOST_TEST(c.schedule.base_lr == 0.05);
  BOOST_TEST(c.schedule.epochs == 10);
  BOOST_TEST(c.k == 0.5);
  BOOST_TEST(c.batch_size == 32);
  BOOST_TEST(c.optimizer.nesterov);
  BOOST_TEST(c.optimizer.momentum == 0.875);  // not given: the preset's
  BOOST_TEST(c.schedule.warmup_epochs == 5);
  BOOST_TEST(!given.lr);  // given by the user: the tool had already marked it (or not) itself
  BOOST_TEST(!given.batch_size);
}

BOOST_AUTO_TEST_CASE(dense_keeps_the_presets_rate_and_has_no_k) {
  TrainConfig c;
  c.method = Method::dense;
  c.k = 0.5;
  GivenOptions given;
  train_preset_apply("imagenet", c, given, Given{});
  train_config_method_defaults(c, given);  // dense alone would set lr 0.01
  BOOST_TEST(c.schedule.base_lr == 0.256);
  BOOST_TEST(c.optimizer.weight_decay == 1.0 / 32768);
  BOOST_TEST(c.k == 0.5);  // untouched: dense keeps every weight
}

BOOST_AUTO_TEST_CASE(refusals) {
  TrainConfig c;
  GivenOptions given;
  BOOST_CHECK_EXCEPTION(train_preset_apply("imagenet1k", c, given, Given{}), InvalidArgument,
                        [](const InvalidArgument& e) {
                          return e.file() == "--preset" && message_has(e, "'imagenet1k'") &&
                                 message_has(e, "imagenet, cifar, cifar-resnet18");
                        });
  // the preset's 5 warm-up epochs and --epochs 5
  TrainConfig short_run;
  short_run.schedule.epochs = 5;
  BOOST_CHECK_EXCEPTION(train_preset_apply("imagenet", short_run, given, Given{{"--epochs"}}),
                        InvalidArgument,
                        [](const InvalidArgument& e) { return message_has(e, "--warmup"); });
  TrainConfig no_warmup;
  no_warmup.schedule.epochs = 1;
  no_warmup.schedule.warmup_epochs = 0;
  train_preset_apply("imagenet", no_warmup, given, Given{{"--epochs", "--warmup"}});
  BOOST_TEST(no_warmup.schedule.warmup_epochs == 0);
  BOOST_TEST(no_warmup.schedule.base_lr == 0.256);
  TrainConfig supermask;
  supermask.method = Method::supermask;
  BOOST_CHECK_THROW(train_preset_apply("imagenet", supermask, given, Given{}), InvalidArgument);
  TrainConfig adam;
  adam.optimizer.kind = OptimizerKind::adam;
  BOOST_CHECK_THROW(train_preset_apply("cifar", adam, given, Given{{"--optimizer"}}),
                    InvalidArgument);
}

BOOST_AUTO_TEST_CASE(help_names_every_preset) {
  const std::string help = train_presets_help();
  for (const TrainPreset& p : train_presets()) {
    BOOST_TEST(help.find(p.name + ": ") != std::string::npos);
    BOOST_TEST(&train_preset_find(p.name) == &p);
  }
  BOOST_TEST(help.find("0.256") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// popup-train: find a subnetwork in frozen random weights (edge-popup, or --method global,
// biprop, supermask): read a weights or recipe file, train a score per weight on a data set,
// write the 1-bit mask; --method dense trains the weights and writes them.
#include <omp.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "data/dataset_info.hpp"
#include "backend/device.hpp"
#include "dist/launch.hpp"
#include "format/popup_file.hpp"
#include "format/signals.hpp"
#include "report/train_report.hpp"
#include "train/train_preset.hpp"
#include "train/trainer.hpp"
#include "image_options.hpp"
#include "tool_common.hpp"

namespace {

struct Options {
  std::string input = "-", output = "-", data = "fashion-mnist", scores_out, checkpoint, resume,
              log;
  std::string optimizer = "sgd", schedule = "cosine", device = "auto", seed_text = "0";
  std::string precision = "fp32", conv_algo = "direct", method = "edge-popup", preset;
  popup::DeviceChoice device_choice;
  popup::TrainConfig train;
  popup_tool::ImageOptions images;
  double lr = 0.1;
  std::vector<std::string> checkpoint_every;
  popup::CheckpointEvery every;
  int64_t epochs = 20;
  int threads = 0;
  bool quiet = false;
  bool sync_bn = false;
};

// Upper bounds of counts given on the command line: far beyond any real run, but checked,
// so that a typing error is refused rather than clamped or left to run for ever.
constexpr int64_t kEpochsMax = 1000000;
constexpr int64_t kCountMax = int64_t{1} << 40;

std::atomic<bool> stop_requested{false};

void options_check(Options& o, const CLI::App& app) {
  using popup_tool::UsageError;
  o.device_choice = popup::device_parse(o.device);
  o.device_choice.quiet_fallback = app.count("--device") == 0;
  o.train.precision = popup::precision_parse(o.precision);
  if (o.train.precision == popup::Precision::bf16)
    popup_tool::cpu_option_device("--precision bf16", o.device_choice, o.device);
  o.train.conv_algo = popup::conv_algo_parse(o.conv_algo);
  if (o.train.conv_algo != popup::ConvAlgo::direct)
    popup_tool::cpu_option_device("--conv-algo " + o.conv_algo, o.device_choice, o.device);
  popup_tool::device_check(o.device_choice);
  popup_tool::bf16_check(o.train.precision, o.device_choice);
  o.train.method = popup::method_parse(o.method);
  const popup::Method method = o.train.method;
  const auto refuse = [&](const char* option, bool meaningless) {
    if (meaningless && app.count(option))
      throw UsageError(std::string(option) + " has no meaning with --method " + o.method);
  };
  refuse("--k", method == popup::Method::dense || method == popup::Method::supermask);
  refuse("--first-layer-dense", method == popup::Method::dense);
  refuse("--last-layer-dense", method == popup::Method::dense);
  refuse("--scores-out", method == popup::Method::dense);
  refuse("--ramp-epochs", method != popup::Method::global);
  refuse("--score-init", method != popup::Method::supermask);
  refuse("--rerandomize-every", method != popup::Method::iterand);
  refuse("--rerandomize-rate", method != popup::Method::iterand);
  if (!(o.train.k > 0 && o.train.k <= 1))
    throw popup::InvalidArgument("--k",
                                 "must be in (0, 1], got " + popup::double_format(o.train.k));
  if (!(o.train.rerandomize_rate > 0 && o.train.rerandomize_rate <= 1))
    throw popup::InvalidArgument(
        "--rerandomize-rate",
        "must be in (0, 1], got " + popup::double_format(o.train.rerandomize_rate));
  if (!(o.train.val_split >= 0 && o.train.val_split < 1))
    throw UsageError("--val-split must be in [0, 1)");
  for (const std::string& every : o.checkpoint_every) popup::checkpoint_every_parse(every, o.every);
  const bool periodic = o.every.epochs > 0 || o.every.steps > 0 || o.every.seconds > 0;
  if (periodic && o.checkpoint.empty())
    throw UsageError("--checkpoint-every needs --checkpoint FILE");
  if (!popup::uint_parse(o.seed_text, o.train.seed))
    throw UsageError("--seed must be an integer from 0 to 2^64-1, got '" + o.seed_text + "'");
  o.train.optimizer.kind = popup::optimizer_parse(o.optimizer);
  o.train.schedule.kind = popup::schedule_parse(o.schedule);
  o.train.schedule.base_lr = o.lr;
  o.train.schedule.epochs = o.epochs;
  popup::GivenOptions given;
  given.lr = app.count("--lr") > 0;
  given.weight_decay = app.count("--weight-decay") > 0;
  given.batch_size = app.count("--batch-size") > 0;
  given.schedule = app.count("--schedule") > 0;
  // --preset: the official recipe's values for every option not on the command line
  if (!o.preset.empty()) {
    popup::train_preset_apply(o.preset, o.train, given,
                              [&](const std::string& option) { return app.count(option) > 0; });
    o.epochs = o.train.schedule.epochs;
  }
  popup::train_config_method_defaults(o.train, given);
  // Under mpirun: each rank takes an equal share of every batch (checked before MPI starts)
  const int ranks = popup::launcher_ranks();
  if (o.train.batch_size % ranks != 0)
    throw UsageError("--batch-size " + std::to_string(o.train.batch_size) +
                     " does not split into " + std::to_string(ranks) +
                     " equal shares, one per rank (give a multiple of " + std::to_string(ranks) +
                     ")");
  // auto times each layer in each process, and the ranks could choose differently
  if (ranks > 1 && o.train.conv_algo == popup::ConvAlgo::automatic)
    throw UsageError(
        "--conv-algo auto chooses per process; under mpirun give --conv-algo winograd or "
        "direct");
  if (o.train.ramp_epochs >= o.epochs && app.count("--ramp-epochs"))
    throw UsageError("--ramp-epochs must be shorter than --epochs (the last epoch keeps k)");
  if (o.train.schedule.warmup_epochs >= o.epochs && app.count("--warmup"))
    throw UsageError("--warmup must be shorter than --epochs");
  o.train.data_name = o.data;
  if (!popup::dataset_name_known(o.data))
    throw popup::InvalidArgument("--data", "unknown data set '" + o.data +
                                               "' (known: fashion-mnist, mnist:DIR, idx:DIR, "
                                               "cifar10:DIR, cifar100:DIR, png:DIR, images:DIR, "
                                               "imagenet:DIR)");
  if ((o.output == "-") && isatty(STDOUT_FILENO))
    throw UsageError(std::string("refusing to write the ") +
                     (method == popup::Method::dense ? "weights" : "mask") +
                     " to a terminal (give -o FILE or redirect stdout)");
  // --resume may name the --checkpoint file: it is read before the first checkpoint is written.
  popup_tool::paths_check("popup-train", {{"input", o.input},
                                          {"--resume", o.resume, false, "--checkpoint"},
                                          {"-o", o.output, true},
                                          {"--scores-out", o.scores_out, true},
                                          {"--checkpoint", o.checkpoint, true},
                                          {"--log", o.log, true}});
  if (o.threads > 0) omp_set_num_threads(o.threads);
}

void train(Options o) {
  std::string& stage = popup_tool::stage();
  // Under mpirun or srun with several ranks (DESIGN.md §8): every rank trains its share of each
  // batch; rank 0 alone reports and writes.
  stage = "joining the ranks of mpirun";
  popup_tool::communicator() = popup::communicator_from_launcher();
  popup::Communicator* comm = popup_tool::communicator().get();
  const bool writer = !comm || comm->rank() == 0;
  if (comm) {
    o.train.ranks = comm->size();
    if (!writer) {
      o.quiet = true;
      o.log.clear();
    }
    o.device_choice = popup_tool::device_of_rank(o.device_choice, o.device, *comm);
    if (writer && !o.quiet)
      std::fprintf(stderr, "popup-train: %s, batch %lld split into shares of %lld\n",
                   comm->name().c_str(), static_cast<long long>(o.train.batch_size),
                   static_cast<long long>(o.train.batch_size / comm->size()));
  }
  stage = "reading " + o.input;
  const popup::PopupFile input = popup::popup_file_read(o.input);
  const popup::Recipe recipe = input.recipe;
  if (input.kind != popup::FileKind::weights && input.kind != popup::FileKind::recipe)
    throw popup::FormatError(o.input, std::string("is a ") + popup::kind_name(input.kind) +
                                          " file; popup-train reads weights or recipe files");
  popup::DatasetOptions data_options;
  data_options.val_split = o.train.val_split;
  data_options.seed = o.train.seed;
  data_options.train_limit = o.train.limit_train;
  data_options.test_limit = o.train.limit_test;
  popup_tool::image_options_apply(o.images, "popup-train", data_options);
  stage = "loading the data set " + o.data;
  const popup::Dataset data = popup::dataset_load(o.data, data_options);
  if (writer) popup_tool::dataset_notes_print(data, "popup-train");
  // The data's shape against the recipe's before any weight is generated.
  popup::dataset_check_shape(data, recipe.input, recipe.classes);
  const popup::Network net = popup::arch_network(recipe.arch, recipe.input, recipe.classes);
  if (o.train.learn_bn && popup::network_batchnorms(net).empty())
    throw popup_tool::UsageError("--learn-bn: " + recipe.arch +
                                 " has no BatchNorm (only the "
                                 "ResNets have BatchNorm to learn)");
  if (o.train.method == popup::Method::iterand) {
    const int64_t batches = (data.train.n + o.train.batch_size - 1) / o.train.batch_size;
    const std::string problem =
        popup::redraw_events_problem(o.train.rerandomize_every, o.train.schedule.epochs * batches);
    if (!problem.empty()) throw popup_tool::UsageError("--rerandomize-every: " + problem);
  }
  stage = popup_tool::generating_stage(recipe);
  std::vector<std::vector<float>> weights = popup::weights_of(input);
  popup::TrainConfig config = o.train;
  if (data.train.streamed()) {  // recorded, so that popup-eval prepares the images alike
    config.image_size = o.images.image_size;
    config.classes = data.classes;
  }
  // Learned dense weights train every parameter: a ResNet's BatchNorm is affine and learned.
  if (config.method == popup::Method::dense && !popup::network_batchnorms(net).empty())
    config.learn_bn = true;
  // --sync-bn changes nothing in one process or without BatchNorm: recorded only where it acts
  config.sync_bn = o.sync_bn && comm && !popup::network_batchnorms(net).empty();
  if (config.sync_bn && o.device_choice.kind == popup::DeviceChoice::cuda)
    throw popup_tool::UsageError(
        "--sync-bn is not implemented on the CUDA backend yet (give --device cpu, or leave "
        "out --sync-bn)");
  // A resumed run computes its convolutions as the checkpoint's run did.
  std::optional<popup::PopupFile> resumed;
  if (!o.resume.empty()) {
    stage = "reading " + o.resume;
    resumed = popup::popup_file_read(o.resume, popup::FileKind::checkpoint);
    if (config.conv_algo != popup::ConvAlgo::direct)
      config.conv_plan = popup::conv_plan_recorded(resumed->metadata, net, o.resume);
  }
  stage = "setting up training (scores, optimiser state, data on the device)";
  popup::Trainer trainer(recipe, std::move(weights), data, config,
                         popup_tool::executor_for(net, popup::trainer_executor_config(config, comm),
                                                  o.device_choice, "popup-train"),
                         comm);
  if (resumed) {
    stage = "reading " + o.resume;
    trainer.resume(*resumed);
  }
  stage = "training";

  popup::ProgressPrinter progress(stderr, isatty(STDERR_FILENO));
  std::unique_ptr<popup::JsonLog> log;
  if (!o.log.empty()) log = std::make_unique<popup::JsonLog>(o.log);
  popup::TrainHooks hooks;
  hooks.stop = &stop_requested;
  hooks.checkpoint_path = o.checkpoint;
  hooks.checkpoint_every = o.every;
  if (!o.quiet) hooks.on_step = [&](const popup::StepReport& s) { progress.step(s); };
  hooks.on_epoch = [&](const popup::EpochReport& e) {
    if (!o.quiet) progress.epoch(e);
    if (log) log->epoch(e);
  };
  // Ctrl-C while training: finish the step, write the checkpoint, exit 130; a second Ctrl-C
  // ends at once (signals.hpp).
  popup::signals_interrupt_flag(&stop_requested);
  trainer.run(hooks);
  popup::signals_interrupt_flag(nullptr);
  if (trainer.stopped()) {
    if (writer)
      std::fprintf(stderr, "popup-train: interrupted%s\n",
                   o.checkpoint.empty() ? "" : ("; resume with --resume " + o.checkpoint).c_str());
    throw popup_tool::Interrupted();
  }
  // Data-parallel: every rank's result must be rank 0's, which alone is written.
  stage = "comparing the ranks' results";
  trainer.replicas_check();
  if (!writer) return;
  // Every output is written before any appears (OutputGroup), the scores first: a mask
  // going to stdout cannot be held back.
  stage = "writing the outputs";
  popup::OutputGroup outputs;
  if (o.train.method == popup::Method::dense) {
    trainer.write_weights(outputs.add(o.output));
    outputs.commit();
    return;
  }
  const popup::Mask mask = trainer.mask();
  if (!o.scores_out.empty()) trainer.write_scores(outputs.add(o.scores_out));
  popup::mask_write(outputs.add(o.output), mask);
  outputs.commit();
  if (!o.quiet &&
      (o.train.method == popup::Method::global || o.train.method == popup::Method::supermask))
    for (const popup::LayerMask& l : mask.layers)
      std::fprintf(stderr, "popup-train: density %s %.4f (%lld of %lld)\n", l.name.c_str(),
                   static_cast<double>(l.kept) / static_cast<double>(l.numel()),
                   static_cast<long long>(l.kept), static_cast<long long>(l.numel()));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Find a subnetwork in frozen random weights (edge-popup): train one score per "
      "weight and write the 1-bit mask of the top-k% per layer.",
      "popup-train"};
  popup_tool::app_setup(app);
  app.footer(
      "Examples:\n"
      "  popup-init --arch fc --init signed-constant --seed 1 | popup-train --epochs 10 "
      "-o fc.mask\n"
      "  popup-train conv6.recipe --data cifar10:DIR --val-split 0.1 --log conv6.log \\\n"
      "              --checkpoint conv6.ckpt --checkpoint-every 5 -o conv6.mask\n\n"
      "Ctrl-C writes the --checkpoint and exits with status 130; the same command with "
      "--resume continues to the same mask.\n" +
      app.get_footer());
  Options o;
  app.add_option("input", o.input, "Weights or recipe file (default: - for stdin)");
  app.add_option("-o,--output", o.output, "Mask file (default: stdout, never a terminal)")
      ->group("Output");
  app.add_option("--scores-out", o.scores_out,
                 "Also write the trained scores (popup-stats --k "
                 "re-thresholds them)")
      ->group("Output");
  app.add_option("--log", o.log, "Append one JSON object per epoch to FILE")->group("Output");
  app.add_flag("--quiet", o.quiet,
               "No progress on stderr (default: a bar on a terminal, else one "
               "line per epoch)")
      ->group("Output");
  app.add_option("--data", o.data,
                 "Data set: fashion-mnist[:DIR] (default), mnist:DIR, idx:DIR, "
                 "cifar10:DIR, cifar100:DIR, png:DIR, images:DIR, imagenet:DIR (JPEG and PNG "
                 "class folders, streamed)")
      ->group("Data");
  popup_tool::image_options_add(app, o.images);
  app.add_option("--val-split", o.train.val_split,
                 "Hold out this fraction of the training set, in [0, 1), "
                 "as a validation set (default 0)")
      ->group("Data");
  app.add_option("--limit-train", o.train.limit_train,
                 "Use only the first N training images (default 0: all)")
      ->check(popup_tool::integer_in(0, kCountMax))
      ->group("Data");
  app.add_option("--limit-test", o.train.limit_test,
                 "Use only the first N test images (default 0: all)")
      ->check(popup_tool::integer_in(0, kCountMax))
      ->group("Data");
  app.add_option("--method", o.method,
                 "edge-popup (default), iterand (edge-popup with redraws), global, biprop, "
                 "supermask, or dense (writes weights)")
      ->group("Method");
  app.add_option("--k", o.train.k,
                 "Fraction of weights kept per layer (global: overall), in "
                 "(0, 1] (default 0.5)")
      ->group("Method");
  app.add_flag("--first-layer-dense", o.train.first_layer_dense, "Keep the whole first layer")
      ->group("Method");
  app.add_flag("--last-layer-dense", o.train.last_layer_dense, "Keep the whole last layer")
      ->group("Method");
  app.add_option("--ramp-epochs", o.train.ramp_epochs,
                 "global: cubic ramp of the fraction kept "
                 "from 1 to k over these epochs (default 0: none)")
      ->check(popup_tool::integer_in(0, kEpochsMax))
      ->group("Method");
  app.add_option("--rerandomize-every", o.train.rerandomize_every,
                 "iterand: redraw dropped weights after every K optimiser steps "
                 "(default 300)")
      ->check(popup_tool::integer_in(1, kCountMax))
      ->group("Method");
  app.add_option("--rerandomize-rate", o.train.rerandomize_rate,
                 "iterand: probability that a dropped weight is redrawn at each event, "
                 "in (0, 1] (default 0.1)")
      ->check(popup_tool::finite_in(0, 1))
      ->group("Method");
  app.add_flag("--learn-bn", o.train.learn_bn,
               "Also train affine BatchNorm (gamma, beta) with "
               "the same optimiser: the \"+BN\" variants (ResNets; in the mask)")
      ->group("Method");
  app.add_option("--score-init", o.train.score_init,
                 "supermask: every initial logit (default 0: "
                 "starting density sigmoid(0) = 0.5)")
      ->check(popup_tool::finite_in(-1e6, 1e6))
      ->group("Method");
  app.add_option("--seed", o.seed_text,
                 "Seed of the initial scores, the data order, the hold-out, "
                 "the augmentation and the supermask's samples (default 0)")
      ->group("Method");
  app.add_option(
         "--preset", o.preset,
         "Official recipe as defaults (options given override it):\n" + popup::train_presets_help())
      ->group("Optimisation");
  app.add_option("--epochs", o.epochs, "Epochs, 1 to 1000000 (default 20)")
      ->check(popup_tool::integer_in(1, kEpochsMax))
      ->group("Optimisation");
  app.add_option("--batch-size", o.train.batch_size,
                 "Batch size, 1 to 65536 (default 128; dense "
                 "with adam 60)")
      ->check(popup_tool::integer_in(1, 65536))
      ->group("Optimisation");
  app.add_option("--optimizer", o.optimizer, "sgd (default) or adam")->group("Optimisation");
  app.add_option("--lr", o.lr,
                 "Base learning rate (default 0.1; dense 0.01, with adam 3e-4; "
                 "supermask 200)")
      ->check(popup_tool::finite_in(0, HUGE_VAL, /*above_lo=*/true))
      ->group("Optimisation");
  app.add_option("--beta1", o.train.optimizer.beta1, "Adam beta1 (default 0.9)")
      ->check(popup_tool::finite_in(0, 0.999999))
      ->group("Optimisation");
  app.add_option("--beta2", o.train.optimizer.beta2, "Adam beta2 (default 0.999)")
      ->check(popup_tool::finite_in(0, 0.999999))
      ->group("Optimisation");
  app.add_option("--eps", o.train.optimizer.eps, "Adam epsilon (default 1e-8)")
      ->check(popup_tool::finite_in(0, HUGE_VAL, /*above_lo=*/true))
      ->group("Optimisation");
  app.add_option("--momentum", o.train.optimizer.momentum, "SGD momentum (default 0.9)")
      ->check(popup_tool::finite_in(0, 0.999999))
      ->group("Optimisation");
  app.add_flag("--nesterov", o.train.optimizer.nesterov, "Nesterov momentum")
      ->group("Optimisation");
  app.add_option("--weight-decay", o.train.optimizer.weight_decay,
                 "Weight decay on the scores (default 1e-4; supermask 0)")
      ->check(popup_tool::finite_in(0, HUGE_VAL))
      ->group("Optimisation");
  app.add_option("--schedule", o.schedule,
                 "cosine (per epoch, default), cosine-step (per step), constant (default of "
                 "dense with adam), step")
      ->group("Optimisation");
  app.add_option("--warmup", o.train.schedule.warmup_epochs,
                 "Linear warm-up epochs, fewer than --epochs (default 0)")
      ->check(popup_tool::integer_in(0, kEpochsMax))
      ->group("Optimisation");
  app.add_option("--step-size", o.train.schedule.step_size,
                 "step schedule: epochs between decays (default 30)")
      ->check(popup_tool::integer_in(1, kEpochsMax))
      ->group("Optimisation");
  app.add_option("--gamma", o.train.schedule.gamma, "step schedule: decay factor (default 0.1)")
      ->check(popup_tool::finite_in(0, HUGE_VAL, /*above_lo=*/true))
      ->group("Optimisation");
  app.add_option("--label-smoothing", o.train.label_smoothing,
                 "Label smoothing, in [0, 1] (default 0)")
      ->check(popup_tool::finite_in(0, 1))
      ->group("Optimisation");
  app.add_option("--checkpoint", o.checkpoint,
                 "Write a checkpoint to FILE (on Ctrl-C, and "
                 "as --checkpoint-every says)")
      ->group("Checkpoints");
  app.add_option("--checkpoint-every", o.checkpoint_every,
                 "N (epochs), Nsteps, or wall time Ns, Nmin, Nh between checkpoints; may be "
                 "given more than once (default: only on Ctrl-C)")
      ->type_name("N[UNIT]")
      ->group("Checkpoints");
  app.add_option("--resume", o.resume,
                 "Continue from a checkpoint of the same command (same "
                 "input and training options)")
      ->group("Checkpoints");
  popup_tool::device_options_add(app, o.threads, o.device);
  app.add_flag("--sync-bn", o.sync_bn,
               "Under mpirun: BatchNorm statistics of the whole batch, over every rank "
               "(default: each rank's share, as PyTorch's DistributedDataParallel)")
      ->group("Device");
  app.add_option("--precision", o.precision,
                 "fp32 (default) or bf16 (CPU: bfloat16 weights "
                 "and activations, fp32 scores and updates)")
      ->group("Device");
  app.add_option("--conv-algo", o.conv_algo,
                 "CPU 3x3 convolutions: direct (default), winograd (where oneDNN has it on "
                 "this CPU), or auto (per layer, the faster as timed at start-up)")
      ->group("Device");
  return popup_tool::tool_main(
      app, argc, argv, [&] { options_check(o, app); }, [&] { train(o); });
}

// popup-eval: evaluate a mask (weights regenerated from its recipe, or --weights FILE; biprop
// masks as sign(w) * alpha * mask; +BN masks with their BatchNorm gamma and beta) or a weights
// file (e.g. popup-train --method dense, a ResNet's with its BatchNorm) on a data split:
// top-1, top-5, loss, images/s; --json adds per-class accuracy and the confusion matrix;
// --eval-samples N also evaluates N masks sampled from a supermask's scores; --logits FILE
// writes every evaluated example's logits and label (safetensors).
#include <omp.h>

#include <cstdio>
#include <string>

#include "data/dataset.hpp"
#include "data/dataset_info.hpp"
#include "train/evaluate.hpp"
#include "format/mask.hpp"
#include "train/method.hpp"
#include "train/train_config.hpp"
#include "format/number_text.hpp"
#include "format/output_file.hpp"
#include "format/safetensors.hpp"
#include "format/state_tensors.hpp"
#include "image_options.hpp"
#include "tool_common.hpp"

namespace {

struct Options {
  std::string input = "-", weights, data, split = "test", device = "auto", precision_text = "fp32";
  std::string scores, sample_seed_text = "0", logits, conv_algo_text;
  int64_t eval_samples = 0;
  uint64_t sample_seed = 0;
  popup::DeviceChoice device_choice;
  popup::Precision precision = popup::Precision::fp32;
  popup::ConvAlgo conv_algo = popup::ConvAlgo::direct;  // --conv-algo, when given
  popup_tool::ImageOptions images;
  bool image_size_given = false;
  int64_t batch_size = 0, limit = 0;
  int threads = 0;
  bool json = false;
};

// --logits FILE: "logits" F32 [n, classes] and "labels" I32 [n], in data order.
void logits_write(const std::string& path, const popup::EvalResult& r, int64_t classes,
                  const std::string& input, const std::string& data, const std::string& split) {
  popup::OutputFile out(path);
  const popup::Metadata metadata = {
      {"popup.eval.file", input}, {"popup.eval.data", data}, {"popup.eval.split", split}};
  popup::safetensors_write(out, metadata,
                           {{"logits", popup::Dtype::F32, {r.n, classes}, r.logits.data()},
                            {"labels", popup::Dtype::I32, {r.n}, r.labels.data()}});
  out.commit();
}

// A metadata value of the evaluated file, or `fallback`.
std::string recorded(const popup::PopupFile& f, const std::string& key,
                     const std::string& fallback) {
  const auto it = f.metadata.find(key);
  return it == f.metadata.end() ? fallback : it->second;
}

void run(const Options& o) {
  std::string& stage = popup_tool::stage();
  stage = "reading " + o.input;
  popup::PopupFile file = popup::popup_file_read(o.input);
  popup::train_metadata_check(file.metadata, o.input);  // batch_size, data: used below
  if (file.kind != popup::FileKind::mask && file.kind != popup::FileKind::weights)
    throw popup::FormatError(o.input, std::string("is a ") + popup::kind_name(file.kind) +
                                          " file; popup-eval reads mask or weights files");
  if (file.kind == popup::FileKind::weights && !o.weights.empty())
    throw popup_tool::UsageError("--weights goes with a mask file, not a weights file");
  if (!o.scores.empty() && file.kind != popup::FileKind::mask)
    throw popup::FormatError(o.input,
                             "--eval-samples samples the masks of a supermask mask file, "
                             "not a weights file");
  const std::string data_name =
      o.data.empty() ? recorded(file, "popup.train.data", "fashion-mnist") : o.data;
  popup::DatasetOptions data_options;
  data_options.train_limit = o.split == "train" ? o.limit : 0;
  data_options.test_limit = o.split == "test" ? o.limit : 0;
  popup_tool::ImageOptions images = o.images;
  uint64_t recorded_size = 0;  // the mask's input size, unless --image-size is given
  if (!o.image_size_given &&
      popup::uint_parse(recorded(file, "popup.train.image_size", ""), recorded_size))
    images.image_size = static_cast<int64_t>(recorded_size);
  popup_tool::image_options_apply(images, "popup-eval", data_options);
  stage = "loading the data set " + data_name;
  const popup::Dataset data = popup::dataset_load(data_name, data_options);
  popup_tool::dataset_notes_print(data, "popup-eval");
  popup::classes_check(data_name, data.classes, file.metadata, o.input);
  // The data's shape against the recipe's before any weight is generated.
  popup::dataset_check_shape(data, file.recipe.input, file.recipe.classes);
  stage = o.weights.empty() && file.kind == popup::FileKind::mask
              ? popup_tool::generating_stage(file.recipe)
              : "reading the weights of " + file.recipe.arch;
  std::vector<std::vector<float>> weights;
  std::vector<popup::Tensor> state;  // BatchNorm statistics (and gamma, beta)
  if (o.weights.empty()) {
    // A weights file is evaluated as it is (e.g. trained dense weights, with a ResNet's
    // BatchNorm); its metadata stays.
    if (file.kind == popup::FileKind::weights) {
      state = popup::state_take(file);
      weights = popup::weights_from_file(std::move(file));
    } else {
      weights = popup::weights_of(file);
    }
  } else {
    popup::PopupFile w = popup::popup_file_read(o.weights, popup::FileKind::weights);
    popup::recipe_check_same(file.recipe, w.recipe, o.weights);
    weights = popup::weights_of(w);  // must be what the recipe generates (MismatchError)
  }
  uint64_t recorded_batch = 128;
  popup::uint_parse(recorded(file, "popup.train.batch_size", "128"), recorded_batch);
  const int64_t batch = o.batch_size > 0 ? o.batch_size : static_cast<int64_t>(recorded_batch);
  const popup::Network net =
      popup::arch_network(file.recipe.arch, file.recipe.input, file.recipe.classes);
  const std::vector<popup::ConvAlgo> conv_plan =
      popup::conv_plan_recorded(file.metadata, net, o.input);
  popup::Mask mask;
  std::vector<std::vector<float>> frozen, logits;
  if (file.kind == popup::FileKind::mask) {
    mask = popup::mask_from_file(std::move(file));
    state = mask.state;
    if (!o.scores.empty()) {  // the supermask's logits, for --eval-samples
      if (popup::mask_method(mask) != popup::Method::supermask)
        throw popup::FormatError(o.input, std::string("is a ") +
                                              popup::method_name(popup::mask_method(mask)) +
                                              " mask; --eval-samples samples supermask masks");
      stage = "reading " + o.scores;
      popup::PopupFile s = popup::popup_file_read(o.scores, popup::FileKind::scores);
      popup::recipe_check_same(mask.recipe, s.recipe, o.scores);
      logits = popup::weights_from_file(std::move(s));
      frozen = weights;
    }
    // w * mask, or biprop's sign(w) * alpha * mask
    popup::mask_effective_weights(mask, weights);
  }
  stage = "setting up the network (batch " + std::to_string(batch) + ")";
  popup::ExecutorConfig config;
  config.max_batch = batch;
  config.train = false;
  config.precision = o.precision;
  config.affine_bn = popup::state_has_affine_bn(state);  // +BN masks, dense ResNets
  config.conv_algo = o.conv_algo;
  if (o.conv_algo_text.empty() && !conv_plan.empty()) {  // as training computed
    config.conv_algo = popup::ConvAlgo::winograd;
    config.conv_plan = conv_plan;
  }
  std::unique_ptr<popup::Executor> exec =
      popup_tool::executor_for(net, config, o.device_choice, "popup-eval");
  if (!config.conv_plan.empty() && exec->conv_plan() != config.conv_plan &&
      !exec->conv_plan().empty())
    std::fprintf(stderr,
                 "popup-eval: warning: %s was trained with Winograd convolutions that this CPU "
                 "does not have; they run direct here, and the accuracy may differ from "
                 "training's in the last digits\n",
                 o.input.c_str());
  popup::executor_load_state(*exec, state);
  for (size_t t = 0; t < weights.size(); ++t) exec->set_weights(t, weights[t].data());

  stage = "evaluating";
  const popup::DataSplit& split = o.split == "train" ? data.train : data.test;
  const int data_handle = exec->data_upload(split);
  const popup::EvalResult r =
      popup::evaluate(*exec, split, batch, /*confusion=*/o.json, data_handle, !o.logits.empty());
  if (!o.logits.empty()) {
    stage = "writing " + o.logits;
    logits_write(o.logits, r, net.classes, o.input, data_name, o.split);
  }
  std::vector<popup::EvalResult> sampled;
  if (o.eval_samples > 0)
    sampled = popup::evaluate_supermask_samples(*exec, mask, frozen, logits, split, batch,
                                                o.eval_samples, o.sample_seed, data_handle);
  if (o.json) {
    const std::string text = popup::eval_result_json(r, net.classes, o.input, data_name, o.split,
                                                     sampled, o.sample_seed);
    std::fputs(text.c_str(), stdout);
  } else {
    std::printf(
        "%s on %s %s: top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (%lld images, %.0f images/s)\n",
        o.input.c_str(), data_name.c_str(), o.split.c_str(), 100 * r.top1, 100 * r.top5, r.loss,
        static_cast<long long>(r.n), static_cast<double>(r.n) / r.seconds);
    if (!sampled.empty()) {
      const popup::SampleSummary s = popup::eval_samples_summary(sampled);
      std::printf(
          "%s: %lld sampled masks (seed %llu): top-1 mean %.2f%%  sd %.2f%%  min %.2f%%  "
          "max %.2f%%\n",
          o.input.c_str(), static_cast<long long>(sampled.size()),
          static_cast<unsigned long long>(o.sample_seed), 100 * s.mean, 100 * s.sd, 100 * s.min,
          100 * s.max);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Evaluate a mask (weights regenerated from its recipe) or a weights file on a "
      "data set.",
      "popup-eval"};
  popup_tool::app_setup(app);
  app.footer(
      "Examples:\n"
      "  popup-eval conv4.mask                 # on the data set it was trained on\n"
      "  popup-eval conv4.mask --split train --json\n"
      "  popup-init --arch fc --seed 1 | popup-train --epochs 2 | popup-eval\n"
      "  popup-eval sm.mask --scores sm.scores --eval-samples 10   # a supermask\n\n" +
      app.get_footer());
  Options o;
  app.add_option("file", o.input, "Mask or weights file (default: - for stdin)");
  app.add_option("--weights", o.weights,
                 "Weights to mask (must be those the mask's recipe "
                 "generates; default: regenerated from the recipe)")
      ->group("Input");
  app.add_option("--scores", o.scores,
                 "A supermask's logits (popup-train --scores-out), for "
                 "--eval-samples")
      ->group("Input");
  app.add_option("--eval-samples", o.eval_samples,
                 "Supermask: also evaluate N masks sampled "
                 "from sigmoid(scores); report their mean, sd, min and max top-1 (needs --scores)")
      ->check(popup_tool::integer_in(1, 1000000))
      ->group("Input");
  app.add_option("--sample-seed", o.sample_seed_text, "Seed of the sampled masks (default 0)")
      ->group("Input");
  app.add_option("--data", o.data,
                 "Data set, named as for popup-train (default: the one the "
                 "mask was trained on, else fashion-mnist)")
      ->group("Data");
  app.add_option("--split", o.split, "test (default) or train")->group("Data");
  app.add_option("--limit", o.limit, "Evaluate only the first N images (default 0: all)")
      ->check(popup_tool::integer_in(0, int64_t{1} << 40))
      ->group("Data");
  popup_tool::image_options_add(app, o.images);
  app.add_option("--logits", o.logits,
                 "Also write the logits [n, classes] (F32 \"logits\") and labels (I32 "
                 "\"labels\") of the evaluated examples to FILE (safetensors)")
      ->group("Output");
  app.add_flag("--json", o.json,
               "Write one JSON object, with per-class accuracy and the "
               "confusion matrix, instead of the line of text")
      ->group("Output");
  app.add_option("--batch-size", o.batch_size,
                 "Images per forward pass, 1 to 65536 (default: "
                 "the training batch size, else 128)")
      ->check(popup_tool::integer_in(1, 65536))
      ->group("Device");
  popup_tool::device_options_add(app, o.threads, o.device);
  app.add_option("--precision", o.precision_text,
                 "fp32 (default) or bf16 (CPU: bfloat16 weights and activations)")
      ->group("Device");
  app.add_option("--conv-algo", o.conv_algo_text,
                 "CPU 3x3 convolutions: direct, winograd or auto (default: as the mask was "
                 "trained, recorded in popup.train.conv_plan; else direct)")
      ->group("Device");
  return popup_tool::tool_main(
      app, argc, argv,
      [&] {
        if (o.eval_samples > 0 && o.scores.empty())
          throw popup_tool::UsageError(
              "--eval-samples needs --scores FILE (the supermask's logits)");
        if (!o.scores.empty() && o.eval_samples == 0)
          throw popup_tool::UsageError("--scores goes with --eval-samples N");
        if (!popup::uint_parse(o.sample_seed_text, o.sample_seed))
          throw popup_tool::UsageError("--sample-seed must be an integer from 0 to 2^64-1");
        o.image_size_given = app.count("--image-size") > 0;
        if (o.logits == "-")
          throw popup_tool::UsageError("--logits needs a file name (stdout carries the report)");
        if (o.split != "test" && o.split != "train")
          throw popup_tool::UsageError("--split must be test or train");
        o.device_choice = popup::device_parse(o.device);
        o.device_choice.quiet_fallback = app.count("--device") == 0;
        o.precision = popup::precision_parse(o.precision_text);
        if (o.precision == popup::Precision::bf16)
          popup_tool::cpu_option_device("--precision bf16", o.device_choice, o.device);
        if (!o.conv_algo_text.empty()) {
          o.conv_algo = popup::conv_algo_parse(o.conv_algo_text);
          if (o.conv_algo != popup::ConvAlgo::direct)
            popup_tool::cpu_option_device("--conv-algo " + o.conv_algo_text, o.device_choice,
                                          o.device);
        }
        popup_tool::device_check(o.device_choice);
        popup_tool::bf16_check(o.precision, o.device_choice);
        if (!o.data.empty() && !popup::dataset_name_known(o.data))
          throw popup::InvalidArgument("--data", "unknown data set '" + o.data + "'");
        popup_tool::paths_check("popup-eval", {{"file", o.input},
                                               {"--weights", o.weights},
                                               {"--scores", o.scores},
                                               {"--logits", o.logits, true}});
        if (o.threads > 0) omp_set_num_threads(o.threads);
      },
      [&] { run(o); });
}

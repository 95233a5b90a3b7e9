// export_model_load: the effective network of a mask or weights file (DESIGN.md §14), with the
// BatchNorm state, the input normalisation and the class names its data set gives.
#include "export/export_model.hpp"

#include <cmath>
#include <utility>

#include "data/dataset.hpp"
#include "data/dataset_info.hpp"
#include "error.hpp"
#include "format/json.hpp"
#include "format/mask.hpp"
#include "format/popup_file.hpp"
#include "format/state_tensors.hpp"
#include "train/method.hpp"
#include "train/train_config.hpp"

namespace popup {
namespace {

std::string metadata_or(const Metadata& metadata, const std::string& key,
                        const std::string& fallback) {
  const auto it = metadata.find(key);
  return it == metadata.end() ? fallback : it->second;
}

// "an edge-popup", "a biprop", ...
std::string method_with_article(Method method) {
  const std::string name = method_name(method);
  return (name[0] == 'e' ? "an " : "a ") + name;
}

// A supermask's expected network or one sampled mask, from its logits, in place of the mask.
void supermask_apply(const ExportSource& source, const Mask& mask, ExportModel& model) {
  PopupFile s = popup_file_read(source.scores, FileKind::scores);
  recipe_check_same(mask.recipe, s.recipe, source.scores);
  const std::vector<std::vector<float>> logits = weights_from_file(std::move(s));
  for (size_t t = 0; t < model.weights.size(); ++t) {
    if (mask_layer_dense(mask, t)) continue;
    std::vector<float>& w = model.weights[t];
    std::vector<uint8_t>& keep = model.keep[t];
    const int64_t n = static_cast<int64_t>(w.size());
    if (source.supermask == SupermaskUse::expected) {
      for (int64_t i = 0; i < n; ++i) {
        const double p = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[t][size_t(i)])));
        w[size_t(i)] = static_cast<float>(static_cast<double>(w[size_t(i)]) * p);
      }
      keep.assign(w.size(), 1);
    } else {
      supermask_sample(logits[t].data(), n, source.sample_seed, RandomStream::supermask_eval, 0,
                       static_cast<uint32_t>(t), keep.data());
      for (int64_t i = 0; i < n; ++i)
        if (!keep[size_t(i)]) w[size_t(i)] = 0.0f;
    }
  }
}

// The mask's or weights file's BatchNorm state by op: statistics and, when affine, gamma and
// beta; 1, 0, 0, 1 where the file has none.
void batchnorms_fill(const std::vector<Tensor>& state, ExportModel& model) {
  model.affine_bn = state_has_affine_bn(state);
  for (const Op& op : model.net.ops) {
    if (op.kind != OpKind::batchnorm) continue;
    const size_t c = static_cast<size_t>(op.c);
    BatchNormState bn{std::vector<float>(c, 1.0f), std::vector<float>(c, 0.0f),
                      std::vector<float>(c, 0.0f), std::vector<float>(c, 1.0f)};
    for (const Tensor& t : state) {
      const std::string& name = t.info.name;
      if (name.size() <= op.name.size() || name.compare(0, op.name.size(), op.name) != 0 ||
          name[op.name.size()] != '.' || t.f32.size() != c)
        continue;
      const std::string field = name.substr(op.name.size() + 1);
      if (field == "weight") bn.gamma = t.f32;
      if (field == "bias") bn.beta = t.f32;
      if (field == "running_mean") bn.mean = t.f32;
      if (field == "running_var") bn.var = t.f32;
    }
    model.batchnorms[op.name] = std::move(bn);
  }
}

// The data set's normalisation (fixed by its name, else its training set's statistics) and
// class names (recorded in the file, known by the name, else the label numbers).
void data_fill(const ExportSource& source, ExportModel& model) {
  model.data = source.data.empty()
                   ? metadata_or(model.metadata, "popup.train.data", kDefaultDataset)
                   : source.data;
  std::vector<double> mean, stddev;
  if (!dataset_fixed_normalisation(model.data, mean, stddev)) {
    if (!dataset_name_known(model.data))
      throw InvalidArgument("", "unknown data set '" + text_excerpt(model.data) + "'");
    DatasetOptions options;
    options.test_limit = 1;
    const Dataset data = dataset_load(model.data, options);
    model.class_names = data.classes;  // png: folders' names
    mean.assign(data.mean.begin(), data.mean.end());
    stddev.assign(data.stddev.begin(), data.stddev.end());
  }
  if (static_cast<int64_t>(mean.size()) != model.recipe.input.c)
    throw MismatchError(model.file, "its input has " + std::to_string(model.recipe.input.c) +
                                        " channels, data set " + model.data + " has " +
                                        std::to_string(mean.size()));
  model.mean.assign(mean.begin(), mean.end());
  model.stddev.assign(stddev.begin(), stddev.end());

  const std::vector<std::string> recorded = classes_recorded(model.metadata, model.file);
  if (!recorded.empty()) model.class_names = recorded;
  if (model.class_names.empty()) model.class_names = dataset_known_class_names(model.data);
  if (static_cast<int64_t>(model.class_names.size()) != model.recipe.classes) {
    if (!recorded.empty())
      throw FormatError(model.file,
                        "popup.data.classes names " + std::to_string(model.class_names.size()) +
                            " classes, the recipe has " + std::to_string(model.recipe.classes));
    model.class_names.clear();
    for (int64_t c = 0; c < model.recipe.classes; ++c)
      model.class_names.push_back(std::to_string(c));
  }
}

}  // namespace

ExportModel export_model_load(PopupFile&& file, const ExportSource& source) {
  train_metadata_check(file.metadata, source.input);
  if (file.kind != FileKind::mask && file.kind != FileKind::weights)
    throw FormatError(source.input, std::string("is a ") + kind_name(file.kind) +
                                        " file; popup-export reads mask or weights files");
  const bool supermask_choice = source.supermask != SupermaskUse::mask;
  if (file.kind == FileKind::weights && (supermask_choice || !source.scores.empty()))
    throw FormatError(source.input,
                      "is a weights file; --supermask and --scores go with a "
                      "supermask mask");
  const FileKind file_kind = file.kind;
  ExportModel model;
  model.file = source.input;
  model.recipe = file.recipe;
  model.metadata = file.metadata;
  model.net = arch_network(file.recipe.arch, file.recipe.input, file.recipe.classes);
  // The data set first: a bad --data fails before any weight is generated.
  data_fill(source, model);

  std::vector<Tensor> state;
  if (file.kind == FileKind::weights) {
    state = state_take(file);
    model.weights = weights_from_file(std::move(file));
    for (const std::vector<float>& w : model.weights) model.keep.emplace_back(w.size(), 1);
  } else {
    if (source.weights.empty()) {
      model.weights = weights_of(file);
    } else {
      PopupFile w = popup_file_read(source.weights, FileKind::weights);
      recipe_check_same(file.recipe, w.recipe, source.weights);
      model.weights = weights_of(w);  // must be what the recipe generates
    }
    const Mask mask = mask_from_file(std::move(file));
    state = mask.state;
    const bool supermask = mask_method(mask) == Method::supermask;
    if ((supermask_choice || !source.scores.empty()) && !supermask)
      throw FormatError(source.input, std::string("is ") + method_with_article(mask_method(mask)) +
                                          " mask; --supermask and --scores go with a supermask "
                                          "mask");
    for (const LayerMask& layer : mask.layers) {
      std::vector<uint8_t> keep(static_cast<size_t>(layer.numel()));
      for (int64_t i = 0; i < layer.numel(); ++i) keep[size_t(i)] = layer.get(i);
      model.keep.push_back(std::move(keep));
    }
    if (supermask_choice) {
      supermask_apply(source, mask, model);
    } else {
      mask_effective_weights(mask, model.weights);  // w * mask, or biprop's sign(w)*alpha*mask
    }
  }
  batchnorms_fill(state, model);
  model.choices["popup.export.source_kind"] = kind_name(file_kind);
  if (file_kind == FileKind::mask && model.metadata.count("popup.train.method") &&
      model.metadata.at("popup.train.method") == "supermask") {
    const char* use[] = {"mask", "expected", "sample"};
    model.choices["popup.export.supermask"] = use[static_cast<int>(source.supermask)];
    if (source.supermask == SupermaskUse::sample)
      model.choices["popup.export.sample_seed"] = std::to_string(source.sample_seed);
  }
  return model;
}

}  // namespace popup

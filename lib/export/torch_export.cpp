// The PyTorch export (formats/torch.md): the effective network as the state_dict of the
// matching PyTorch module, in a safetensors file. The ResNets are torchvision's (popup's
// tensor and BatchNorm names already are its names; BatchNorm gets gamma, beta, its running
// statistics and num_batches_tracked, fc a zero bias); fc and Conv-2/4/6/8 are the official
// hidden-networks code's FC and ConvN (models/frankle.py: an nn.Sequential `convs` of conv,
// ReLU and max-pool modules, and one `linear` of 1x1 convolutions and ReLUs).
#include "export/export_writers.hpp"

#include <deque>
#include <map>

#include "error.hpp"
#include "export/export_metadata.hpp"

namespace popup {
namespace {

// popup's ResNets and the torchvision builders of the same networks.
const std::map<std::string, std::string> kTorchvision = {{"resnet18", "resnet18"},
                                                         {"resnet34", "resnet34"},
                                                         {"resnet50", "resnet50"},
                                                         {"resnet101", "resnet101"},
                                                         {"wide-resnet50", "wide_resnet50_2"},
                                                         {"wide-resnet101", "wide_resnet101_2"}};

// popup's fc and Conv-N and the hidden-networks classes of the same layout.
const std::map<std::string, std::string> kFrankle = {
    {"fc", "FC"}, {"conv2", "Conv2"}, {"conv4", "Conv4"}, {"conv6", "Conv6"}, {"conv8", "Conv8"}};

// The tensors of the state_dict, in its order, and the values that are not the model's own
// (fc's zero bias). Deque: the TensorRefs point into elements that never move.
struct StateDict {
  std::vector<TensorRef> tensors;
  std::deque<std::vector<float>> owned;
  int64_t steps = 0;  // every BatchNorm's num_batches_tracked: popup's files do not count them

  void add(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& data) {
    tensors.push_back({name, Dtype::F32, std::move(shape), data.data()});
  }
};

void batchnorm_add(StateDict& state, const ExportModel& model, const std::string& name) {
  const BatchNormState& bn = model.batchnorms.at(name);
  const std::vector<int64_t> shape{static_cast<int64_t>(bn.gamma.size())};
  state.add(name + ".weight", shape, bn.gamma);
  state.add(name + ".bias", shape, bn.beta);
  state.add(name + ".running_mean", shape, bn.mean);
  state.add(name + ".running_var", shape, bn.var);
  state.tensors.push_back({name + ".num_batches_tracked", Dtype::I64, {}, &state.steps});
}

// torchvision's ResNet: the ops in order are its modules in registration order (conv1, bn1,
// layer1.0.conv1, layer1.0.bn1, ..., layerN.0.downsample.0/.1 after the block's last bn, fc).
void torchvision_state(StateDict& state, const ExportModel& model) {
  for (const Op& op : model.net.ops) {
    if (op.kind == OpKind::batchnorm) {
      batchnorm_add(state, model, op.name);
      continue;
    }
    if (op.kind != OpKind::conv && op.kind != OpKind::linear) continue;
    const auto t = static_cast<size_t>(op.tensor);
    const TensorSpec& spec = model.net.tensors[t];
    state.add(spec.name, spec.shape, model.weights[t]);
    if (op.kind == OpKind::linear) {  // torchvision's fc has a bias; popup's has none
      const std::string layer =
          spec.name.substr(0, spec.name.size() - std::string(".weight").size());
      state.owned.emplace_back(static_cast<size_t>(spec.shape[0]), 0.0f);
      state.add(layer + ".bias", {spec.shape[0]}, state.owned.back());
    }
  }
}

// hidden-networks' FC / ConvN: each conv, ReLU and max-pool before the first linear layer is
// one position of `convs`, each linear layer and ReLU from there on one of `linear`; linear
// layers are 1x1 convolutions, [out, in, 1, 1].
void frankle_state(StateDict& state, const ExportModel& model) {
  int convs = 0, linear = 0;
  bool in_linear = false;
  for (const Op& op : model.net.ops) {
    switch (op.kind) {
      case OpKind::conv: {
        const auto t = static_cast<size_t>(op.tensor);
        state.add("convs." + std::to_string(convs++) + ".weight", model.net.tensors[t].shape,
                  model.weights[t]);
        break;
      }
      case OpKind::linear: {
        in_linear = true;
        const auto t = static_cast<size_t>(op.tensor);
        std::vector<int64_t> shape = model.net.tensors[t].shape;
        shape.insert(shape.end(), {1, 1});
        state.add("linear." + std::to_string(linear++) + ".weight", shape, model.weights[t]);
        break;
      }
      case OpKind::relu: ++(in_linear ? linear : convs); break;
      case OpKind::maxpool: ++convs; break;
      default:
        throw InvalidArgument(model.file, "cannot export to PyTorch: an unexpected operation in " +
                                              model.recipe.arch);
    }
  }
}

// The module the state_dict loads into, as metadata popup.export.module says it.
std::string module_text(const ExportModel& model, const std::string& family) {
  const InputShape& in = model.recipe.input;
  const std::string classes = std::to_string(model.recipe.classes);
  const auto frankle = kFrankle.find(family);
  if (frankle != kFrankle.end()) {
    const size_t colon = model.recipe.arch.find(':');
    return "hidden-networks models/frankle.py " + frankle->second + " on " +
           input_shape_format(in) + ", " + classes + " classes" +
           (colon == std::string::npos ? "" : ", " + model.recipe.arch.substr(colon + 1)) +
           " (convs and linear as nn.Sequential, linear layers as 1x1 Conv2d, no bias)";
  }
  std::string text =
      "torchvision.models." + kTorchvision.at(family) + "(num_classes=" + classes + ")";
  const std::string channels = std::to_string(in.c);
  if (family == "resnet18" || family == "resnet34")
    return text + " with conv1 = Conv2d(" + channels +
           ", 64, 3, stride=1, padding=1, bias=False), maxpool = Identity()";
  if (in.c != 3)
    text += " with conv1 = Conv2d(" + channels + ", 64, 7, stride=2, padding=3, bias=False)";
  return text;
}

}  // namespace

void torch_export(OutputFile& out, const ExportModel& model) {
  export_model_check(model);
  const std::string family = export_arch_family(model.recipe.arch);
  StateDict state;
  if (kTorchvision.count(family))
    torchvision_state(state, model);
  else if (kFrankle.count(family))
    frankle_state(state, model);
  else
    throw InvalidArgument(model.file, "no PyTorch module is known for architecture " + family);
  Metadata metadata = export_metadata(model, "torch");
  metadata["format"] = "pt";  // the safetensors convention for a PyTorch state_dict
  metadata["popup.export.module"] = module_text(model, family);
  safetensors_write(out, metadata, state.tensors);
  out.commit();
}

}  // namespace popup

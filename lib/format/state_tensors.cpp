// State tensors after the per-layer tensors of masks and trained weights (state_tensors.hpp).
#include "format/state_tensors.hpp"

#include "error.hpp"
#include "format/json.hpp"
#include "net/network.hpp"

namespace popup {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void state_check(const PopupFile& f, const std::vector<TensorInfo>& tensors, size_t first,
                 const std::string& after) {
  std::vector<std::string> bn_names;
  std::vector<int64_t> bn_channels;
  size_t bn_params = 0;
  for (size_t i = first; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    const bool weight = ends_with(t.name, ".weight");
    if (t.dtype != Dtype::F32)
      throw FormatError(f.path, "unexpected tensor \"" + text_excerpt(t.name) + "\" after " +
                                    after + " (state tensors are F32)");
    if (!weight && !ends_with(t.name, ".bias")) continue;
    if (bn_names.empty()) {
      const Network net = arch_network(f.recipe.arch, f.recipe.input, f.recipe.classes);
      for (const Op& op : net.ops)
        if (op.kind == OpKind::batchnorm) {
          bn_names.push_back(op.name);
          bn_channels.push_back(op.c);
        }
    }
    const std::string module = t.name.substr(0, t.name.rfind('.'));
    size_t b = 0;
    while (b < bn_names.size() && bn_names[b] != module) ++b;
    if (b == bn_names.size()) {
      if (!weight) continue;  // a .bias of no BatchNorm: state as any other
      throw FormatError(f.path, "unexpected tensor \"" + text_excerpt(t.name) + "\" after " +
                                    after +
                                    " (state tensors are not .weight, except a BatchNorm's scale)");
    }
    if (t.shape != std::vector<int64_t>{bn_channels[b]})
      throw MismatchError(f.path, "BatchNorm parameter \"" + text_excerpt(t.name) +
                                      "\" must be F32 [" + std::to_string(bn_channels[b]) +
                                      "] for the recipe's shape");
    ++bn_params;
  }
  if (bn_params != 0 && bn_params != 2 * bn_names.size())
    throw FormatError(f.path, std::to_string(bn_params) +
                                  " BatchNorm scales and shifts, but the "
                                  "recipe's " +
                                  f.recipe.arch + " has " + std::to_string(bn_names.size()) +
                                  " BatchNorms (2 each)");
}

bool state_has_affine_bn(const std::vector<Tensor>& state) {
  for (const Tensor& t : state)
    if (ends_with(t.info.name, ".weight")) return true;
  return false;
}

std::vector<Tensor> state_take(PopupFile& file) {
  const size_t layers = recipe_tensors(file.recipe).size();
  std::vector<Tensor> state;
  for (size_t i = layers; i < file.tensors.size(); ++i) state.push_back(std::move(file.tensors[i]));
  if (file.tensors.size() > layers) file.tensors.resize(layers);
  return state;
}

}  // namespace popup

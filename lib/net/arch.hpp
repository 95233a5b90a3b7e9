// The architecture registry (DESIGN.md §5): a named spec such as "conv6:width=2" and an
// input shape + class count give the ordered list of weight tensors (conv and linear
// weights only; no biases, no BatchNorm) with their shapes and fans.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace popup {

// Input shape of one example, channels x height x width.
struct InputShape {
  int64_t c = 0, h = 0, w = 0;
  bool operator==(const InputShape& o) const { return c == o.c && h == o.h && w == o.w; }
  bool operator!=(const InputShape& o) const { return !(*this == o); }
};

// Parse "CxHxW" (e.g. "3x32x32"); throws InvalidArgument on anything else or a zero dimension.
InputShape input_shape_parse(const std::string& text);
std::string input_shape_format(const InputShape& shape);  // "3x32x32"

enum class LayerKind { conv, linear };

// One weight tensor of the network, in network order.
struct TensorSpec {
  std::string name;            // "<layer>.weight", e.g. "conv1.weight", "layer1.0.conv1.weight"
  LayerKind kind;              // conv: shape [out, in, kh, kw]; linear: shape [out, in]
  std::vector<int64_t> shape;  // row-major
  int64_t fan_in = 0;          // in * kh * kw (linear: in)
  int64_t fan_out = 0;         // out * kh * kw (linear: out)
  int64_t stride = 1;          // conv only
  int64_t pad = 0;             // conv only
  int64_t numel() const {
    int64_t n = 1;
    for (const int64_t d : shape) n *= d;
    return n;
  }
};

// Canonical form of a spec: name plus options that differ from their defaults, e.g.
// "conv6:width=2" stays, "conv6:width=1" becomes "conv6". Throws InvalidArgument for an
// unknown name, an unknown option or a bad value.
std::string arch_canonical(const std::string& spec);

// The weight tensors of `spec` for this input shape and class count. Throws InvalidArgument
// for an unknown spec, classes < 1, an input too small (spatial size reaching 0) or too large
// (a dimension over 65536, or over 2^24 values per example), or a network of more weights than
// arch_max_params() (formats/recipe.md): checked on the shapes alone, before any weight exists.
std::vector<TensorSpec> arch_tensors(const std::string& spec, const InputShape& input,
                                     int64_t classes);

// Most weights a network may have: 2^28 (268435456, 1 GiB as F32: wide-resnet50 on 3x224x224
// with 1000 classes has 68.9 million), or the environment variable POPUP_MAX_PARAMS when set
// (InvalidArgument when it is not a whole number between 1 and 2^62).
constexpr int64_t kDefaultMaxParams = int64_t{1} << 28;
int64_t arch_max_params();

// Names of all registered architectures, in display order, with a one-line description each.
struct ArchInfo {
  std::string name;
  std::string description;
};
const std::vector<ArchInfo>& arch_list();

// Sum of numel over the tensors.
int64_t tensors_numel(const std::vector<TensorSpec>& tensors);

}  // namespace popup

// Bit-packed masks (formats/mask.md): one bit per weight, LSB-first within a byte, in the
// row-major order of the weight; the kept count and k of each layer travel in metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/popup_file.hpp"

namespace popup {

struct LayerMask {
  std::string name;            // the weight tensor it selects from, e.g. "conv1.weight"
  std::vector<int64_t> shape;  // that tensor's shape
  double k = 1.0;              // fraction requested for this layer (1 for a dense layer)
  int64_t kept = 0;            // number of ones
  std::vector<uint8_t> bits;   // ceil(numel / 8) bytes; bits past numel are zero

  int64_t numel() const;
  bool get(int64_t i) const { return (bits[static_cast<size_t>(i >> 3)] >> (i & 7)) & 1; }
};

// IteRand (formats/mask.md, version 2): the kept weights of one layer that training redrew, and
// how often; weight index[j] is the value of its count[j]-th redraw (formats/generation.md §10)
// instead of the recipe's. Dropped weights are never recorded: w * mask does not need them.
struct LayerRedraws {
  std::vector<uint32_t> index;  // row-major positions, strictly increasing, each kept
  std::vector<uint16_t> count;  // from 1
};

// popup.redraw: the version of the redraw stream a mask's record follows (0: no record).
constexpr int kRedrawVersion = 1;

struct Mask {
  Recipe recipe;
  double k = 1.0;                     // the k it was trained with (popup.k)
  std::vector<LayerMask> layers;      // one per weight tensor, network order
  int redraw = 0;                     // popup.redraw: 0, or kRedrawVersion for an IteRand mask
  std::vector<LayerRedraws> redraws;  // redraw > 0: one per layer (most empty)
  std::vector<Tensor> state;          // F32 state evaluation needs (e.g. BatchNorm statistics)
  Metadata extra;                     // popup.train.* keys (provenance), written back as given
};

// Pack n keep flags (0/1 bytes) into bits.
std::vector<uint8_t> mask_pack(const uint8_t* keep, int64_t n);

// A layer mask for tensor `spec` from its keep flags; counts the kept weights.
LayerMask layer_mask_make(const TensorSpec& spec, double k, const uint8_t* keep);

// Checks popup_file_read makes on a mask file: the layout of its header (one U8 tensor per
// weight tensor, in order; in version 2 the U32 index and U16 count of each layer with redrawn
// kept weights; then F32 state, where .weight and .bias names of BatchNorms are
// their gamma and beta, [C], all or none; the popup.mask.* keys) and then its data (kept
// counts, zero padding bits, redraw records of kept weights in order). Throw FormatError /
// MismatchError.
void mask_check_header(const PopupFile& file, const std::vector<TensorInfo>& tensors);
void mask_check_data(const PopupFile& file);

// Zero the weights the mask drops: w * mask for every layer.
void mask_apply(const Mask& mask, std::vector<std::vector<float>>& weights);

void mask_write(const std::string& path, const Mask& mask);
void mask_write(OutputFile& out, const Mask& mask);  // writes and commits
Mask mask_from_file(
    PopupFile&& file);  // the file must be of kind mask (popup_file_read checked it)
Mask mask_read(const std::string& path);

}  // namespace popup

// The F32 state tensors that follow a mask's or a trained weights file's per-layer tensors:
// BatchNorm running statistics and, for affine BatchNorm (--learn-bn, dense ResNets), each
// BatchNorm's "<bn>.weight" (gamma) and "<bn>.bias" (beta). Checks and queries shared by both
// kinds (formats/mask.md, formats/weights.md).
#pragma once

#include <string>
#include <vector>

#include "format/popup_file.hpp"

namespace popup {

// Check tensors[first..] of file f as state: F32; ".weight" and ".bias" names of the recipe's
// BatchNorms only as F32 [C], and then for every BatchNorm; no other name ends in ".weight".
// `after` names what precedes them in messages ("the masks"). Throws FormatError /
// MismatchError.
void state_check(const PopupFile& f, const std::vector<TensorInfo>& tensors, size_t first,
                 const std::string& after);

// Whether the state holds BatchNorm scales ("<bn>.weight"): evaluate with affine BatchNorm.
bool state_has_affine_bn(const std::vector<Tensor>& state);

// Move the state tensors (those after the recipe's per-layer tensors) out of a file read with
// its data, leaving the per-layer tensors.
std::vector<Tensor> state_take(PopupFile& file);

}  // namespace popup

// The network a mask or weights file stands for, made ready to leave popup (DESIGN.md §14):
// its effective weights, which of them are kept, its BatchNorm state, the input normalisation
// and the class names. The writers (onnx_export, torch_export, csr_export) turn it into files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "format/recipe.hpp"
#include "format/safetensors.hpp"
#include "net/network.hpp"

namespace popup {

struct PopupFile;

// Which mask a supermask stands for (other methods have only their mask).
enum class SupermaskUse {
  mask,      // the file's deterministic mask (sigmoid(score) > 0.5), as popup-eval evaluates it
  expected,  // w * sigmoid(score): the expected network (needs the scores)
  sample,    // one mask drawn from sigmoid(score): popup-eval --eval-samples's sample 0 of the seed
};

struct ExportSource {
  std::string input = "-";  // a mask or weights file ("-": stdin)
  std::string weights;      // a mask's frozen weights (--weights); "": generated from the recipe
  std::string scores;       // a supermask's logits (popup-train --scores-out), for expected/sample
  SupermaskUse supermask = SupermaskUse::mask;
  uint64_t sample_seed = 0;
  std::string
      data;  // whose normalisation and class names; "": popup.train.data, else fashion-mnist
};

// One BatchNorm, by the op's name ("bn1", "layer1.0.downsample.1"): y = gamma (x - mean) /
// sqrt(var + eps) + beta. gamma 1 and beta 0 where the BatchNorm is not affine; mean 0 and var 1
// where the file holds no statistics.
struct BatchNormState {
  std::vector<float> gamma, beta, mean, var;  // [C] each
};
constexpr float kBatchNormEps = 1e-5f;

struct ExportModel {
  std::string file;  // the source's name, for messages
  Recipe recipe;
  Network net;
  Metadata metadata;  // the source file's keys (recipe, popup.kind, popup.train.*, ...)
  // Per weight tensor, network order (net.tensors): the weights the network computes with
  // (w * mask; biprop's sign(w) * alpha * mask; the supermask's choice), and which elements the
  // mask keeps (1 byte per weight; all 1 for a weights file, a dense layer or `expected`).
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<uint8_t>> keep;
  std::map<std::string, BatchNormState> batchnorms;  // every BatchNorm op of net
  bool affine_bn = false;                            // the file held gamma and beta
  // Input: an image's values x / 255 are normalised as (x / 255 - mean[c]) / stddev[c].
  std::vector<float> mean, stddev;
  std::vector<std::string> class_names;  // in label order; "0", "1", ... when unknown
  std::string data;                      // the data set named for them
  Metadata choices;  // popup.export.* keys of the choices made (source kind, supermask use)
};

// Build the model of `file` (source.input, read and checked by popup_file_read; the caller
// refuses --weights with a weights file). Throws FormatError / MismatchError / IoError naming
// the file at fault (--scores with a mask that is not a supermask's included).
ExportModel export_model_load(PopupFile&& file, const ExportSource& source);

}  // namespace popup

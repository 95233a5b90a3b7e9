// The training methods of popup-train --method (DESIGN.md §4), their names in files, and the
// per-method rules that training and evaluation share: global top-k's sparsity ramp, biprop's
// sign(w) * alpha * mask, the supermask's Bernoulli samples, and the effective weights a mask
// file stands for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "init/philox.hpp"

namespace popup {

struct Mask;

enum class Method {
  edge_popup,  // per-layer top-k of |score| (the default)
  supermask,   // Zhou et al.: mask ~ Bernoulli(sigmoid(score)) each forward
  dense,       // the learned dense-weights baseline: the weights themselves are trained
  global,      // one |score| threshold across all masked layers
  biprop,      // multi-prize tickets: sign(w) * alpha * mask
  iterand,     // edge-popup that redraws dropped weights every K steps (redraw.hpp)
};

// "edge-popup" | "supermask" | "dense" | "global" | "biprop" | "iterand"; InvalidArgument
// otherwise.
Method method_parse(const std::string& name);
const char* method_name(Method method);

// global: the fraction kept in epoch `epoch` (0-based) with a cubic ramp over the first
// `ramp_epochs` epochs (Zhu & Gupta 2017): k + (1 - k) (1 - epoch / ramp_epochs)^3 for
// epoch < ramp_epochs, else k. ramp_epochs 0: k throughout.
double global_keep_fraction(double k, int64_t epoch, int64_t ramp_epochs);

// biprop: alpha = mean |w| over the kept weights (sum in double; 0 when none is kept), and
// out[i] = sign(w[i]) * alpha * mask[i] (sign(0) = 0).
float biprop_alpha(const float* w, const uint8_t* mask, int64_t n);
void biprop_weights(const float* w, const uint8_t* mask, int64_t n, float alpha, float* out);

// supermask: mask[i] = u_i < sigmoid(logits[i]) (in double), u_i = (x + 0.5) / 2^32 with x
// the 32-bit output i % 4 of Philox4x32-10 block counter (i / 4, draw, tensor, stream), key
// the seed (as philox_element, with `draw` in place of the index's high word). Training draws
// use RandomStream::supermask with draw = the optimiser step; popup-eval --eval-samples uses
// RandomStream::supermask_eval with draw = the sample number.
void supermask_sample(const float* logits, int64_t n, uint64_t seed, RandomStream stream,
                      uint32_t draw, uint32_t tensor, uint8_t* mask);

// The method a mask file was trained with (its popup.train.method; edge-popup when absent)
// and whether its layer t was kept dense (popup.train.first_layer_dense / last_layer_dense).
Method mask_method(const Mask& mask);
bool mask_layer_dense(const Mask& mask, size_t t);

// The effective weights a mask stands for, in place, from the weights its recipe generates:
// w * mask, or for a biprop mask sign(w) * alpha * mask in every layer not kept dense (alpha
// from the mask and w); an IteRand mask's redrawn kept weights first take their redrawn values.
void mask_effective_weights(const Mask& mask, std::vector<std::vector<float>>& weights);

}  // namespace popup

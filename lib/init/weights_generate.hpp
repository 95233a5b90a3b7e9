// Seeded weight distributions (DESIGN.md §3, formats/generation.md): each element is a pure
// function of (seed, tensor index, element index), bit-identical on every machine and thread
// count. Uses popup's own double-precision log and cos, never the C library's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/arch.hpp"
#include "init/philox.hpp"

namespace popup {

enum class InitKind {
  kaiming_normal,
  signed_constant,
  kaiming_uniform,
  xavier_normal,
  unsigned_constant
};

// "kaiming-normal" <-> InitKind::kaiming_normal, etc. Parse throws InvalidArgument.
InitKind init_parse(const std::string& name);
std::string init_name(InitKind kind);
const std::vector<std::string>& init_names();

// Standard deviation (kaiming-uniform: the bound) of `kind` for this tensor, with fan_in
// divided by `scale_k` (1 = unscaled; --scale uses k, the fraction of weights kept).
// Throws InvalidArgument unless 0 < scale_k <= 1 and both fans are positive.
double init_std(InitKind kind, const TensorSpec& tensor, double scale_k);

// Fill out[0 .. tensor.numel()) with the weights of tensor number `tensor_index` (its position
// in network order). Parallel with OpenMP; the result does not depend on the thread count.
void weights_generate(InitKind kind, double scale_k, uint64_t seed, uint32_t tensor_index,
                      const TensorSpec& tensor, float* out);

// The value `kind` gives an element whose Philox block is `block`, at standard deviation (or
// bound) `sigma` from init_std: weights_generate gives element i the value of its block in the
// weights stream; IteRand's g-th redraw the value of its block in the redraw stream, number g
// (formats/generation.md §10). Scalar; the same bits as the vectorised fills.
float weight_from_block(InitKind kind, double sigma, const PhiloxCounter& block);

// Element `index` of tensor `tensor` after its g-th redraw (g from 1 to 2^24 - 1) under the
// recipe's seed: weight_from_block of philox_numbered(seed, redraw, g, tensor, index).
float weight_redrawn(InitKind kind, double sigma, uint64_t seed, uint32_t tensor, uint64_t index,
                     uint32_t g);

// Building blocks, exposed for other streams (score initialisation) and for tests.
double random_uniform53(const PhiloxCounter& block);  // [0, 1), 53 bits from x0, x1
double random_normal(const PhiloxCounter& block);     // N(0, 1) by Box-Muller in double
double popup_log(double x);      // natural log for normal x in (0, 1]; deterministic IEEE ops
double popup_cos_2pi(double t);  // cos(2*pi*t) for t in [0, 1); deterministic IEEE ops

}  // namespace popup

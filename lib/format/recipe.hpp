// A recipe: everything that determines a network's frozen weights (formats/recipe.md).
// Architecture + input shape + class count fix the tensors; distribution + scale + seed fix
// their values through formats/generation.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/arch.hpp"
#include "format/number_text.hpp"
#include "format/safetensors.hpp"
#include "init/weights_generate.hpp"

namespace popup {

struct Recipe {
  std::string arch;  // canonical spec, e.g. "conv6:width=2"
  InputShape input;  // e.g. 1x28x28
  int64_t classes = 10;
  InitKind init = InitKind::kaiming_normal;
  double scale_k = 1.0;  // fan_in is divided by this (--scale --k K stores K; 1 = unscaled)
  uint64_t seed = 0;
};

// Version of formats/generation.md that this build implements (recipe key popup.generation).
constexpr int kGenerationVersion = 1;

// Check ranges and canonicalise the architecture; throws InvalidArgument.
Recipe recipe_validated(Recipe recipe);

// The recipe's keys (popup.arch, popup.input, ...); not popup.kind or popup.version.
Metadata recipe_to_metadata(const Recipe& recipe);
// Parse and validate the recipe keys of a file's metadata; throws FormatError naming `file`.
Recipe recipe_from_metadata(const Metadata& metadata, const std::string& file);

// Throws MismatchError naming `file` and the first field that differs from `expected`.
void recipe_check_same(const Recipe& expected, const Recipe& actual, const std::string& file);

// The tensors of the recipe's network (arch_tensors of its arch, input, classes).
std::vector<TensorSpec> recipe_tensors(const Recipe& recipe);

// Generate every tensor of the recipe, in network order.
std::vector<std::vector<float>> recipe_generate(const Recipe& recipe);

}  // namespace popup

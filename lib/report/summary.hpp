// Human-readable reports about recipes: the per-layer table of popup-init --summary and the
// catalogue of architectures and distributions of popup-init --list.
#pragma once

#include <string>

#include "format/recipe.hpp"

namespace popup {

std::string recipe_summary(const Recipe& recipe);
std::string catalogue_text();

// 1234567 -> "1,234,567"
std::string thousands(int64_t n);

}  // namespace popup

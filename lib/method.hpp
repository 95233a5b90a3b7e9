// The training methods of popup-train --method (DESIGN.md §4) and their names in files.
#pragma once

#include <string>

namespace popup {

enum class Method {
  edge_popup,  // per-layer top-k of |score| (the default)
  supermask,   // Zhou et al.: mask ~ Bernoulli(sigmoid(score)) each forward
  dense,       // the learned dense-weights baseline: the weights themselves are trained
  global,      // one |score| threshold across all masked layers
  biprop,      // multi-prize tickets: sign(w) * alpha * mask
};

// "edge-popup" | "supermask" | "dense" | "global" | "biprop"; InvalidArgument otherwise.
Method method_parse(const std::string& name);
const char* method_name(Method method);

}  // namespace popup

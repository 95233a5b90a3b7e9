// Edge-popup's effective weights, w where the mask holds 1 and +0 elsewhere (executor.hpp),
// and the executors' default set_masked_weights over them.
#include "backend/executor.hpp"
#include "backend/masked_weight.hpp"

namespace popup {

void masked_weights(int64_t n, const float* w, const uint8_t* mask, float* out) {
  constexpr int64_t parallel_min = 16384;  // smaller layers: one thread (no fork-join cost)
#pragma omp parallel for simd schedule(static) if (parallel : n >= parallel_min)
  for (int64_t i = 0; i < n; ++i) out[i] = masked_weight(w[i], mask[i]);
}

void Executor::set_masked_weights(size_t t, int64_t n, const float* weights, const uint8_t* mask) {
  masked_.resize(static_cast<size_t>(n));
  masked_weights(n, weights, mask, masked_.data());
  set_weights(t, masked_.data());
}

}  // namespace popup

// Edge-popup's effective weight, one at a time: w where the mask byte holds 1 and +0 where it
// holds 0, as bits (w AND all ones or all zeros), so no branch and no -0. Every place that
// applies the mask (masked_weights, popup's masked reorder, the Winograd weight transform)
// uses it, so their bits agree.
#pragma once

#include <cstdint>
#include <cstring>

namespace popup {

inline float masked_weight(float w, uint8_t mask) {
  uint32_t bits;
  std::memcpy(&bits, &w, sizeof bits);
  bits &= 0u - uint32_t{mask};
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace popup

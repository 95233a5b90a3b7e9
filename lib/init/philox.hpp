// Philox4x32-10 (Salmon et al., SC'11), the counter-based generator behind every random
// number popup draws, and the element-addressable streams of formats/generation.md.
// Defined inline so that the generation loops can inline and vectorise it.
#pragma once

#include <array>
#include <cstdint>

namespace popup {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// One block: 10 rounds over `counter` with `key`; four 32-bit outputs. Exactly Random123's
// philox4x32 with R = 10 (its kat_vectors are the unit tests).
inline PhiloxCounter philox4x32_10(PhiloxCounter counter, PhiloxKey key) {
  constexpr uint64_t multiplier0 = 0xD2511F53, multiplier1 = 0xCD9E8D57;
  constexpr uint32_t weyl0 = 0x9E3779B9, weyl1 = 0xBB67AE85;
#pragma GCC unroll 10
  for (int round = 0; round < 10; ++round) {
    const uint64_t product0 = multiplier0 * counter[0];
    const uint64_t product1 = multiplier1 * counter[2];
    counter = {static_cast<uint32_t>(product1 >> 32) ^ counter[1] ^ key[0],
               static_cast<uint32_t>(product1),
               static_cast<uint32_t>(product0 >> 32) ^ counter[3] ^ key[1],
               static_cast<uint32_t>(product0)};
    key[0] += weyl0;
    key[1] += weyl1;
  }
  return counter;
}

// What a stream of random numbers is used for; part of the counter, so the streams of one
// seed never overlap.
enum class RandomStream : uint32_t {
  weights = 0,         // frozen weights (popup-init)
  scores = 1,          // score initialisation (popup-train --seed)
  data = 2,            // data order and augmentation (popup-train --seed)
  supermask = 3,       // supermask training masks (popup-train --method supermask --seed)
  supermask_eval = 4,  // supermask masks sampled in evaluation (popup-eval --eval-samples)
  redraw = 5,          // IteRand: a weight's g-th redrawn value (recipe seed; number g)
  redraw_pick = 6,     // IteRand: which dropped weights event e redraws (training seed; number e)
};

// The block for element `index` of tensor `tensor` in `stream` under `seed`:
// key (seed low 32 bits, seed high 32 bits), counter (index low, index high, tensor, stream).
inline PhiloxCounter philox_element(uint64_t seed, RandomStream stream, uint32_t tensor,
                                    uint64_t index) {
  return philox4x32_10({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), tensor,
                        static_cast<uint32_t>(stream)},
                       {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

// A numbered stream (formats/generation.md §10): the counter's last word is the stream in its
// low 8 bits and `number` (1 to 2^24 - 1) above them, so that numbered blocks never meet
// those of the plain streams, whose last word is below 256.
inline PhiloxCounter philox_numbered(uint64_t seed, RandomStream stream, uint32_t number,
                                     uint32_t tensor, uint64_t index) {
  return philox4x32_10({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), tensor,
                        static_cast<uint32_t>(stream) | (number << 8)},
                       {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

}  // namespace popup

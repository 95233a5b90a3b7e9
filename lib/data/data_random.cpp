// Seeded permutations and augmentation draws from the data stream.
#include "data/data_random.hpp"

#include <cstddef>
#include <numeric>
#include <utility>

#include "init/philox.hpp"

namespace popup {

std::vector<int64_t> data_permutation(int64_t n, uint64_t seed, uint32_t tensor) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i >= 1; --i) {
    const PhiloxCounter block =
        philox_element(seed, RandomStream::data, tensor, static_cast<uint64_t>(i));
    const uint64_t bits = ((static_cast<uint64_t>(block[1]) << 32) | block[0]) >> 11;
    const auto j = static_cast<int64_t>(
        (static_cast<unsigned __int128>(bits) * static_cast<uint64_t>(i + 1)) >> 53);
    std::swap(order[i], order[j]);
  }
  return order;
}

AugmentDraw augment_draw(uint64_t seed, int64_t epoch, int64_t position, int64_t pad) {
  const PhiloxCounter block =
      philox_element(seed, RandomStream::data, kAugmentTensor + static_cast<uint32_t>(epoch),
                     static_cast<uint64_t>(position));
  const uint64_t choices = static_cast<uint64_t>(2 * pad + 1);
  AugmentDraw draw;
  draw.dy = static_cast<int64_t>((block[0] * choices) >> 32);
  draw.dx = static_cast<int64_t>((block[1] * choices) >> 32);
  draw.flip = (block[2] >> 31) != 0;
  return draw;
}

}  // namespace popup

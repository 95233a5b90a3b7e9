// Seeded permutations and augmentation draws from the data stream.
#include "data/data_random.hpp"

#include <cmath>
#include <cstddef>
#include <numeric>
#include <utility>

#include "init/philox.hpp"
#include "init/weights_generate.hpp"

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

namespace {

// Python's round() of a non-negative double to an integer: half to even.
int64_t round_half_even(double x) {
  return static_cast<int64_t>(std::nearbyint(x));  // the default rounding mode: to nearest even
}

}  // namespace

ImageCropDraw image_crop_draw(uint64_t seed, int64_t epoch, int64_t example, int64_t height,
                              int64_t width) {
  const uint32_t tensor = kImageCropTensor + static_cast<uint32_t>(epoch);
  const uint64_t first = static_cast<uint64_t>(example) * 16;
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_low = std::log(3.0 / 4.0), log_high = std::log(4.0 / 3.0);
  ImageCropDraw draw;
  bool found = false;
  for (uint64_t attempt = 0; attempt < 10 && !found; ++attempt) {
    const PhiloxCounter block = philox_element(seed, RandomStream::data, tensor, first + attempt);
    const double u = random_uniform53(block);
    const double v = random_uniform53({block[2], block[3], 0, 0});
    const double target = area * (0.08 + (1.0 - 0.08) * u);
    const double ratio = std::exp(log_low + (log_high - log_low) * v);
    const int64_t w = round_half_even(std::sqrt(target * ratio));
    const int64_t h = round_half_even(std::sqrt(target / ratio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      draw.height = h;
      draw.width = w;
      found = true;
    }
  }
  const PhiloxCounter block = philox_element(seed, RandomStream::data, tensor, first + 10);
  if (found) {
    draw.top =
        static_cast<int64_t>((block[0] * static_cast<uint64_t>(height - draw.height + 1)) >> 32);
    draw.left =
        static_cast<int64_t>((block[1] * static_cast<uint64_t>(width - draw.width + 1)) >> 32);
  } else {
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    draw.height = height;
    draw.width = width;
    if (in_ratio < 3.0 / 4.0) {
      draw.height = round_half_even(static_cast<double>(width) / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
      draw.width = round_half_even(static_cast<double>(height) * (4.0 / 3.0));
    }
    draw.top = (height - draw.height) / 2;
    draw.left = (width - draw.width) / 2;
  }
  draw.flip = (block[2] >> 31) != 0;
  return draw;
}

}  // namespace popup

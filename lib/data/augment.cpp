// The crop-and-flip of augment.hpp.
#include "data/augment.hpp"

namespace popup {

void augment_image(const float* in, float* out, const InputShape& shape, const float* padding,
                   const AugmentDraw& draw) {
  const int64_t h = shape.h, w = shape.w;
  for (int64_t c = 0; c < shape.c; ++c) {
    const float* plane = in + c * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y + draw.dy - kAugmentPad;
      float* row = out + (c * h + y) * w;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = (draw.flip ? w - 1 - x : x) + draw.dx - kAugmentPad;
        row[x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? plane[sy * w + sx] : padding[c];
      }
    }
  }
}

}  // namespace popup

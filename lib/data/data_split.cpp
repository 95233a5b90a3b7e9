// DataSplit's decoding: 8-bit samples through the per-channel table to normalised floats.
#include <cstddef>

#include "data/dataset.hpp"
#include "error.hpp"

namespace popup {

void DataSplit::example_values(int64_t example, float* out) const {
  if (streamed())
    throw InvalidArgument(files->folder, "a streamed split's examples exist only in batches");
  const int64_t plane = shape.h * shape.w;
  const uint8_t* in = pixels.data() + example * example_size();
  for (int64_t c = 0; c < shape.c; ++c) {
    const float* level = levels.data() + c * 256;
    for (int64_t k = 0; k < plane; ++k) out[c * plane + k] = level[in[c * plane + k]];
  }
}

std::vector<float> DataSplit::images() const {
  if (streamed())
    throw InvalidArgument(files->folder, "a streamed split's examples exist only in batches");
  std::vector<float> all(pixels.size());
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) example_values(i, all.data() + i * example_size());
  return all;
}

std::vector<float> DataSplit::padding() const {
  std::vector<float> values(static_cast<size_t>(shape.c), 0.0f);
  for (size_t c = 0; c < values.size() && c * 256 < levels.size(); ++c) values[c] = levels[c * 256];
  return values;
}

}  // namespace popup

// PIL's bilinear resampling in fixed point, reproduced from its definition (Pillow 9.4,
// Resample.c: coefficients in double, normalised, rounded to 22 fractional bits; each pass
// rounds and clips to 8 bits), and the evaluation crop's geometry.
#include "data/image_transform.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "error.hpp"

namespace popup {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Python's round() to an integer: half to even.
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

}  // namespace

ResizeAxis resize_axis(int64_t size, double start, double end, int64_t outputs,
                       int64_t first_output, int64_t count) {
  const double scale = (end - start) / static_cast<double>(outputs);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;
  ResizeAxis axis;
  axis.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  axis.first.resize(static_cast<size_t>(count));
  axis.count.resize(static_cast<size_t>(count));
  axis.weight.assign(static_cast<size_t>(count * axis.taps), 0);
  std::vector<double> k(static_cast<size_t>(axis.taps));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t xx = first_output + i;
    const double center = start + (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    // (int) in C: toward zero; a negative value is clipped to 0 either way.
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t xmax =
        std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), size) - xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      k[x] = bilinear((static_cast<double>(x + xmin) - center + 0.5) * ss);
      ww += k[x];
    }
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      const double fixed = w * (1 << kPrecisionBits);
      axis.weight[i * axis.taps + x] = static_cast<int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    axis.first[i] = xmin;
    axis.count[i] = std::max<int64_t>(xmax, 0);
  }
  return axis;
}

void resize_axis_span(const ResizeAxis& axis, int64_t* first, int64_t* last) {
  *first = axis.first.empty() ? 0 : axis.first.front();
  *last = *first;
  for (size_t i = 0; i < axis.first.size(); ++i) {
    *first = std::min(*first, axis.first[i]);
    *last = std::max(*last, axis.first[i] + axis.count[i]);
  }
}

void resize_run(const RgbView& in, int64_t in_top, int64_t in_left, const ResizeAxis& rows,
                const ResizeAxis& columns, std::vector<uint8_t>& between, uint8_t* out) {
  int64_t row_first = 0, row_last = 0;
  resize_axis_span(rows, &row_first, &row_last);
  const auto out_columns = static_cast<int64_t>(columns.first.size());
  const auto out_rows = static_cast<int64_t>(rows.first.size());
  const int64_t span = row_last - row_first;
  between.resize(static_cast<size_t>(span * out_columns * 3));
  // Horizontal pass: input rows row_first .. row_last - 1, every output column.
  for (int64_t y = 0; y < span; ++y) {
    const uint8_t* row = in.pixels + (row_first + y - in_top) * in.stride;
    uint8_t* dst = between.data() + y * out_columns * 3;
    for (int64_t x = 0; x < out_columns; ++x) {
      const int32_t* w = columns.weight.data() + x * columns.taps;
      const uint8_t* src = row + (columns.first[x] - in_left) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int64_t t = 0; t < columns.count[x]; ++t) {
        s0 += src[3 * t] * w[t];
        s1 += src[3 * t + 1] * w[t];
        s2 += src[3 * t + 2] * w[t];
      }
      dst[3 * x] = clip8(s0);
      dst[3 * x + 1] = clip8(s1);
      dst[3 * x + 2] = clip8(s2);
    }
  }
  // Vertical pass: each output row accumulated a whole input row at a time (vectorised).
  const int64_t row_bytes = out_columns * 3;
  std::vector<int32_t> sum(static_cast<size_t>(row_bytes));
  int32_t* acc = sum.data();
  for (int64_t y = 0; y < out_rows; ++y) {
    const int32_t* w = rows.weight.data() + y * rows.taps;
    const uint8_t* src = between.data() + (rows.first[y] - row_first) * row_bytes;
#pragma omp simd
    for (int64_t x = 0; x < row_bytes; ++x) acc[x] = 1 << (kPrecisionBits - 1);
    for (int64_t t = 0; t < rows.count[y]; ++t) {
      const uint8_t* line = src + t * row_bytes;
      const int32_t weight = w[t];
#pragma omp simd
      for (int64_t x = 0; x < row_bytes; ++x) acc[x] += line[x] * weight;
    }
    uint8_t* dst = out + y * row_bytes;
#pragma omp simd
    for (int64_t x = 0; x < row_bytes; ++x) dst[x] = clip8(acc[x]);
  }
}

void resize_bilinear(const RgbView& in, int64_t out_height, int64_t out_width,
                     std::vector<uint8_t>& between, uint8_t* out) {
  const ResizeAxis rows =
      resize_axis(in.height, 0.0, static_cast<double>(in.height), out_height, 0, out_height);
  const ResizeAxis columns =
      resize_axis(in.width, 0.0, static_cast<double>(in.width), out_width, 0, out_width);
  resize_run(in, 0, 0, rows, columns, between, out);
}

EvalGeometry eval_geometry(int64_t height, int64_t width, int64_t resize, int64_t size) {
  if (size > resize)
    throw InvalidArgument("", "image size " + std::to_string(size) + " over the resize " +
                                  std::to_string(resize) + " of evaluation");
  EvalGeometry g;
  const int64_t shorter = std::min(height, width), longer = std::max(height, width);
  const auto resized_longer =
      static_cast<int64_t>(static_cast<double>(resize * longer) / static_cast<double>(shorter));
  g.resized_height = width <= height ? resized_longer : resize;
  g.resized_width = width <= height ? resize : resized_longer;
  g.top = round_half_even(static_cast<double>(g.resized_height - size) / 2.0);
  g.left = round_half_even(static_cast<double>(g.resized_width - size) / 2.0);
  return g;
}

void rgb_normalise(const uint8_t* rgb, int64_t size, bool flip, const float mean[3],
                   const float stddev[3], float* out) {
  float table[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v)
      table[c][v] = (static_cast<float>(v) / 255.0f - mean[c]) / stddev[c];
  const int64_t plane = size * size;
  for (int64_t y = 0; y < size; ++y) {
    const uint8_t* row = rgb + y * size * 3;
    for (int64_t x = 0; x < size; ++x) {
      const int64_t from = flip ? size - 1 - x : x;
      for (int c = 0; c < 3; ++c) out[c * plane + y * size + x] = table[c][row[3 * from + c]];
    }
  }
}

}  // namespace popup

// PIL's bilinear resampling in fixed point, reproduced from its definition (Pillow 9.4,
// Resample.c: coefficients in double, normalised, rounded to 22 fractional bits; each pass
// rounds and clips to 8 bits), and the evaluation crop's geometry.
#include "data/image_transform.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

// One row of the horizontal pass, scalar: outputs first .. count - 1.
void horizontal_scalar(const uint8_t* row, const ResizeAxis& columns, int64_t in_left,
                       int64_t first, int64_t count, uint8_t* dst) {
  for (int64_t x = first; x < count; ++x) {
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

#if defined(__x86_64__)
// The horizontal pass with SSSE3, exactly the scalar sums: two taps at a time, the three
// channels of both pixels in 16-bit lanes (R0 R1 G0 G1 B0 B1 0 0, by pshufb) multiplied and
// added in pairs (pmaddwd) with the weights split as w = 4096 * high + low (both below 2^15,
// for 0 <= w <= 2^22), the two 32-bit sums joined at the end: high * 4096 + low.
struct HorizontalSimd {
  int64_t outputs = 0;             // outputs 0 .. outputs - 1 take this path, the rest scalar
  std::vector<int64_t> pairs;      // per output: tap pairs
  std::vector<int64_t> pair_at;    // per output: its first pair's index in `low` / `high`
  std::vector<int16_t> low, high;  // 8 lanes per pair: (w_t, w_t+1) three times, then 0, 0
};

// The outputs that read whole pairs (8 bytes a pair) within `width` input pixels, while the
// weights are in range.
HorizontalSimd horizontal_simd(const ResizeAxis& columns, int64_t in_left, int64_t width) {
  HorizontalSimd h;
  const auto outputs = static_cast<int64_t>(columns.first.size());
  for (int64_t x = 0; x < outputs; ++x) {
    const int64_t pairs = (columns.count[x] + 1) / 2;
    // The last pair's 8-byte load starts at pixel first + 2 * pairs - 2.
    if (columns.first[x] - in_left + 2 * pairs + 1 > width) break;
    const int32_t* w = columns.weight.data() + x * columns.taps;
    bool in_range = true;
    for (int64_t t = 0; t < columns.count[x]; ++t)
      in_range = in_range && w[t] >= 0 && w[t] <= (1 << kPrecisionBits);
    if (!in_range) break;
    h.pairs.push_back(pairs);
    h.pair_at.push_back(static_cast<int64_t>(h.low.size() / 8));
    for (int64_t p = 0; p < pairs; ++p) {
      const int32_t a = w[2 * p], b = 2 * p + 1 < columns.count[x] ? w[2 * p + 1] : 0;
      for (int c = 0; c < 3; ++c) {
        h.low.insert(h.low.end(), {static_cast<int16_t>(a & 4095), static_cast<int16_t>(b & 4095)});
        h.high.insert(h.high.end(), {static_cast<int16_t>(a >> 12), static_cast<int16_t>(b >> 12)});
      }
      h.low.insert(h.low.end(), {0, 0});
      h.high.insert(h.high.end(), {0, 0});
    }
    ++h.outputs;
  }
  return h;
}

__attribute__((target("ssse3"))) void horizontal_ssse3(const uint8_t* row,
                                                       const ResizeAxis& columns, int64_t in_left,
                                                       const HorizontalSimd& h, uint8_t* dst) {
  const __m128i order = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  const __m128i half = _mm_set1_epi32(1 << (kPrecisionBits - 1));
  for (int64_t x = 0; x < h.outputs; ++x) {
    const uint8_t* src = row + (columns.first[x] - in_left) * 3;
    const int16_t* low = h.low.data() + h.pair_at[x] * 8;
    const int16_t* high = h.high.data() + h.pair_at[x] * 8;
    __m128i sum_low = _mm_setzero_si128(), sum_high = _mm_setzero_si128();
    for (int64_t p = 0; p < h.pairs[x]; ++p) {
      const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + 6 * p));
      const __m128i pixels = _mm_shuffle_epi8(bytes, order);
      sum_low = _mm_add_epi32(
          sum_low,
          _mm_madd_epi16(pixels, _mm_loadu_si128(reinterpret_cast<const __m128i*>(low + 8 * p))));
      sum_high = _mm_add_epi32(
          sum_high,
          _mm_madd_epi16(pixels, _mm_loadu_si128(reinterpret_cast<const __m128i*>(high + 8 * p))));
    }
    const __m128i sum = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(sum_high, 12), sum_low), half);
    const __m128i shifted = _mm_srai_epi32(sum, kPrecisionBits);
    const __m128i packed = _mm_packus_epi16(_mm_packs_epi32(shifted, shifted), shifted);
    const int32_t rgb = _mm_cvtsi128_si32(packed);
    std::memcpy(dst + 3 * x, &rgb, 3);
  }
}

const bool kHaveSsse3 = __builtin_cpu_supports("ssse3");
#endif

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
#if defined(__x86_64__)
  const HorizontalSimd simd =
      kHaveSsse3 ? horizontal_simd(columns, in_left, in.width) : HorizontalSimd();
#endif
  for (int64_t y = 0; y < span; ++y) {
    const uint8_t* row = in.pixels + (row_first + y - in_top) * in.stride;
    uint8_t* dst = between.data() + y * out_columns * 3;
    int64_t done = 0;
#if defined(__x86_64__)
    if (simd.outputs > 0) horizontal_ssse3(row, columns, in_left, simd, dst);
    done = simd.outputs;
#endif
    horizontal_scalar(row, columns, in_left, done, out_columns, dst);
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

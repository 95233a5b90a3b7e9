// The geometry and arithmetic of torchvision's ImageNet transforms on 8-bit RGB images:
// PIL's bilinear resize (with antialiasing), torchvision 0.14's Resize(shorter side) +
// CenterCrop, and the final flip + ToTensor + Normalize. RandomResizedCrop's draw is
// image_crop_draw (data_random.hpp).
#pragma once

#include <cstdint>
#include <vector>

namespace popup {

// An 8-bit RGB image or a part of one: pixel (y, x) at pixels + y * stride + 3 * x.
struct RgbView {
  const uint8_t* pixels = nullptr;
  int64_t stride = 0;
  int64_t height = 0, width = 0;
};

// One axis of a resize: for each output index, the first input index and the fixed-point
// weights of the inputs from there (Pillow's precompute_coeffs and normalize_coeffs_8bpc).
struct ResizeAxis {
  int64_t taps = 0;             // weights per output index (ksize)
  std::vector<int64_t> first;   // per output index
  std::vector<int64_t> count;   // per output index: weights used
  std::vector<int32_t> weight;  // [outputs, taps], in units of 2^-22
};

// Pillow 9.4's ImagingResample with the bilinear filter (support 1, scaled by the reduction
// factor when reducing): the input span [start, end) of an axis of `size` pixels (a fractional
// box, as Image.resize's box) onto `outputs` pixels, of which only `first_output` ..
// `first_output + count - 1` are computed. Input pixels outside 0 .. size - 1 are never used.
ResizeAxis resize_axis(int64_t size, double start, double end, int64_t outputs,
                       int64_t first_output, int64_t count);

// The input range [*first, *last) that an axis reads.
void resize_axis_span(const ResizeAxis& axis, int64_t* first, int64_t* last);

// Two passes as Pillow: horizontal (rows `rows`' input span, into `between`, 8 bits), then
// vertical, into `out`: [rows outputs, columns outputs, 3], packed. `in` holds the input from
// row `in_top`, column `in_left` of the axes' coordinates on (at least their spans).
void resize_run(const RgbView& in, int64_t in_top, int64_t in_left, const ResizeAxis& rows,
                const ResizeAxis& columns, std::vector<uint8_t>& between, uint8_t* out);

// The whole of `in` (or its box) resized to out_height x out_width into `out` (packed RGB).
void resize_bilinear(const RgbView& in, int64_t out_height, int64_t out_width,
                     std::vector<uint8_t>& between, uint8_t* out);

// torchvision 0.14 Resize(resize) on height x width (the shorter side becomes `resize`, the
// longer int(resize * longer / shorter)) then CenterCrop(size) (top = int(round((resized height
// - size) / 2.0)), Python's rounding, likewise left). Throws InvalidArgument when size > resize.
struct EvalGeometry {
  int64_t resized_height = 0, resized_width = 0;
  int64_t top = 0, left = 0;
};
EvalGeometry eval_geometry(int64_t height, int64_t width, int64_t resize, int64_t size);

// The S x S packed RGB image `rgb` mirrored left-right when `flip`, as ToTensor + Normalize:
// out[c, y, x] = (v / 255 - mean[c]) / stddev[c] in float, [3, S, S].
void rgb_normalise(const uint8_t* rgb, int64_t size, bool flip, const float mean[3],
                   const float stddev[3], float* out);

}  // namespace popup

// One streamed example: decode (only what the transform reads, at the smallest scale that keeps
// enough pixels), resize as PIL, flip and normalise into [3, S, S].
#include "data/image_prepare.hpp"

#include <algorithm>
#include <cmath>

#include "data/data_random.hpp"
#include "data/image_decode.hpp"
#include "data/image_transform.hpp"

namespace popup {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Decodes the input spans of `rows` and `columns` (in the image at 1/scale; all of it without
// crop_decode), resizes into scratch.resized, then flips and normalises into `out`.
void decode_resize(ImageDecoder& decoder, int scale, const ResizeAxis& rows,
                   const ResizeAxis& columns, const ImageTransform& t, bool flip,
                   ImageScratch& scratch, float* out) {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
  resize_axis_span(rows, &top, &bottom);
  resize_axis_span(columns, &left, &right);
  if (!t.crop_decode) {
    top = left = 0;
    bottom = ceil_div(decoder.height(), scale);
    right = ceil_div(decoder.width(), scale);
  }
  const ImageRegion region =
      decoder.decode(scale, top, left, bottom - top, right - left, scratch.decoded, t.crop_decode);
  const RgbView view{region.pixels, region.stride, region.height, region.width};
  scratch.resized.resize(static_cast<size_t>(t.size * t.size * 3));
  resize_run(view, region.top, region.left, rows, columns, scratch.between, scratch.resized.data());
  rgb_normalise(scratch.resized.data(), t.size, flip, t.mean, t.stddev, out);
}

}  // namespace

void image_prepare_train(const uint8_t* data, size_t size, const std::string& name,
                         const ImageTransform& t, uint64_t seed, int64_t epoch, int64_t example,
                         ImageScratch& scratch, float* out) {
  ImageDecoder decoder(data, size, name);
  const ImageCropDraw crop =
      image_crop_draw(seed, epoch, example, decoder.height(), decoder.width());
  image_prepare_crop(decoder, t, crop, scratch, out);
}

void image_prepare_crop(ImageDecoder& decoder, const ImageTransform& t, const ImageCropDraw& crop,
                        ImageScratch& scratch, float* out) {
  int scale = 1;
  if (t.scaled_decode && decoder.is_jpeg())
    for (int s : {8, 4, 2})
      if (crop.height >= t.size * s && crop.width >= t.size * s) {
        scale = s;
        break;
      }
  // The crop at 1/scale, a fractional box within the whole pixels that hold it: the resize
  // reads nothing outside them, as torchvision's resize of the cropped image.
  const double s = scale;
  const double y0 = static_cast<double>(crop.top) / s;
  const double y1 = static_cast<double>(crop.top + crop.height) / s;
  const double x0 = static_cast<double>(crop.left) / s;
  const double x1 = static_cast<double>(crop.left + crop.width) / s;
  const auto top = static_cast<int64_t>(std::floor(y0));
  const auto left = static_cast<int64_t>(std::floor(x0));
  const int64_t bottom =
      std::min(static_cast<int64_t>(std::ceil(y1)), ceil_div(decoder.height(), scale));
  const int64_t right =
      std::min(static_cast<int64_t>(std::ceil(x1)), ceil_div(decoder.width(), scale));
  ResizeAxis rows = resize_axis(bottom - top, y0 - top, y1 - top, t.size, 0, t.size);
  ResizeAxis columns = resize_axis(right - left, x0 - left, x1 - left, t.size, 0, t.size);
  // Into the coordinates of the image at 1/scale.
  for (int64_t& first : rows.first) first += top;
  for (int64_t& first : columns.first) first += left;
  decode_resize(decoder, scale, rows, columns, t, crop.flip, scratch, out);
}

void image_prepare_eval(const uint8_t* data, size_t size, const std::string& name,
                        const ImageTransform& t, ImageScratch& scratch, float* out) {
  ImageDecoder decoder(data, size, name);
  const int64_t height = decoder.height(), width = decoder.width();
  const EvalGeometry g = eval_geometry(height, width, t.resize, t.size);
  int scale = 1;
  if (t.scaled_decode_eval && decoder.is_jpeg())
    for (int s : {8, 4, 2})
      if (std::min(ceil_div(height, s), ceil_div(width, s)) >= t.resize) {
        scale = s;
        break;
      }
  const ResizeAxis rows =
      resize_axis(ceil_div(height, scale), 0.0, static_cast<double>(height) / scale,
                  g.resized_height, g.top, t.size);
  const ResizeAxis columns =
      resize_axis(ceil_div(width, scale), 0.0, static_cast<double>(width) / scale, g.resized_width,
                  g.left, t.size);
  decode_resize(decoder, scale, rows, columns, t, false, scratch, out);
}

}  // namespace popup

// Fuzz target: image decoding from memory (ImageDecoder: JPEG through libjpeg-turbo, PNG through
// libpng), whole and as a scaled, cropped region, then both image transforms on a small size.
// Images over 2^22 pixels are refused by the header, so that one input stays within run.sh's
// memory limit (a progressive JPEG's coefficients take up to 8 bytes a pixel).
#include "data/image_decode.hpp"
#include "data/image_prepare.hpp"
#include "error.hpp"

namespace {

constexpr int64_t kFuzzMaxPixels = int64_t{1} << 22;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    popup::ImageDecoder whole(data, size, "input", kFuzzMaxPixels);
    std::vector<uint8_t> buffer;
    const popup::ImageRegion all =
        whole.decode(1, 0, 0, whole.height(), whole.width(), buffer, false);
    check(all.height == whole.height() && all.width == whole.width());
    check(static_cast<size_t>(all.stride * all.height) <= buffer.size());

    popup::ImageDecoder part(data, size, "input", kFuzzMaxPixels);
    const int64_t rows = (part.height() + 1) / 2, columns = (part.width() + 1) / 2;
    const popup::ImageRegion region =
        part.decode(2, rows / 3, columns / 3, rows / 2 + 1, columns / 2 + 1, buffer, true);
    if (part.is_jpeg()) check(region.height <= rows && region.width <= columns);  // PNG: whole

    popup::ImageTransform t;
    t.size = 8;
    t.resize = 9;
    popup::ImageScratch scratch;
    std::vector<float> out(3 * 8 * 8);
    popup::image_prepare_train(data, size, "input", t, 1, 0, 7, scratch, out.data());
    popup::image_prepare_eval(data, size, "input", t, scratch, out.data());
  } catch (const popup::Error&) {
  }
  return 0;
}

// Writing 8-bit grey PNG images with libpng (popup-stats --png): encoded in memory, then
// written through OutputFile, so a failed write never leaves a partial picture behind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace popup {

struct GreyImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width], row-major, 0 black ... 255 white
};

// The PNG encoding of `image` (8-bit grey, no interlace). Throws InvalidArgument for an empty
// or inconsistent image, FormatError naming `path` if libpng fails.
std::vector<uint8_t> png_encode_grey(const GreyImage& image, const std::string& path = "");

// Encode and write `image` to `path` atomically (temporary sibling, renamed when complete).
// Throws IoError naming the file.
void png_write_grey(const std::string& path, const GreyImage& image);

}  // namespace popup

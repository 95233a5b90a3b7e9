// Decoding one PNG file with libpng into 8-bit grey or RGB samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace popup {

struct PngImage {
  int64_t height = 0, width = 0;
  int64_t channels = 0;         // 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;  // [height, width, channels], interleaved as stored
};

// Any PNG: palette images become RGB, grey below 8 bits is widened to 8 bits, 16-bit samples
// are scaled to 8 bits (libpng's png_set_scale_16: round(v * 255 / 65535)), alpha (and tRNS
// transparency) is dropped. Throws IoError when the file cannot be read, FormatError when it
// is not a valid PNG.
PngImage png_decode(const std::string& path);

}  // namespace popup

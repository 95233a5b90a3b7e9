// Decoding one PNG file with libpng into 8-bit grey or RGB samples, its size checked from the
// header before any pixel buffer is allocated.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace popup {

// The largest image decoded: 16384 pixels a side and 2^24 pixels (4096x4096; 48 MiB as RGB).
// This covers 1x28x28 and 3x32x32 data sets and ImageNet-sized images (a few thousand pixels a
// side); a header announcing more (20000x20000) is refused before anything is decoded.
constexpr int64_t kPngMaxSide = 16384;
constexpr int64_t kPngMaxPixels = int64_t{1} << 24;

struct PngImage {
  int64_t height = 0, width = 0;
  int64_t channels = 0;         // 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;  // [height, width, channels], interleaved as stored
};

// Called with the file and the height and width of its header, before any pixel buffer is
// allocated; throws to refuse the image.
using PngSizeCheck = std::function<void(const std::string& path, int64_t height, int64_t width)>;

// Any PNG: palette images become RGB, grey below 8 bits is widened to 8 bits, 16-bit samples
// are scaled to 8 bits (libpng's png_set_scale_16: round(v * 255 / 65535)), alpha (and tRNS
// transparency) is dropped. The header (IHDR) is checked first: the size against the limits
// above and against what the file's bytes can hold (deflate packs at most 1032 bytes into
// one), then by `size_check` when given. libpng's own limits are set too: the same sizes, and
// at most 128 ancillary chunks of at most 4 MiB each. Only a regular file is read
// (data_file_open). Throws IoError when the file cannot be read, FormatError when it is not a
// valid PNG or is too large.
PngImage png_decode(const std::string& path, const PngSizeCheck& size_check = nullptr);

// The same for a file already in memory (`size` bytes at `data`); `name` names it in errors.
// Throws FormatError (IoError only when memory runs out).
PngImage png_decode_memory(const uint8_t* data, size_t size, const std::string& name,
                           const PngSizeCheck& size_check = nullptr);

// True when `data` starts with the PNG signature.
bool png_signature(const uint8_t* data, size_t size);

}  // namespace popup

// Decoding one JPEG or PNG file held in memory into 8-bit RGB, as PIL's
// Image.open(f).convert("RGB") does, optionally only a region and (JPEG) at 1/2, 1/4 or 1/8 of
// the size, so that a training crop costs less than the whole picture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace popup {

// The largest image accepted, by the size its header announces: 2^26 pixels (8192x8192; the
// largest ImageNet photographs are about 30 million) and 65535 a side. The pixels decoded into
// memory are at most the same count (192 MiB as RGB); libjpeg's own buffers for a progressive
// JPEG are at most 8 bytes a pixel (2-byte coefficients, four components).
constexpr int64_t kImageMaxPixels = int64_t{1} << 26;
constexpr int64_t kImageMaxSide = 65535;

// A decoded region: [height, width, 3] RGB at `pixels`, row `stride` bytes apart, which is
// rows `top`.. and columns `left`.. of the image at 1/`scale` of its size
// (ceil(height / scale) x ceil(width / scale), libjpeg's scaled size).
struct ImageRegion {
  const uint8_t* pixels = nullptr;
  int64_t stride = 0;
  int64_t top = 0, left = 0, height = 0, width = 0;
  int scale = 1;
};

struct JpegState;

// One file's bytes, its header read on construction. JPEG (by its first bytes FF D8 FF):
// libjpeg-turbo with its default decoding (accurate integer IDCT, fancy upsampling), as PIL
// uses it; grey is replicated into R, G, B; CMYK and YCCK (libjpeg converts YCCK to CMYK) are
// taken as Adobe's inverted CMYK and converted as Pillow 9.4's cmyk2rgb: with n = 255 - (255 -
// K), each channel n - (255 - C) * n / 255 (rounded as Pillow's MULDIV255). PNG (its signature):
// png_decode_memory, grey replicated; as PIL except 16-bit samples, which libpng scales
// (round(v * 255 / 65535)) where PIL 9.4 keeps the high byte (RGB) or clips the value to 255
// (grey, read as 32-bit integers). Warnings of corrupt-but-decodable JPEG data (extraneous
// bytes, a data segment ending early) are ignored as PIL ignores them; a file that ends before
// its image does (libjpeg's "premature end of JPEG file") is an error, as in PIL. The data must
// outlive the decoder. Throws FormatError naming `name`: neither JPEG nor PNG, a corrupt or
// truncated file, or an image over `max_pixels` (at most kImageMaxPixels) or kImageMaxSide.
class ImageDecoder {
 public:
  ImageDecoder(const uint8_t* data, size_t size, const std::string& name,
               int64_t max_pixels = kImageMaxPixels);
  ~ImageDecoder();
  ImageDecoder(const ImageDecoder&) = delete;
  ImageDecoder& operator=(const ImageDecoder&) = delete;

  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  bool is_jpeg() const { return jpeg_ != nullptr; }

  // Decodes at least rows top .. top + rows - 1 and columns left .. left + columns - 1 of the
  // image scaled by 1/scale (1, 2, 4 or 8; JPEG only, else 1 is used; coordinates in the
  // scaled image, clipped to it) into `buffer` (grown as needed); `crop`: let libjpeg skip
  // the columns outside (jpeg_crop_scanline; the region then starts at an iMCU column, and its
  // columns outside those asked for may differ from a whole decode). The pixels asked for are
  // the same as decoding all of the image at that scale.
  // The whole file is still read to its end, so that a file is accepted or refused the same
  // whatever region is asked for. Once per decoder.
  ImageRegion decode(int scale, int64_t top, int64_t left, int64_t rows, int64_t columns,
                     std::vector<uint8_t>& buffer, bool crop = true);

 private:
  const uint8_t* data_;
  size_t size_;
  std::string name_;
  int64_t height_ = 0, width_ = 0;
  std::unique_ptr<JpegState> jpeg_;
  bool decoded_ = false;
};

// The whole image at full size: [height, width, 3] RGB.
struct RgbImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;
};
RgbImage image_decode(const uint8_t* data, size_t size, const std::string& name,
                      int64_t max_pixels = kImageMaxPixels);

}  // namespace popup

// JPEG through libjpeg-turbo's libjpeg API (scaled and cropped decoding), PNG through
// png_decode_memory. libjpeg reports errors by longjmp, so every libjpeg call that may fail runs
// in one of three small functions holding only plain C objects: the jump skips no destructor.
#include "data/image_decode.hpp"

#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>

#include "data/file_read.hpp"
#include "data/png_decode.hpp"
#include "error.hpp"

namespace popup {

struct JpegState {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool created = false;
  JpegState() {
    std::memset(&cinfo, 0, sizeof cinfo);
    message[0] = '\0';
  }
  ~JpegState() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

namespace {

constexpr int kRowsAtOnce = 16;  // scanlines asked of libjpeg per call

JpegState* state_of(j_common_ptr cinfo) {
  return reinterpret_cast<JpegState*>(reinterpret_cast<char*>(cinfo) - offsetof(JpegState, cinfo));
}

// libjpeg's error callback: keeps the message for the exception, then jumps back.
void jpeg_error_keep(j_common_ptr cinfo) {
  JpegState* state = state_of(cinfo);
  (*cinfo->err->format_message)(cinfo, state->message);
  std::longjmp(state->jump, 1);
}

// Warnings (level -1) and traces: ignored, as PIL ignores them, except the end of the data
// before the end of the image, which PIL refuses as "image file is truncated".
void jpeg_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_keep(cinfo);
}

// Creates the decompressor on `state` and reads the header. False on a libjpeg error.
bool jpeg_open(JpegState* state, const uint8_t* data, size_t size) {
  state->cinfo.err = jpeg_std_error(&state->manager);
  state->manager.error_exit = jpeg_error_keep;
  state->manager.emit_message = jpeg_message;
  if (setjmp(state->jump)) return false;
  state->created = true;
  jpeg_create_decompress(&state->cinfo);
  jpeg_mem_src(&state->cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&state->cinfo, TRUE);
  return true;
}

// Starts decompressing at 1/`scale` into grey, RGB or CMYK as PIL chooses by the number of
// components, and crops the columns to [*left, *left + *columns) when `crop` (libjpeg widens
// them to iMCU boundaries and says so in *left and *columns). False on a libjpeg error.
bool jpeg_begin(JpegState* state, int scale, int crop, JDIMENSION* left, JDIMENSION* columns) {
  if (setjmp(state->jump)) return false;
  jpeg_decompress_struct* cinfo = &state->cinfo;
  cinfo->scale_num = 1;
  cinfo->scale_denom = static_cast<unsigned int>(scale);
  switch (cinfo->num_components) {
    case 1: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case 4: cinfo->out_color_space = JCS_CMYK; break;
    default: cinfo->out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(cinfo);
  if (crop && (*left > 0 || *columns < cinfo->output_width)) {
    jpeg_crop_scanline(cinfo, left, columns);
  } else {
    *left = 0;
    *columns = cinfo->output_width;
  }
  return true;
}

// Pillow's MULDIV255: a * b / 255, rounded.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// One row of libjpeg's output (grey or CMYK) into RGB.
void row_to_rgb(const uint8_t* in, int components, JDIMENSION width, uint8_t* out) {
  if (components == 1) {
    for (JDIMENSION x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
    return;
  }
  // Adobe's CMYK is stored inverted (PIL's rawmode CMYK;I): c' = 255 - c, ..., then Pillow's
  // cmyk2rgb: n = 255 - k' = k, channel = n - c' * n / 255.
  for (JDIMENSION x = 0; x < width; ++x) {
    const uint8_t* p = in + 4 * x;
    const int n = p[3];
    for (int c = 0; c < 3; ++c) out[3 * x + c] = static_cast<uint8_t>(n - muldiv255(255 - p[c], n));
  }
}

// Skips `top` scanlines, reads `rows` into `out` (RGB rows `stride` bytes apart; `spare`: room
// for kRowsAtOnce rows of libjpeg's output), skips the rest and finishes, reading the file to
// its end. False on a libjpeg error.
bool jpeg_rows(JpegState* state, JDIMENSION top, JDIMENSION rows, uint8_t* out, size_t stride,
               uint8_t* spare) {
  if (setjmp(state->jump)) return false;
  jpeg_decompress_struct* cinfo = &state->cinfo;
  const int components = cinfo->out_color_components;
  const JDIMENSION width = cinfo->output_width;  // after cropping
  if (top > 0) jpeg_skip_scanlines(cinfo, top);
  JDIMENSION done = 0;
  while (done < rows) {
    JSAMPROW pointers[kRowsAtOnce];
    const JDIMENSION ask = std::min<JDIMENSION>(rows - done, kRowsAtOnce);
    for (JDIMENSION r = 0; r < ask; ++r)
      pointers[r] = components == 3 ? out + (done + r) * stride : spare + r * width * components;
    const JDIMENSION got = jpeg_read_scanlines(cinfo, pointers, ask);
    if (components != 3)
      for (JDIMENSION r = 0; r < got; ++r)
        row_to_rgb(pointers[r], components, width, out + (done + r) * stride);
    done += got;
  }
  // Skipping to the last row would not read the data (libjpeg marks the end as reached): skip
  // to the row before it and read it, so that the entropy-coded data is read to its end.
  if (cinfo->output_scanline < cinfo->output_height) {
    jpeg_skip_scanlines(cinfo, cinfo->output_height - 1 - cinfo->output_scanline);
    JSAMPROW last = spare;
    jpeg_read_scanlines(cinfo, &last, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

bool jpeg_signature(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

uint32_t big_endian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void size_check(const std::string& name, int64_t height, int64_t width, int64_t max_pixels) {
  const int64_t limit = std::min(max_pixels, kImageMaxPixels);
  if (height > kImageMaxSide || width > kImageMaxSide || height * width > limit)
    throw FormatError(name, "image is " + std::to_string(height) + "x" + std::to_string(width) +
                                " (height x width), over the limit of " +
                                std::to_string(kImageMaxSide) + " pixels a side and " +
                                std::to_string(limit) + " pixels");
}

}  // namespace

ImageDecoder::ImageDecoder(const uint8_t* data, size_t size, const std::string& name,
                           int64_t max_pixels)
    : data_(data), size_(size), name_(name) {
  if (jpeg_signature(data, size)) {
    jpeg_ = std::make_unique<JpegState>();
    if (!jpeg_open(jpeg_.get(), data, size))
      throw FormatError(name, std::string("bad JPEG: ") + jpeg_->message);
    height_ = jpeg_->cinfo.image_height;
    width_ = jpeg_->cinfo.image_width;
    const int components = jpeg_->cinfo.num_components;
    if (components != 1 && components != 3 && components != 4)
      throw FormatError(
          name, "bad JPEG: " + std::to_string(components) + " components (1, 3 or 4 are read)");
  } else if (png_signature(data, size)) {
    // IHDR: length, type, width, height (png_decode_memory checks it again).
    if (size < 8 + 16 || std::memcmp(data + 12, "IHDR", 4) != 0)
      throw FormatError(name, "bad PNG: no IHDR chunk after the signature");
    width_ = big_endian32(data + 16);
    height_ = big_endian32(data + 20);
  } else {
    throw FormatError(name, "neither a JPEG nor a PNG file (by its first bytes)");
  }
  size_check(name, height_, width_, max_pixels);
}

ImageDecoder::~ImageDecoder() = default;

ImageRegion ImageDecoder::decode(int scale, int64_t top, int64_t left, int64_t rows,
                                 int64_t columns, std::vector<uint8_t>& buffer, bool crop) {
  if (decoded_) throw InvalidArgument(name_, "ImageDecoder::decode called twice");
  decoded_ = true;
  ImageRegion region;
  if (!jpeg_) {
    const PngImage png = png_decode_memory(data_, size_, name_);
    const auto pixels = static_cast<size_t>(png.height * png.width);
    data_allocate(name_, pixels * 3, [&] { buffer.resize(pixels * 3); });
    for (size_t i = 0; i < pixels; ++i)
      for (int c = 0; c < 3; ++c) buffer[3 * i + c] = png.pixels[png.channels == 1 ? i : 3 * i + c];
    region.pixels = buffer.data();
    region.stride = png.width * 3;
    region.height = png.height;
    region.width = png.width;
    return region;
  }
  if (scale != 1 && scale != 2 && scale != 4 && scale != 8)
    throw InvalidArgument(name_, "decoding scale 1/" + std::to_string(scale) + ": 1, 2, 4 or 8");
  const int64_t scaled_height = (height_ + scale - 1) / scale;
  const int64_t scaled_width = (width_ + scale - 1) / scale;
  top = std::clamp<int64_t>(top, 0, scaled_height);
  left = std::clamp<int64_t>(left, 0, scaled_width - 1);
  rows = std::clamp<int64_t>(rows, 0, scaled_height - top);
  columns = std::clamp<int64_t>(columns, 1, std::max<int64_t>(1, scaled_width - left));
  // libjpeg upsamples the chroma of a cropped row's first and last columns from the crop's
  // edge, not from their neighbours: one more column each side keeps those asked for exact.
  const int64_t margin_left = std::max<int64_t>(left - 1, 0);
  const int64_t margin_right = std::min(left + columns + 1, scaled_width);
  auto crop_left = static_cast<JDIMENSION>(margin_left);
  auto crop_columns = static_cast<JDIMENSION>(margin_right - margin_left);
  if (!jpeg_begin(jpeg_.get(), scale, crop ? 1 : 0, &crop_left, &crop_columns))
    throw FormatError(name_, std::string("bad JPEG: ") + jpeg_->message);
  const int components = jpeg_->cinfo.out_color_components;
  const size_t stride = size_t{crop_columns} * 3;
  const size_t bytes = stride * static_cast<size_t>(rows);
  std::vector<uint8_t> spare;
  data_allocate(name_, bytes, [&] {
    if (buffer.size() < bytes) buffer.resize(bytes);
    spare.resize(size_t{crop_columns} * components * kRowsAtOnce);
  });
  if (!jpeg_rows(jpeg_.get(), static_cast<JDIMENSION>(top), static_cast<JDIMENSION>(rows),
                 buffer.data(), stride, spare.data()))
    throw FormatError(name_, std::string("bad JPEG: ") + jpeg_->message);
  region.pixels = buffer.data();
  region.stride = static_cast<int64_t>(stride);
  region.top = top;
  region.left = crop_left;
  region.height = rows;
  region.width = crop_columns;
  region.scale = scale;
  return region;
}

RgbImage image_decode(const uint8_t* data, size_t size, const std::string& name,
                      int64_t max_pixels) {
  ImageDecoder decoder(data, size, name, max_pixels);
  RgbImage image;
  const ImageRegion region =
      decoder.decode(1, 0, 0, decoder.height(), decoder.width(), image.pixels, false);
  image.height = region.height;
  image.width = region.width;
  image.pixels.resize(static_cast<size_t>(image.height * image.width * 3));
  return image;
}

}  // namespace popup

// libpng's classic interface behind a C++ function. libpng reports errors by longjmp, so the
// calls that may fail run in two small functions holding only plain C objects: the jump
// skips no destructor.
#include "data/png_decode.hpp"

#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "error.hpp"

namespace popup {

namespace {

constexpr size_t kMessageSize = 256;

// libpng's error callback: keeps the message for the exception, then jumps back.
void png_error_keep(png_structp png, png_const_charp message) {
  std::snprintf(static_cast<char*>(png_get_error_ptr(png)), kMessageSize, "%s", message);
  png_longjmp(png, 1);
}

void png_warning_ignore(png_structp, png_const_charp) {}

// Reads the header and sets up the conversions to 8-bit grey or RGB. False on a libpng error.
bool png_start(png_structp png, png_infop info, std::FILE* file, png_uint_32* height,
               png_uint_32* width, int* channels) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_set_sig_bytes(png, 8);
  png_read_info(png, info);
  png_set_expand(png);    // palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha
  png_set_scale_16(png);  // 16 -> 8 bits, rounded
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *height = png_get_image_height(png, info);
  *width = png_get_image_width(png, info);
  *channels = png_get_channels(png, info);
  return true;
}

// Reads the image into `rows` and the chunks after it. False on a libpng error.
bool png_finish(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

struct FileClose {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

struct PngReadState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReadState() { png_destroy_read_struct(&png, &info, nullptr); }
};

}  // namespace

PngImage png_decode(const std::string& path) {
  std::unique_ptr<std::FILE, FileClose> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw IoError(path, std::strerror(errno));
  png_byte signature[8];
  const size_t got = std::fread(signature, 1, sizeof signature, file.get());
  if (got != sizeof signature || png_sig_cmp(signature, 0, sizeof signature) != 0)
    throw FormatError(path, "not a PNG file");

  char message[kMessageSize] = "";
  PngReadState state;
  state.png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, message, png_error_keep, png_warning_ignore);
  if (state.png) state.info = png_create_info_struct(state.png);
  if (!state.info) throw IoError(path, "libpng: out of memory");

  png_uint_32 height = 0, width = 0;
  int channels = 0;
  if (!png_start(state.png, state.info, file.get(), &height, &width, &channels))
    throw FormatError(path, std::string("bad PNG: ") + message);
  PngImage image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels.resize(static_cast<size_t>(image.height * image.width * image.channels));
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y)
    rows[y] = image.pixels.data() + static_cast<size_t>(y) * width * channels;
  if (!png_finish(state.png, state.info, rows.data()))
    throw FormatError(path, std::string("bad PNG: ") + message);
  return image;
}

}  // namespace popup

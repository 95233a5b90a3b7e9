// 8-bit grey PNG encoding through libpng's classic interface. libpng reports errors by
// longjmp, so the calls that may fail run in one small function holding only plain C objects
// (as in data/png_decode.cpp): the jump skips no destructor.
#include "report/png_write.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <new>

#include "error.hpp"
#include "format/output_file.hpp"

namespace popup {
namespace {

constexpr size_t kMessageSize = 256;
constexpr int64_t kSideMax = 1 << 20;  // far below PNG's 2^31 - 1; larger is a caller's bug

struct WriteTarget {
  std::vector<uint8_t>* bytes;
  char* message;
};

void png_error_keep(png_structp png, png_const_charp message) {
  auto* target = static_cast<WriteTarget*>(png_get_error_ptr(png));
  std::snprintf(target->message, kMessageSize, "%s", message);
  png_longjmp(png, 1);
}

void png_warning_ignore(png_structp, png_const_charp) {}

// libpng's output callback: appends to the byte vector; an allocation failure becomes a
// libpng error (no C++ exception crosses libpng's C frames).
void png_append(png_structp png, png_bytep data, png_size_t n) {
  auto* target = static_cast<WriteTarget*>(png_get_io_ptr(png));
  bool ok = true;
  try {
    target->bytes->insert(target->bytes->end(), data, data + n);
  } catch (const std::bad_alloc&) {
    ok = false;
  }
  if (!ok) png_error(png, "out of memory");
}

void png_flush_none(png_structp) {}

// Writes the whole image. False on a libpng error.
bool png_encode_rows(png_structp png, png_infop info, WriteTarget* target, png_uint_32 width,
                     png_uint_32 height, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, target, png_append, png_flush_none);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

struct PngWriteState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriteState() { png_destroy_write_struct(&png, &info); }
};

}  // namespace

std::vector<uint8_t> png_encode_grey(const GreyImage& image, const std::string& path) {
  if (image.width <= 0 || image.height <= 0 || image.width > kSideMax || image.height > kSideMax ||
      image.pixels.size() != static_cast<size_t>(image.width * image.height))
    throw InvalidArgument(path, "cannot encode a " + std::to_string(image.width) + "x" +
                                    std::to_string(image.height) + " image of " +
                                    std::to_string(image.pixels.size()) + " pixels");
  std::vector<uint8_t> bytes;
  char message[kMessageSize] = "";
  WriteTarget target{&bytes, message};
  PngWriteState state;
  state.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &target, png_error_keep, png_warning_ignore);
  if (state.png) state.info = png_create_info_struct(state.png);
  if (!state.info) throw IoError(path, "libpng: out of memory");
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  for (size_t y = 0; y < rows.size(); ++y)
    rows[y] = const_cast<png_bytep>(image.pixels.data() + y * static_cast<size_t>(image.width));
  if (!png_encode_rows(state.png, state.info, &target, static_cast<png_uint_32>(image.width),
                       static_cast<png_uint_32>(image.height), rows.data()))
    throw FormatError(path, std::string("libpng: ") + message);
  return bytes;
}

void png_write_grey(const std::string& path, const GreyImage& image) {
  const std::vector<uint8_t> bytes = png_encode_grey(image, path);
  OutputFile out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

}  // namespace popup

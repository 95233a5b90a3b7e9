// libpng's classic interface behind a C++ function. The header (IHDR, the first chunk) is read
// and checked here before libpng starts, so that no buffer is sized by an unchecked claim.
// libpng reports errors by longjmp, so the calls that may fail run in two small functions
// holding only plain C objects: the jump skips no destructor.
#include "data/png_decode.hpp"

#include <png.h>
#include <unistd.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "data/file_open.hpp"
#include "data/file_read.hpp"
#include "error.hpp"

namespace popup {

namespace {

constexpr size_t kMessageSize = 256;
constexpr uint64_t kDeflateMaxRatio = 1032;  // deflate's largest output per input byte
constexpr png_uint_32 kChunkCacheMax = 128;  // ancillary chunks kept
constexpr png_alloc_size_t kChunkMallocMax = png_alloc_size_t{4} << 20;

// libpng's error callback: keeps the message for the exception, then jumps back.
void png_error_keep(png_structp png, png_const_charp message) {
  std::snprintf(static_cast<char*>(png_get_error_ptr(png)), kMessageSize, "%s", message);
  png_longjmp(png, 1);
}

void png_warning_ignore(png_structp, png_const_charp) {}

// Reads the header and sets up the conversions to 8-bit grey or RGB. False on a libpng error.
// The input is set up by the caller (png_init_io or png_set_read_fn), after the signature.
bool png_start(png_structp png, png_infop info, png_uint_32* height, png_uint_32* width,
               int* channels) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_user_limits(png, kPngMaxSide, kPngMaxSide);
  png_set_chunk_cache_max(png, kChunkCacheMax);
  png_set_chunk_malloc_max(png, kChunkMallocMax);
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

uint32_t big_endian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Samples per pixel as stored, by colour type (an invalid one is left to libpng).
uint64_t stored_channels(uint8_t color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;
  }
}

constexpr size_t kHeaderChunk = 8 + 13;  // length, type, then IHDR's width, height, depth, ...

// Checks the IHDR chunk after the signature (`chunk`, kHeaderChunk bytes, or null when the
// file is shorter) and the size it announces: within the limits, within what `file_size` bytes
// can hold, then `size_check`. A zero size or a malformed header is left to libpng.
void header_check(const uint8_t* chunk, const std::string& path, uint64_t file_size,
                  const PngSizeCheck& size_check) {
  if (!chunk || std::memcmp(chunk + 4, "IHDR", 4) != 0 || big_endian32(chunk) != 13)
    throw FormatError(path, "bad PNG: no IHDR chunk after the signature");
  const int64_t width = big_endian32(chunk + 8), height = big_endian32(chunk + 12);
  const std::string size = std::to_string(height) + "x" + std::to_string(width);
  if (height > kPngMaxSide || width > kPngMaxSide || height * width > kPngMaxPixels)
    throw FormatError(path, "image is " + size + " (height x width), over the limit of " +
                                std::to_string(kPngMaxSide) + " pixels a side and " +
                                std::to_string(kPngMaxPixels) + " pixels");
  // Each row: a filter byte and its samples (more with interlacing).
  const uint64_t bits = uint64_t{chunk[16]} * stored_channels(chunk[17]);
  const uint64_t stored = static_cast<uint64_t>(height) * (1 + (width * bits + 7) / 8);
  if (stored > kDeflateMaxRatio * file_size)
    throw FormatError(path, "image is " + size + " (height x width), " + std::to_string(stored) +
                                " bytes as stored, more than a file of " +
                                std::to_string(file_size) +
                                " bytes can hold (deflate packs at most 1032 bytes into one)");
  if (size_check && height > 0 && width > 0) size_check(path, height, width);
}

// libpng's read callback for a file held in memory: a read past the end is an error.
struct PngMemory {
  const uint8_t* data;
  size_t left;
};

void png_read_memory(png_structp png, png_bytep out, size_t n) {
  auto* memory = static_cast<PngMemory*>(png_get_io_ptr(png));
  if (n > memory->left) png_error(png, "file truncated");
  std::memcpy(out, memory->data, n);
  memory->data += n;
  memory->left -= n;
}

// Decodes with the input already set up on `state` (after the signature).
PngImage png_read_all(PngReadState& state, const std::string& path, char* message) {
  png_uint_32 height = 0, width = 0;
  int channels = 0;
  if (!png_start(state.png, state.info, &height, &width, &channels))
    throw FormatError(path, std::string("bad PNG: ") + message);
  PngImage image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  const uint64_t bytes = uint64_t{height} * width * static_cast<uint64_t>(channels);
  data_allocate(path, bytes, [&] { image.pixels.resize(static_cast<size_t>(bytes)); });
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y)
    rows[y] = image.pixels.data() + static_cast<size_t>(y) * width * channels;
  if (!png_finish(state.png, state.info, rows.data()))
    throw FormatError(path, std::string("bad PNG: ") + message);
  return image;
}

// The read state with libpng's error and warning callbacks, `message` receiving the error.
void png_state_create(PngReadState& state, const std::string& path, char* message) {
  state.png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, message, png_error_keep, png_warning_ignore);
  if (state.png) state.info = png_create_info_struct(state.png);
  if (!state.info) throw IoError(path, "libpng: out of memory");
}

}  // namespace

PngImage png_decode(const std::string& path, const PngSizeCheck& size_check) {
  uint64_t file_size = 0;
  const int fd = data_file_open(path, file_size);
  std::unique_ptr<std::FILE, FileClose> file(fdopen(fd, "rb"));
  if (!file) {
    const int error_number = errno;
    close(fd);
    throw IoError(path, std::strerror(error_number));
  }
  png_byte signature[8];
  const size_t got = std::fread(signature, 1, sizeof signature, file.get());
  if (got != sizeof signature || png_sig_cmp(signature, 0, sizeof signature) != 0)
    throw FormatError(path, "not a PNG file");
  uint8_t chunk[kHeaderChunk];
  const bool whole = std::fread(chunk, 1, sizeof chunk, file.get()) == sizeof chunk;
  header_check(whole ? chunk : nullptr, path, file_size, size_check);
  if (std::fseek(file.get(), 8, SEEK_SET) != 0) throw IoError(path, std::strerror(errno));

  char message[kMessageSize] = "";
  PngReadState state;
  png_state_create(state, path, message);
  png_init_io(state.png, file.get());
  return png_read_all(state, path, message);
}

bool png_signature(const uint8_t* data, size_t size) {
  return size >= 8 && png_sig_cmp(data, 0, 8) == 0;
}

PngImage png_decode_memory(const uint8_t* data, size_t size, const std::string& name,
                           const PngSizeCheck& size_check) {
  if (!png_signature(data, size)) throw FormatError(name, "not a PNG file");
  header_check(size >= 8 + kHeaderChunk ? data + 8 : nullptr, name, size, size_check);
  char message[kMessageSize] = "";
  PngReadState state;
  png_state_create(state, name, message);
  PngMemory memory{data + 8, size - 8};
  png_set_read_fn(state.png, &memory, png_read_memory);
  return png_read_all(state, name, message);
}

}  // namespace popup

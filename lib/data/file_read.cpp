// Whole-file reads through zlib's gz* interface, which passes plain files through unchanged.
#include "data/file_read.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "error.hpp"

namespace popup {

namespace {

struct GzClose {
  void operator()(gzFile file) const { gzclose(file); }
};

// The file's size, or for gzip data the decompressed size of its last member (ISIZE, the last
// 4 bytes, little-endian, modulo 2^32) within deflate's largest ratio. Only a hint for the buffer.
size_t size_hint(const std::string& path) {
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (error) return 0;
  std::ifstream in(path, std::ios::binary);
  unsigned char head[2] = {0, 0}, tail[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(head), 2);
  if (size < 18 || head[0] != 0x1f || head[1] != 0x8b) return static_cast<size_t>(size);
  in.seekg(-4, std::ios::end);
  in.read(reinterpret_cast<char*>(tail), 4);
  const uintmax_t isize = uint32_t{tail[0]} | (uint32_t{tail[1]} << 8) | (uint32_t{tail[2]} << 16) |
                          (uint32_t{tail[3]} << 24);
  return static_cast<size_t>(std::min<uintmax_t>(isize, 1032 * size));
}

}  // namespace

bool file_exists(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  return std::filesystem::exists(status) && !std::filesystem::is_directory(status);
}

std::vector<uint8_t> file_read_all(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) throw IoError(path, "no such file");
  if (std::filesystem::is_directory(status)) throw IoError(path, "is a directory, not a file");

  errno = 0;
  std::unique_ptr<gzFile_s, GzClose> file(gzopen(path.c_str(), "rb"));
  if (!file) throw IoError(path, errno ? std::strerror(errno) : "cannot open");
  gzbuffer(file.get(), 1 << 20);

  // One byte beyond the hint, so that reaching the end needs no second buffer.
  std::vector<uint8_t> bytes(size_hint(path) + 1);
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(2 * bytes.size());
    const size_t chunk = std::min<size_t>(bytes.size() - used, size_t{1} << 30);
    const int got = gzread(file.get(), bytes.data() + used, static_cast<unsigned>(chunk));
    if (got <= 0) break;
    used += static_cast<size_t>(got);
  }
  int status_code = Z_OK;
  const char* message = gzerror(file.get(), &status_code);
  if (status_code == Z_ERRNO) throw IoError(path, std::strerror(errno));
  if (status_code == Z_BUF_ERROR) throw FormatError(path, "truncated (the gzip data ends early)");
  if (status_code != Z_OK) throw FormatError(path, std::string("corrupt gzip data: ") + message);
  bytes.resize(used);
  return bytes;
}

}  // namespace popup

// DataFile: zlib's gz* interface over a descriptor from data_file_open; gz* passes plain files
// through unchanged.
#include "data/file_read.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "data/file_open.hpp"

namespace popup {

namespace {

// Gzip data: the first buffer holds kFirstRatio times the file's size (image data rarely packs
// tighter), at least kFirstStep; it is doubled while it fills. So a file costs at most a few
// times its size before its bytes prove a larger claim, and a common one needs no second buffer.
constexpr uint64_t kFirstStep = uint64_t{1} << 20;
constexpr uint64_t kFirstRatio = 8;
constexpr size_t kLargestRead = size_t{1} << 30;  // gzread takes an unsigned count

}  // namespace

DataFile::DataFile(const std::string& path) : path_(path) {
  const int fd = data_file_open(path, size_);
  errno = 0;
  file_ = gzdopen(fd, "rb");
  if (!file_) {
    close(fd);
    throw IoError(path, errno ? std::strerror(errno) : "cannot open");
  }
  gzbuffer(file_, 1 << 20);
}

DataFile::~DataFile() { gzclose(file_); }

size_t DataFile::read(void* data, size_t n) {
  size_t got = 0;
  while (got < n) {
    const size_t chunk = std::min(n - got, kLargestRead);
    const int r = gzread(file_, static_cast<uint8_t*>(data) + got, static_cast<unsigned>(chunk));
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  consumed_ += got;
  if (got == n) return got;
  int code = Z_OK;
  const char* message = gzerror(file_, &code);
  if (code == Z_ERRNO) throw IoError(path_, std::string("read error: ") + std::strerror(errno));
  if (code == Z_BUF_ERROR) throw FormatError(path_, "truncated (the gzip data ends early)");
  // zlib's message starts with the name it knows, "<fd:N>: ".
  std::string text = message;
  if (text.rfind("<fd:", 0) == 0 && text.find(": ") != std::string::npos)
    text.erase(0, text.find(": ") + 2);
  if (code != Z_OK) throw FormatError(path_, "corrupt gzip data: " + text);
  return got;
}

std::vector<uint8_t> DataFile::read_up_to(uint64_t limit) {
  uint64_t left = 0;
  // Plain data: what the file holds and one byte more, to see the end in the same read.
  uint64_t capacity = remaining(left) ? left + 1 : std::max(kFirstStep, kFirstRatio * size_);
  std::vector<uint8_t> bytes;
  size_t used = 0;
  for (;;) {
    capacity = std::min(capacity, limit);
    data_allocate(path_, capacity, [&] { bytes.resize(static_cast<size_t>(capacity)); });
    used += read(bytes.data() + used, bytes.size() - used);
    if (used < bytes.size() || capacity == limit) break;
    capacity = capacity > limit / 2 ? limit : 2 * capacity;
  }
  bytes.resize(used);
  return bytes;
}

bool DataFile::remaining(uint64_t& bytes) {
  if (!gzdirect(file_)) return false;
  bytes = consumed_ >= size_ ? 0 : size_ - consumed_;
  return true;
}

}  // namespace popup

// InputStream: buffered stdio underneath, errors as IoError with the path.
#include "format/input_stream.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "error.hpp"

namespace popup {
namespace {

constexpr size_t kBufferSize = 1 << 20;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

InputStream::InputStream(const std::string& path) : name_(path) {
  if (is_std_stream(path)) {
    file_ = stdin;
    return;
  }
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw IoError(path, "cannot open: " + errno_text());
  struct stat st;
  if (fstat(fileno(file_), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::fclose(file_);
    file_ = nullptr;
    throw IoError(path, "is a directory");
  }
  owned_ = true;
  std::setvbuf(file_, nullptr, _IOFBF, kBufferSize);
}

InputStream::~InputStream() {
  if (owned_ && file_) std::fclose(file_);
}

size_t InputStream::read(void* data, size_t n) {
  const size_t got = std::fread(data, 1, n, file_);
  if (got < n && std::ferror(file_)) throw IoError(name_, "read error: " + errno_text());
  return got;
}

bool InputStream::at_end() {
  const int c = std::fgetc(file_);
  if (c == EOF) {
    if (std::ferror(file_)) throw IoError(name_, "read error: " + errno_text());
    return true;
  }
  std::ungetc(c, file_);
  return false;
}

bool InputStream::remaining(uint64_t& bytes) {
  struct stat st;
  if (fstat(fileno(file_), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const long position = std::ftell(file_);
  if (position < 0) return false;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  bytes = static_cast<uint64_t>(position) >= size ? 0 : size - static_cast<uint64_t>(position);
  return true;
}

}  // namespace popup

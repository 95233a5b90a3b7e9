// Reading the data set readers' files, plain and gzip alike (zlib tells by the magic bytes, not
// the name), in steps bounded by what the caller expects: memory follows the bytes that are
// really there, never a size that a header or a gzip trailer claims.
#pragma once

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "error.hpp"

struct gzFile_s;

namespace popup {

// Runs `allocate`, which asks for `bytes` bytes for `path`: std::bad_alloc (and a size over
// a container's max_size, std::length_error) becomes an IoError naming the file and the size.
template <typename Allocate>
void data_allocate(const std::string& path, uint64_t bytes, Allocate&& allocate) {
  try {
    allocate();
  } catch (const std::bad_alloc&) {
    throw IoError(path, "out of memory: " + std::to_string(bytes) + " bytes requested");
  } catch (const std::length_error&) {
    throw IoError(path, "out of memory: " + std::to_string(bytes) + " bytes requested");
  }
}

// One data file open for reading: a regular file (data_file_open), decompressed when it holds
// gzip data.
class DataFile {
 public:
  explicit DataFile(const std::string& path);  // throws IoError (data_file_open)
  ~DataFile();
  DataFile(const DataFile&) = delete;
  DataFile& operator=(const DataFile&) = delete;

  // Up to n bytes (decompressed); fewer only at the end. Throws IoError on a read error,
  // FormatError for corrupt or truncated gzip data.
  size_t read(void* data, size_t n);
  // Up to `limit` bytes, fewer at the end, into a buffer that grows as bytes arrive (plain data:
  // sized once by what the file holds; gzip data: 8 times the file's size or 1 MiB, doubled while
  // it fills).
  std::vector<uint8_t> read_up_to(uint64_t limit);
  // Plain data: true, and `bytes` is what is left to read, to check a claimed size before
  // allocating. Gzip data: false (its size is known only by inflating it).
  bool remaining(uint64_t& bytes);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile_s* file_ = nullptr;
  uint64_t size_ = 0;      // on disk
  uint64_t consumed_ = 0;  // bytes returned by read()
};

}  // namespace popup

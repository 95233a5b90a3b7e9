// A byte stream read from a file or "-" (stdin), with errors as IoError naming the path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace popup {

class InputStream {
 public:
  explicit InputStream(const std::string& path);  // "-" reads stdin; throws IoError
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Read up to n bytes; returns fewer only at end of input. Throws IoError on a read error.
  size_t read(void* data, size_t n);
  // True when no byte is left (consumes nothing that read() would not return later).
  bool at_end();
  // For a regular file (stdin included when redirected from one): true, and `bytes` is what is
  // left to read, so that a reader can check a size claimed by the data against the bytes that
  // can back it before allocating. False for a pipe, FIFO or device (read in growing steps).
  bool remaining(uint64_t& bytes);
  const std::string& name() const { return name_; }  // the path as given ("-" for stdin)

 private:
  std::string name_;
  std::FILE* file_ = nullptr;
  bool owned_ = false;
};

// True when `path` names stdin/stdout.
inline bool is_std_stream(const std::string& path) { return path == "-"; }

}  // namespace popup

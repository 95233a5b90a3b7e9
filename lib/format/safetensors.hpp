// The safetensors container (formats/container.md): 8-byte little-endian header length,
// JSON header, raw little-endian row-major tensor data. The writer streams (header, then
// each tensor in order); the reader validates the whole header before any data is read, then
// streams tensors in file order, so pipes work and truncation is always detected.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "format/input_stream.hpp"
#include "format/output_file.hpp"

namespace popup {

enum class Dtype {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64
};

const char* dtype_name(Dtype dtype);
size_t dtype_size(Dtype dtype);
bool dtype_parse(const std::string& name, Dtype& dtype);  // false for an unknown name

using Metadata = std::map<std::string, std::string>;

// The value of `key`; throws FormatError "<file>: missing metadata key <key>" when absent.
const std::string& metadata_require(const Metadata& metadata, const std::string& key,
                                    const std::string& file);

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets in the data section
  uint64_t nbytes() const { return end - begin; }
  uint64_t numel() const;
};

// A tensor to write: the bytes at `data` are nbytes(dtype, shape) long.
struct TensorRef {
  std::string name;
  Dtype dtype;
  std::vector<int64_t> shape;
  const void* data;
};

// Largest header accepted, as in the reference implementation.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Write a whole container: header (metadata first, tensors in the given order with
// consecutive offsets, padded with spaces to a multiple of 8), then the data.
void safetensors_write(OutputFile& out, const Metadata& metadata,
                       const std::vector<TensorRef>& tensors);

// The header alone (the tensors' data pointers are not used); the caller then writes each
// tensor's bytes, in the given order.
void safetensors_write_header(OutputFile& out, const Metadata& metadata,
                              const std::vector<TensorRef>& tensors);

// CRC-32 of the data section that safetensors_write would produce for these tensors.
uint32_t safetensors_data_crc32(const std::vector<TensorRef>& tensors);

// Memory: nothing is sized by a claim of the file before the bytes that back it are known to
// be there. From a regular file the header length is checked against the bytes left before
// the header is read, and the data section the header describes against the bytes left after
// it; from a pipe the header and each tensor grow in steps as their bytes arrive. An
// allocation that fails anyway is an Error naming the file and the size requested.
class SafetensorsReader {
 public:
  // Reads and validates the header; throws FormatError naming the file and the problem.
  explicit SafetensorsReader(InputStream& in);

  const Metadata& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in file order
  uint64_t header_bytes() const { return header_bytes_; }

  // Read the next tensor's data (file order) into dst (tensors()[next].nbytes() bytes).
  void read_next(void* dst);
  // Read the next tensor's data into `out`, resized to its nbytes() / sizeof(T) elements
  // (T is float or uint8_t).
  template <typename T>
  void read_next_into(std::vector<T>& out);
  // Read the next tensor's data for the CRC only, through a buffer of at most 1 MiB.
  void skip_next();
  size_t next_index() const { return next_; }
  // CRC-32 of the data read so far.
  uint32_t data_crc32() const { return crc_; }
  // After the last tensor: throws FormatError if data follows it.
  void finish();

 private:
  std::string header_read(uint64_t n);
  void header_parse(const std::string& header);
  uint64_t bytes_left();  // of a regular file; 0 from a pipe
  size_t read_some(void* dst, size_t n);
  [[noreturn]] void truncated(uint64_t got) const;

  InputStream& in_;
  bool seekable_ = false;  // a regular file: remaining() knows the bytes left
  Metadata metadata_;
  std::vector<TensorInfo> tensors_;
  uint64_t header_bytes_ = 0;
  size_t next_ = 0;
  uint32_t crc_ = 0;
};

}  // namespace popup

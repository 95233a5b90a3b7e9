// Safetensors writer and validating streaming reader.
#include "format/safetensors.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>

#include "format/crc32.hpp"
#include "error.hpp"
#include "format/json.hpp"
#include "format/json_write.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "popup files are little-endian");

namespace popup {
namespace {

struct DtypeEntry {
  Dtype dtype;
  const char* name;
  size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {Dtype::BOOL, "BOOL", 1},       {Dtype::U8, "U8", 1},           {Dtype::I8, "I8", 1},
    {Dtype::F8_E5M2, "F8_E5M2", 1}, {Dtype::F8_E4M3, "F8_E4M3", 1}, {Dtype::I16, "I16", 2},
    {Dtype::U16, "U16", 2},         {Dtype::F16, "F16", 2},         {Dtype::BF16, "BF16", 2},
    {Dtype::I32, "I32", 4},         {Dtype::U32, "U32", 4},         {Dtype::F32, "F32", 4},
    {Dtype::F64, "F64", 8},         {Dtype::I64, "I64", 8},         {Dtype::U64, "U64", 8},
};

const DtypeEntry& dtype_entry(Dtype dtype) {
  for (const auto& e : kDtypes)
    if (e.dtype == dtype) return e;
  return kDtypes[0];
}

// numel * dtype size, or false on overflow past 2^62.
bool byte_size(Dtype dtype, const std::vector<int64_t>& shape, uint64_t& bytes) {
  unsigned __int128 n = dtype_size(dtype);
  for (const int64_t d : shape) {
    n *= static_cast<uint64_t>(d);
    if (n > (uint64_t{1} << 62)) return false;
  }
  bytes = static_cast<uint64_t>(n);
  return true;
}

std::string header_json(const Metadata& metadata, const std::vector<TensorRef>& tensors) {
  JsonWriter w;
  w.object_begin();
  if (!metadata.empty()) {
    w.key("__metadata__").object_begin();
    for (const auto& [key, value] : metadata) {
      if (!utf8_valid(key) || !utf8_valid(value))
        throw InvalidArgument(key, "metadata is not valid UTF-8");
      w.key(key).string(value);
    }
    w.object_end();
  }
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t bytes;
    if (!byte_size(t.dtype, t.shape, bytes)) throw InvalidArgument(t.name, "tensor too large");
    w.key(t.name).object_begin().key("dtype").string(dtype_name(t.dtype));
    w.key("shape").array_begin();
    for (const int64_t d : t.shape) w.integer(d);
    w.array_end().key("data_offsets").array_begin();
    w.unsigned_integer(offset).unsigned_integer(offset + bytes).array_end().object_end();
    offset += bytes;
  }
  std::string h = w.object_end().text();
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

uint64_t tensor_bytes(const TensorRef& t) {
  uint64_t bytes = 0;
  byte_size(t.dtype, t.shape, bytes);
  return bytes;
}

// Most items of any array in a header: a tensor's dimensions (popup's have at most 4).
constexpr uint32_t kMaxDims = 16;
// Bytes read at a time when data is read for its CRC only, or from a pipe (the first step).
constexpr size_t kStepBytes = size_t{1} << 20;

// Up to n bytes of `in` into `buffer` (a std::string or std::vector, n a multiple of its
// element's size): sized at once when `at_once` (a regular file whose size was checked), else
// grown in steps as the bytes arrive, so that a false claim costs no more memory than the
// bytes that came. Returns the bytes read, fewer than n only at the end of the input.
template <typename Buffer>
uint64_t read_growing(InputStream& in, Buffer& buffer, uint64_t n, bool at_once) {
  using Element = typename Buffer::value_type;
  uint64_t have = 0;
  while (have < n) {
    const uint64_t step =
        at_once ? n : std::min<uint64_t>(n - have, std::max<uint64_t>(have, kStepBytes));
    buffer.resize(static_cast<size_t>((have + step) / sizeof(Element)));
    const size_t got = in.read(reinterpret_cast<char*>(buffer.data()) + have, step);
    have += got;
    if (got < step) break;
  }
  return have;
}

// "5.0 GB" for error messages.
std::string bytes_text(uint64_t n) {
  char buf[32];
  if (n < 1000 * 1000)
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", n >= 1e9 ? n / 1e9 : n / 1e6, n >= 1e9 ? "GB" : "MB");
  return buf;
}

// A tensor name as quoted in errors.
std::string tensor_text(const std::string& name) { return "tensor \"" + text_excerpt(name) + "\""; }

// Fill `t` from one header entry; throws FormatError.
void parse_tensor_entry(const std::string& file, const std::string& name, const JsonView& v,
                        TensorInfo& t) {
  const auto bad = [&](const std::string& what) {
    throw FormatError(file, tensor_text(name) + ": " + what);
  };
  if (v.type() != JsonType::object) bad("entry is not an object");
  std::optional<JsonView> dtype, shape, offsets;
  v.for_each_member([&](const std::string& key, const JsonView& value) {
    if (key == "dtype")
      dtype = value;
    else if (key == "shape")
      shape = value;
    else if (key == "data_offsets")
      offsets = value;
    else
      bad("unknown field \"" + text_excerpt(key) + "\"");
  });
  if (!dtype || !shape || !offsets) bad("needs dtype, shape and data_offsets");
  t.name = name;
  if (dtype->type() != JsonType::string || !dtype_parse(dtype->text(), t.dtype))
    bad("unknown dtype " +
        (dtype->type() == JsonType::string ? text_excerpt(dtype->text()) : "value"));
  if (shape->type() != JsonType::array) bad("shape is not an array");
  try {
    shape->for_each_item(
        [&](const JsonView& d) { t.shape.push_back(static_cast<int64_t>(d.as_uint())); });
    if (offsets->type() != JsonType::array || offsets->size() != 2)
      bad("data_offsets is not a pair");
    std::vector<uint64_t> pair;
    offsets->for_each_item([&](const JsonView& o) { pair.push_back(o.as_uint()); });
    t.begin = pair[0];
    t.end = pair[1];
  } catch (const JsonError& e) {
    bad(e.what());
  }
  uint64_t bytes;
  if (!byte_size(t.dtype, t.shape, bytes)) bad("shape too large");
  if (t.end < t.begin) bad("data_offsets end before begin");
  if (t.end - t.begin != bytes)
    bad("data_offsets span " + std::to_string(t.end - t.begin) +
        " bytes but dtype and shape need " + std::to_string(bytes));
}

}  // namespace

const char* dtype_name(Dtype dtype) { return dtype_entry(dtype).name; }
size_t dtype_size(Dtype dtype) { return dtype_entry(dtype).size; }

bool dtype_parse(const std::string& name, Dtype& dtype) {
  for (const auto& e : kDtypes)
    if (name == e.name) {
      dtype = e.dtype;
      return true;
    }
  return false;
}

const std::string& metadata_require(const Metadata& metadata, const std::string& key,
                                    const std::string& file) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) throw FormatError(file, "missing metadata key " + key);
  return it->second;
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (const int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

uint32_t safetensors_data_crc32(const std::vector<TensorRef>& tensors) {
  uint32_t crc = 0;
  for (const auto& t : tensors) crc = crc32_update(crc, t.data, tensor_bytes(t));
  return crc;
}

void safetensors_write_header(OutputFile& out, const Metadata& metadata,
                              const std::vector<TensorRef>& tensors) {
  const std::string header = header_json(metadata, tensors);
  unsigned char length[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(length, 8);
  out.write(header.data(), header.size());
}

void safetensors_write(OutputFile& out, const Metadata& metadata,
                       const std::vector<TensorRef>& tensors) {
  safetensors_write_header(out, metadata, tensors);
  for (const auto& t : tensors) out.write(t.data, tensor_bytes(t));
}

// The n-byte header: from a regular file after checking that n bytes are there; from a pipe
// in growing steps, so that a false length costs no more memory than the bytes that came.
std::string SafetensorsReader::header_read(uint64_t n) {
  const std::string& file = in_.name();
  const uint64_t left = bytes_left();
  if (seekable_ && n > left)
    throw FormatError(file, "truncated: the header length says " + std::to_string(n) +
                                " bytes, the file holds " + std::to_string(left) + " after it");
  std::string header;
  uint64_t got = 0;
  try {
    got = read_growing(in_, header, n, seekable_);
  } catch (const std::bad_alloc&) {
    throw Error(file, "cannot allocate " + bytes_text(n) + " for the header");
  }
  if (got < n) throw FormatError(file, "truncated: the header is cut short");
  return header;
}

uint64_t SafetensorsReader::bytes_left() {
  uint64_t left = 0;
  return in_.remaining(left) ? left : 0;
}

SafetensorsReader::SafetensorsReader(InputStream& in) : in_(in) {
  const std::string& file = in.name();
  uint64_t left = 0;
  seekable_ = in.remaining(left);
  unsigned char length[8];
  const size_t got = in.read(length, 8);
  if (got == 0) throw FormatError(file, "empty file (not a safetensors file)");
  if (got < 8) throw FormatError(file, "truncated: the 8-byte header length is incomplete");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | length[i];
  if (n > kMaxHeaderBytes)
    throw FormatError(
        file, "header length " + std::to_string(n) + " is too large (not a safetensors file?)");
  const std::string header = header_read(n);
  header_bytes_ = 8 + n;
  if (n == 0 || header[0] != '{') throw FormatError(file, "header is not a JSON object");
  try {
    header_parse(header);
  } catch (const std::bad_alloc&) {
    throw Error(file, "cannot allocate the memory to read the " + bytes_text(n) + " header");
  }
  std::stable_sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const auto& t : tensors_) {
    if (t.begin > expected)
      throw FormatError(file, "gap in the data before " + tensor_text(t.name) + " (bytes " +
                                  std::to_string(expected) + " to " + std::to_string(t.begin) +
                                  " unused)");
    if (t.begin < expected)
      throw FormatError(file, tensor_text(t.name) + " overlaps the tensor before it");
    expected = t.end;
  }
  left = bytes_left();
  if (seekable_ && expected > left)
    throw FormatError(file, "truncated: the header describes " + std::to_string(expected) +
                                " bytes of tensor data, the file holds " + std::to_string(left));
}

void SafetensorsReader::header_parse(const std::string& header) {
  const std::string& file = in_.name();
  std::optional<JsonDocument> doc;
  try {
    doc.emplace(header, kMaxDims);
  } catch (const JsonError& e) {
    throw FormatError(file, std::string("header: ") + e.what());
  }
  doc->root().for_each_member([&](const std::string& key, const JsonView& value) {
    if (key == "__metadata__") {
      if (value.type() != JsonType::object)
        throw FormatError(file, "__metadata__ is not an object");
      value.for_each_member([&](const std::string& mkey, const JsonView& mvalue) {
        if (mvalue.type() != JsonType::string)
          throw FormatError(file, "metadata \"" + text_excerpt(mkey) + "\" is not a string");
        metadata_[mkey] = mvalue.text();
      });
      return;
    }
    TensorInfo t;
    parse_tensor_entry(file, key, value, t);
    tensors_.push_back(std::move(t));
  });
}

// The next tensor's bytes into `dst`, `n` at most; returns what was read. Allocates nothing.
size_t SafetensorsReader::read_some(void* dst, size_t n) {
  const size_t got = in_.read(dst, n);
  crc_ = crc32_update(crc_, dst, got);
  return got;
}

void SafetensorsReader::truncated(uint64_t got) const {
  const TensorInfo& t = tensors_.at(next_);
  throw FormatError(in_.name(), "truncated: " + tensor_text(t.name) + " has " +
                                    std::to_string(got) + " of its " + std::to_string(t.nbytes()) +
                                    " bytes");
}

void SafetensorsReader::read_next(void* dst) {
  const uint64_t n = tensors_.at(next_).nbytes();
  const uint64_t got = read_some(dst, n);
  if (got != n) truncated(got);
  ++next_;
}

template <typename T>
void SafetensorsReader::read_next_into(std::vector<T>& out) {
  const TensorInfo& t = tensors_.at(next_);
  const uint64_t n = t.nbytes();
  out.clear();
  uint64_t got = 0;
  try {
    // A regular file holds every byte of the data section (checked after the header), so the
    // tensor is sized at once; from a pipe it grows as its bytes arrive.
    got = read_growing(in_, out, n, seekable_);
  } catch (const std::bad_alloc&) {
    throw Error(in_.name(), "cannot allocate " + bytes_text(n) + " for " + tensor_text(t.name));
  }
  crc_ = crc32_update(crc_, out.data(), got);
  if (got < n) truncated(got);
  ++next_;
}

template void SafetensorsReader::read_next_into(std::vector<float>&);
template void SafetensorsReader::read_next_into(std::vector<uint8_t>&);

void SafetensorsReader::skip_next() {
  const uint64_t n = tensors_.at(next_).nbytes();
  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(n, kStepBytes)));
  for (uint64_t have = 0; have < n;) {
    const size_t step = static_cast<size_t>(std::min<uint64_t>(n - have, buffer.size()));
    const size_t got = read_some(buffer.data(), step);
    have += got;
    if (got < step) truncated(have);
  }
  ++next_;
}

void SafetensorsReader::finish() {
  if (next_ != tensors_.size())
    throw FormatError(in_.name(), "internal: finish() before the last tensor was read");
  if (!in_.at_end()) throw FormatError(in_.name(), "unexpected data after the last tensor");
}

}  // namespace popup

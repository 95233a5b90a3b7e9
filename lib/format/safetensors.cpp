// Safetensors writer and validating streaming reader.
#include "format/safetensors.hpp"

#include <algorithm>
#include <cstring>

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

// Fill `t` from one header entry; throws FormatError.
void parse_tensor_entry(const std::string& file, const std::string& name, const JsonValue& v,
                        TensorInfo& t) {
  const auto bad = [&](const std::string& what) {
    throw FormatError(file, "tensor \"" + name + "\": " + what);
  };
  if (v.type != JsonValue::Type::object) bad("entry is not an object");
  const JsonValue* dtype = nullptr;
  const JsonValue* shape = nullptr;
  const JsonValue* offsets = nullptr;
  for (const auto& [key, value] : v.members) {
    if (key == "dtype")
      dtype = &value;
    else if (key == "shape")
      shape = &value;
    else if (key == "data_offsets")
      offsets = &value;
    else
      bad("unknown field \"" + key + "\"");
  }
  if (!dtype || !shape || !offsets) bad("needs dtype, shape and data_offsets");
  t.name = name;
  if (dtype->type != JsonValue::Type::string || !dtype_parse(dtype->text, t.dtype))
    bad("unknown dtype " + (dtype->type == JsonValue::Type::string ? dtype->text : "value"));
  if (shape->type != JsonValue::Type::array) bad("shape is not an array");
  try {
    for (const auto& d : shape->items) t.shape.push_back(static_cast<int64_t>(d.as_uint()));
    if (offsets->type != JsonValue::Type::array || offsets->items.size() != 2)
      bad("data_offsets is not a pair");
    t.begin = offsets->items[0].as_uint();
    t.end = offsets->items[1].as_uint();
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

SafetensorsReader::SafetensorsReader(InputStream& in) : in_(in) {
  const std::string& file = in.name();
  unsigned char length[8];
  const size_t got = in.read(length, 8);
  if (got == 0) throw FormatError(file, "empty file (not a safetensors file)");
  if (got < 8) throw FormatError(file, "truncated: the 8-byte header length is incomplete");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | length[i];
  if (n > kMaxHeaderBytes)
    throw FormatError(
        file, "header length " + std::to_string(n) + " is too large (not a safetensors file?)");
  std::string header(n, '\0');
  if (in.read(header.data(), n) != n) throw FormatError(file, "truncated: the header is cut short");
  header_bytes_ = 8 + n;
  if (n == 0 || header[0] != '{') throw FormatError(file, "header is not a JSON object");
  JsonValue root;
  try {
    root = json_parse(header);
  } catch (const JsonError& e) {
    throw FormatError(file, std::string("header: ") + e.what());
  }
  for (const auto& [key, value] : root.members) {
    if (key == "__metadata__") {
      if (value.type != JsonValue::Type::object)
        throw FormatError(file, "__metadata__ is not an object");
      for (const auto& [mkey, mvalue] : value.members) {
        if (mvalue.type != JsonValue::Type::string)
          throw FormatError(file, "metadata \"" + mkey + "\" is not a string");
        metadata_[mkey] = mvalue.text;
      }
      continue;
    }
    TensorInfo t;
    parse_tensor_entry(file, key, value, t);
    tensors_.push_back(std::move(t));
  }
  std::stable_sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const auto& t : tensors_) {
    if (t.begin > expected)
      throw FormatError(file, "gap in the data before tensor \"" + t.name + "\" (bytes " +
                                  std::to_string(expected) + " to " + std::to_string(t.begin) +
                                  " unused)");
    if (t.begin < expected)
      throw FormatError(file, "tensor \"" + t.name + "\" overlaps the tensor before it");
    expected = t.end;
  }
}

void SafetensorsReader::read_next(void* dst) {
  const TensorInfo& t = tensors_.at(next_);
  const uint64_t n = t.nbytes();
  const uint64_t got = in_.read(dst, n);
  if (got != n)
    throw FormatError(in_.name(), "truncated: tensor \"" + t.name + "\" has " +
                                      std::to_string(got) + " of its " + std::to_string(n) +
                                      " bytes");
  crc_ = crc32_update(crc_, dst, n);
  ++next_;
}

void SafetensorsReader::finish() {
  if (next_ != tensors_.size())
    throw FormatError(in_.name(), "internal: finish() before the last tensor was read");
  if (!in_.at_end()) throw FormatError(in_.name(), "unexpected data after the last tensor");
}

}  // namespace popup

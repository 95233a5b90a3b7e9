// Reading and writing popup files: the common metadata (kind, version, CRC, recipe) and the
// tensor layout each kind must have.
#include "format/popup_file.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "error.hpp"
#include "format/crc32.hpp"
#include "format/json.hpp"
#include "format/mask.hpp"
#include "format/output_file.hpp"
#include "format/state_tensors.hpp"

namespace popup {
namespace {

constexpr FileKind kKinds[] = {FileKind::recipe, FileKind::weights, FileKind::scores,
                               FileKind::mask, FileKind::checkpoint};

std::string crc_text(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

FileKind kind_parse(const Metadata& m, const std::string& file) {
  if (!m.count("popup.kind"))
    throw FormatError(file, "not a popup file (no popup.kind in its metadata)");
  const std::string& name = m.at("popup.kind");
  for (const FileKind k : kKinds)
    if (name == kind_name(k)) return k;
  throw FormatError(file, "unknown kind '" + text_excerpt(name) +
                              "' (this popup reads recipe, weights, "
                              "scores, mask and checkpoint files)");
}

int version_parse(const Metadata& m, FileKind kind, const std::string& file) {
  const std::string& text = metadata_require(m, "popup.version", file);
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos)
    throw FormatError(file, "popup.version is not a number: '" + text_excerpt(text) + "'");
  const int version = std::stoi(text);
  if (version < 1) throw FormatError(file, "popup.version " + text + " is not valid");
  if (version > format_version_max(kind))
    throw VersionError(file, std::string(kind_name(kind)) + " format version " + text +
                                 " is newer than this popup reads (up to " +
                                 std::to_string(format_version_max(kind)) + "): upgrade popup");
  return version;
}

uint32_t crc_parse(const Metadata& m, const std::string& file) {
  const std::string& text = metadata_require(m, "popup.crc32", file);
  if (text.size() != 8 || text.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw FormatError(file,
                      "popup.crc32 is not 8 lowercase hex digits: '" + text_excerpt(text) + "'");
  return static_cast<uint32_t>(std::stoul(text, nullptr, 16));
}

// Weights and scores: the recipe's tensors, F32, in network order; weights may go on with
// state tensors (trained dense ResNets: BatchNorm statistics, gamma and beta).
void check_float_layout(const PopupFile& f, const std::vector<TensorInfo>& tensors) {
  const std::vector<TensorSpec> specs = recipe_tensors(f.recipe);
  const bool state = f.kind == FileKind::weights && tensors.size() > specs.size();
  if (tensors.size() != specs.size() && !state)
    throw FormatError(f.path, std::to_string(tensors.size()) + " tensors, but the recipe's " +
                                  f.recipe.arch + " has " + std::to_string(specs.size()));
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = tensors[i];
    if (t.name != specs[i].name)
      throw FormatError(f.path, "tensor " + std::to_string(i) + " is \"" + text_excerpt(t.name) +
                                    "\", expected \"" + specs[i].name + "\"");
    if (t.dtype != Dtype::F32)
      throw FormatError(f.path,
                        "tensor \"" + t.name + "\" is " + dtype_name(t.dtype) + ", expected F32");
    if (t.shape != specs[i].shape)
      throw MismatchError(f.path, "tensor \"" + t.name + "\" has shape " + shape_text(t.shape) +
                                      ", the recipe gives " + shape_text(specs[i].shape));
  }
  if (state) state_check(f, tensors, specs.size(), "the weights");
}

void check_layout(const PopupFile& f, const std::vector<TensorInfo>& tensors) {
  switch (f.kind) {
    case FileKind::recipe:
      if (!tensors.empty()) throw FormatError(f.path, "a recipe file holds no tensors");
      break;
    case FileKind::weights:
    case FileKind::scores: check_float_layout(f, tensors); break;
    case FileKind::mask: mask_check_header(f, tensors); break;
    case FileKind::checkpoint:  // its tensors are checked by the trainer that resumes from it
      for (const TensorInfo& t : tensors) {
        // version 2: IteRand's redraw counts, U16
        const bool counts = f.version >= 2 && t.name.rfind("redraws.", 0) == 0;
        if (t.dtype != (counts ? Dtype::U16 : Dtype::F32))
          throw FormatError(f.path, "checkpoint tensor \"" + text_excerpt(t.name) + "\" is not " +
                                        (counts ? "U16" : "F32"));
      }
      break;
  }
}

PopupFile read_file(const std::string& path, std::optional<FileKind> expected, bool keep_data) {
  InputStream in(path);
  SafetensorsReader reader(in);
  PopupFile f;
  f.path = path;
  f.metadata = reader.metadata();
  f.kind = kind_parse(f.metadata, path);
  if (expected && f.kind != *expected)
    throw FormatError(path, std::string("is a ") + kind_name(f.kind) + " file, expected a " +
                                kind_name(*expected) + " file");
  f.version = version_parse(f.metadata, f.kind, path);
  const uint32_t crc = crc_parse(f.metadata, path);
  f.recipe = recipe_from_metadata(f.metadata, path);
  check_layout(f, reader.tensors());

  const bool keep = keep_data || f.kind == FileKind::mask;
  for (const TensorInfo& info : reader.tensors()) {
    if (!keep) {
      reader.skip_next();
      continue;
    }
    Tensor t;
    t.info = info;
    if (info.dtype == Dtype::F32)
      reader.read_next_into(t.f32);
    else
      reader.read_next_into(t.u8);
    f.tensors.push_back(std::move(t));
  }
  reader.finish();
  if (reader.data_crc32() != crc)
    throw FormatError(path, "CRC mismatch: the data's CRC-32 is " + crc_text(reader.data_crc32()) +
                                ", the header says " + crc_text(crc) + " (file corrupt)");
  if (f.kind == FileKind::mask) mask_check_data(f);
  return f;
}

}  // namespace

int format_version_max(FileKind kind) {
  return kind == FileKind::mask || kind == FileKind::checkpoint ? 2 : 1;
}

const char* kind_name(FileKind kind) {
  switch (kind) {
    case FileKind::recipe: return "recipe";
    case FileKind::weights: return "weights";
    case FileKind::scores: return "scores";
    case FileKind::mask: return "mask";
    case FileKind::checkpoint: return "checkpoint";
  }
  return "?";
}

PopupFile popup_file_read(const std::string& path, bool keep_data) {
  return read_file(path, std::nullopt, keep_data);
}

PopupFile popup_file_read(const std::string& path, FileKind expected, bool keep_data) {
  return read_file(path, expected, keep_data);
}

static Metadata file_metadata(FileKind kind, const Recipe& recipe, const Metadata& extra,
                              uint32_t data_crc) {
  Metadata m = recipe_to_metadata(recipe);
  for (const auto& [key, value] : extra) m[key] = value;
  m["popup.kind"] = kind_name(kind);
  // Version 2 of masks and checkpoints adds IteRand's redraw record (popup.redraw); files
  // without one stay version 1, byte for byte as before.
  m["popup.version"] = extra.count("popup.redraw") ? "2" : "1";
  m["popup.crc32"] = crc_text(data_crc);
  return m;
}

void popup_file_write(OutputFile& out, FileKind kind, const Recipe& recipe, const Metadata& extra,
                      const std::vector<TensorRef>& tensors) {
  safetensors_write(out, file_metadata(kind, recipe, extra, safetensors_data_crc32(tensors)),
                    tensors);
  out.commit();
}

void popup_file_write(const std::string& path, FileKind kind, const Recipe& recipe,
                      const Metadata& extra, const std::vector<TensorRef>& tensors) {
  OutputFile out(path);
  popup_file_write(out, kind, recipe, extra, tensors);
}

namespace {

std::vector<TensorRef> float_refs(const Recipe& recipe,
                                  const std::vector<std::vector<float>>& tensors) {
  const std::vector<TensorSpec> specs = recipe_tensors(recipe);
  if (tensors.size() != specs.size())
    throw InvalidArgument("", "internal: tensor count does not match the recipe");
  std::vector<TensorRef> refs;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (tensors[i].size() != static_cast<size_t>(specs[i].numel()))
      throw InvalidArgument(specs[i].name, "internal: size does not match the recipe");
    refs.push_back({specs[i].name, Dtype::F32, specs[i].shape, tensors[i].data()});
  }
  return refs;
}

}  // namespace

void recipe_write(OutputFile& out, const Recipe& recipe) {
  popup_file_write(out, FileKind::recipe, recipe, {}, {});
}

void recipe_write(const std::string& path, const Recipe& recipe) {
  OutputFile out(path);
  recipe_write(out, recipe);
}

void weights_write(OutputFile& out, const Recipe& recipe,
                   const std::vector<std::vector<float>>& tensors) {
  popup_file_write(out, FileKind::weights, recipe, {}, float_refs(recipe, tensors));
}

void weights_write(const std::string& path, const Recipe& recipe,
                   const std::vector<std::vector<float>>& tensors) {
  OutputFile out(path);
  weights_write(out, recipe, tensors);
}

void scores_write(OutputFile& out, const Recipe& recipe,
                  const std::vector<std::vector<float>>& scores, const Metadata& extra) {
  popup_file_write(out, FileKind::scores, recipe, extra, float_refs(recipe, scores));
}

void scores_write(const std::string& path, const Recipe& recipe,
                  const std::vector<std::vector<float>>& scores, const Metadata& extra) {
  OutputFile out(path);
  scores_write(out, recipe, scores, extra);
}

void weights_write_generated(OutputFile& out, const Recipe& recipe) {
  const std::vector<TensorSpec> specs = recipe_tensors(recipe);
  int64_t largest = 0;
  for (const TensorSpec& s : specs) largest = std::max(largest, s.numel());
  // Not zero-initialised: each pass writes every element before reading it.
  const std::unique_ptr<float[]> buffer(new float[static_cast<size_t>(largest)]);
  const auto generate = [&](size_t i) {
    weights_generate(recipe.init, recipe.scale_k, recipe.seed, static_cast<uint32_t>(i), specs[i],
                     buffer.get());
    return static_cast<size_t>(specs[i].numel()) * sizeof(float);
  };
  uint32_t crc = 0;
  std::vector<TensorRef> refs;
  for (size_t i = 0; i < specs.size(); ++i) {
    crc = crc32_update(crc, buffer.get(), generate(i));
    refs.push_back({specs[i].name, Dtype::F32, specs[i].shape, nullptr});
  }
  safetensors_write_header(out, file_metadata(FileKind::weights, recipe, {}, crc), refs);
  for (size_t i = 0; i < specs.size(); ++i) out.write(buffer.get(), generate(i));
  out.commit();
}

std::vector<std::vector<float>> weights_of(const PopupFile& file) {
  std::vector<std::vector<float>> generated = recipe_generate(file.recipe);
  if (file.kind != FileKind::weights) return generated;
  for (size_t t = 0; t < generated.size(); ++t)
    if (file.tensors.at(t).f32 != generated[t])
      throw MismatchError(file.path, "tensor \"" + file.tensors[t].info.name +
                                         "\" differs from what the recipe generates (results "
                                         "record only the recipe; give the recipe instead)");
  return generated;
}

std::vector<std::vector<float>> weights_from_file(PopupFile&& file) {
  std::vector<std::vector<float>> out;
  const size_t layers = recipe_tensors(file.recipe).size();
  for (size_t t = 0; t < layers && t < file.tensors.size(); ++t)
    out.push_back(std::move(file.tensors[t].f32));
  return out;
}

}  // namespace popup

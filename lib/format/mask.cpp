// Mask packing, the mask file's metadata (popup.k, popup.mask.<tensor>.k / .kept) and its
// validation.
#include "format/mask.hpp"

#include <cstring>

#include "error.hpp"
#include "format/json.hpp"
#include "format/state_tensors.hpp"

namespace popup {
namespace {

std::string key_k(const std::string& name) { return "popup.mask." + name + ".k"; }
std::string key_kept(const std::string& name) { return "popup.mask." + name + ".kept"; }

double meta_k(const PopupFile& f, const std::string& key) {
  const std::string& text = metadata_require(f.metadata, key, f.path);
  double v = 0;
  if (!double_parse(text, v) || !(v > 0 && v <= 1))
    throw FormatError(f.path, key + ": not a fraction in (0, 1]: '" + text_excerpt(text) + "'");
  return v;
}

int64_t meta_count(const PopupFile& f, const std::string& key) {
  const std::string& text = metadata_require(f.metadata, key, f.path);
  uint64_t v = 0;
  if (!uint_parse(text, v) || v > (uint64_t{1} << 62))
    throw FormatError(f.path, key + ": not a count: '" + text_excerpt(text) + "'");
  return static_cast<int64_t>(v);
}

std::string redraw_index_name(const std::string& name) { return "redraw." + name + ".index"; }
std::string redraw_count_name(const std::string& name) { return "redraw." + name + ".count"; }

// A version 2 mask's redraw tensors: for each layer that has some, in network order, the
// layer's number and the position of its index tensor (its count tensor follows).
struct RedrawTensors {
  std::vector<size_t> layer, position;
  size_t end = 0;  // the first tensor after them
};

RedrawTensors redraw_tensors_check(const PopupFile& f, const std::vector<TensorInfo>& tensors,
                                   const std::vector<TensorSpec>& specs) {
  RedrawTensors r;
  size_t i = specs.size(), next_layer = 0;
  const auto prefixed = [&](size_t at) {
    return at < tensors.size() && tensors[at].name.rfind("redraw.", 0) == 0;
  };
  while (prefixed(i)) {
    const TensorInfo& index = tensors[i];
    size_t l = next_layer;
    while (l < specs.size() && index.name != redraw_index_name(specs[l].name)) ++l;
    if (l == specs.size())
      throw FormatError(f.path, "tensor \"" + text_excerpt(index.name) +
                                    "\" is not the redraw index of a later layer (they come in "
                                    "network order, each index before its count)");
    const int64_t kept = meta_count(f, key_kept(specs[l].name));
    const int64_t m = index.shape.size() == 1 ? index.shape[0] : -1;
    if (index.dtype != Dtype::U32 || m < 1 || m > kept)
      throw FormatError(f.path, "redraw index \"" + index.name +
                                    "\" must be U32 [m] with 1 <= m <= the layer's " +
                                    std::to_string(kept) + " kept weights");
    if (i + 1 == tensors.size() || tensors[i + 1].name != redraw_count_name(specs[l].name) ||
        tensors[i + 1].dtype != Dtype::U16 || tensors[i + 1].shape != index.shape)
      throw FormatError(f.path, "redraw index \"" + index.name + "\" must be followed by \"" +
                                    redraw_count_name(specs[l].name) + "\", U16 [" +
                                    std::to_string(m) + "]");
    r.layer.push_back(l);
    r.position.push_back(i);
    next_layer = l + 1;
    i += 2;
  }
  r.end = i;
  return r;
}

// The version 2 record: popup.redraw present and known; version 1: absent.
int redraw_version_check(const PopupFile& f) {
  const auto it = f.metadata.find("popup.redraw");
  if (f.version < 2) {
    if (it != f.metadata.end())
      throw FormatError(f.path, "popup.redraw is a key of mask format version 2, not " +
                                    std::to_string(f.version));
    return 0;
  }
  if (it == f.metadata.end())
    throw FormatError(f.path, "missing metadata key popup.redraw (mask format version 2)");
  if (it->second != std::to_string(kRedrawVersion))
    throw VersionError(f.path, "popup.redraw '" + text_excerpt(it->second) +
                                   "' is not a redraw version this popup knows (it knows " +
                                   std::to_string(kRedrawVersion) + "): upgrade popup");
  return kRedrawVersion;
}

template <typename T>
T element(const std::vector<uint8_t>& bytes, size_t j) {  // little-endian, as files are
  T v;
  std::memcpy(&v, bytes.data() + j * sizeof v, sizeof v);
  return v;
}

int64_t popcount(const std::vector<uint8_t>& bits) {
  int64_t n = 0;
  for (const uint8_t b : bits) n += __builtin_popcount(b);
  return n;
}

}  // namespace

int64_t LayerMask::numel() const {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

std::vector<uint8_t> mask_pack(const uint8_t* keep, int64_t n) {
  std::vector<uint8_t> bits(static_cast<size_t>((n + 7) / 8), 0);
  for (int64_t i = 0; i < n; ++i)
    if (keep[i]) bits[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
  return bits;
}

LayerMask layer_mask_make(const TensorSpec& spec, double k, const uint8_t* keep) {
  LayerMask m;
  m.name = spec.name;
  m.shape = spec.shape;
  m.k = k;
  m.bits = mask_pack(keep, spec.numel());
  m.kept = popcount(m.bits);
  return m;
}

void mask_check_header(const PopupFile& f, const std::vector<TensorInfo>& tensors) {
  meta_k(f, "popup.k");
  const std::vector<TensorSpec> specs = recipe_tensors(f.recipe);
  if (tensors.size() < specs.size())
    throw FormatError(f.path, std::to_string(tensors.size()) + " tensors, but the recipe's " +
                                  f.recipe.arch + " has " + std::to_string(specs.size()) +
                                  " layers to mask");
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = tensors[i];
    const int64_t bytes = (specs[i].numel() + 7) / 8;
    if (t.name != specs[i].name)
      throw FormatError(f.path, "tensor " + std::to_string(i) + " is \"" + text_excerpt(t.name) +
                                    "\", expected \"" + specs[i].name + "\"");
    if (t.dtype != Dtype::U8 || t.shape != std::vector<int64_t>{bytes})
      throw MismatchError(f.path, "mask \"" + t.name + "\" must be U8 [" + std::to_string(bytes) +
                                      "] for the recipe's shape");
    const int64_t kept = meta_count(f, key_kept(t.name));
    meta_k(f, key_k(t.name));
    if (kept > specs[i].numel())
      throw FormatError(f.path, key_kept(t.name) + " exceeds the layer's size");
  }
  const size_t first_state =
      redraw_version_check(f) > 0 ? redraw_tensors_check(f, tensors, specs).end : specs.size();
  state_check(f, tensors, first_state, "the masks");
}

void mask_check_data(const PopupFile& f) {
  const std::vector<TensorSpec> specs = recipe_tensors(f.recipe);
  for (size_t i = 0; i < specs.size(); ++i) {
    const Tensor& t = f.tensors[i];
    const int64_t n = specs[i].numel();
    if (n % 8 != 0 && (t.u8.back() >> (n % 8)) != 0)
      throw FormatError(f.path, "mask \"" + t.info.name + "\" has bits set past its last weight");
    const int64_t kept = popcount(t.u8);
    const int64_t recorded = meta_count(f, key_kept(t.info.name));
    if (kept != recorded)
      throw FormatError(f.path, "mask \"" + t.info.name + "\" keeps " + std::to_string(kept) +
                                    " weights, its metadata says " + std::to_string(recorded));
  }
  if (f.version < 2) return;
  std::vector<TensorInfo> infos;
  for (const Tensor& t : f.tensors) infos.push_back(t.info);
  const RedrawTensors r = redraw_tensors_check(f, infos, specs);
  for (size_t j = 0; j < r.layer.size(); ++j) {
    const size_t l = r.layer[j];
    const std::vector<uint8_t>& bits = f.tensors[l].u8;
    const std::vector<uint8_t>& index = f.tensors[r.position[j]].u8;
    const std::vector<uint8_t>& count = f.tensors[r.position[j] + 1].u8;
    const size_t m = index.size() / 4;
    int64_t last = -1;
    for (size_t e = 0; e < m; ++e) {
      const int64_t i = element<uint32_t>(index, e);
      const auto bad = [&](const std::string& why) {
        return FormatError(f.path, "redraw record of \"" + specs[l].name + "\", entry " +
                                       std::to_string(e) + " (weight " + std::to_string(i) +
                                       "): " + why);
      };
      if (i <= last) throw bad("positions must increase");
      if (i >= specs[l].numel()) throw bad("past the layer's last weight");
      if (!((bits[static_cast<size_t>(i >> 3)] >> (i & 7)) & 1))
        throw bad("the mask drops this weight (only kept weights are recorded)");
      if (element<uint16_t>(count, e) == 0) throw bad("a redraw count is at least 1");
      last = i;
    }
  }
}

void mask_apply(const Mask& mask, std::vector<std::vector<float>>& weights) {
  for (size_t t = 0; t < weights.size(); ++t) {
    const LayerMask& layer = mask.layers.at(t);
    float* w = weights[t].data();
    const int64_t n = static_cast<int64_t>(weights[t].size());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
      if (!layer.get(i)) w[i] = 0.0f;
  }
}

void mask_write(const std::string& path, const Mask& mask) {
  OutputFile out(path);
  mask_write(out, mask);
}

void mask_write(OutputFile& out, const Mask& mask) {
  Metadata extra = mask.extra;
  extra["popup.k"] = double_format(mask.k);
  std::vector<TensorRef> refs;
  for (const LayerMask& l : mask.layers) {
    extra[key_k(l.name)] = double_format(l.k);
    extra[key_kept(l.name)] = std::to_string(l.kept);
    refs.push_back({l.name, Dtype::U8, {static_cast<int64_t>(l.bits.size())}, l.bits.data()});
  }
  if (mask.redraw > 0) {
    extra["popup.redraw"] = std::to_string(mask.redraw);  // makes the file version 2
    for (size_t l = 0; l < mask.redraws.size(); ++l) {
      const LayerRedraws& r = mask.redraws[l];
      if (r.index.empty()) continue;
      const std::vector<int64_t> shape{static_cast<int64_t>(r.index.size())};
      refs.push_back(
          {redraw_index_name(mask.layers.at(l).name), Dtype::U32, shape, r.index.data()});
      refs.push_back(
          {redraw_count_name(mask.layers.at(l).name), Dtype::U16, shape, r.count.data()});
    }
  }
  for (const Tensor& t : mask.state)
    refs.push_back({t.info.name, Dtype::F32, t.info.shape, t.f32.data()});
  popup_file_write(out, FileKind::mask, mask.recipe, extra, refs);
}

Mask mask_from_file(PopupFile&& f) {
  Mask m;
  m.recipe = f.recipe;
  m.k = meta_k(f, "popup.k");
  const std::vector<TensorSpec> specs = recipe_tensors(f.recipe);
  for (size_t i = 0; i < specs.size(); ++i) {
    LayerMask l;
    l.name = specs[i].name;
    l.shape = specs[i].shape;
    l.k = meta_k(f, key_k(l.name));
    l.kept = meta_count(f, key_kept(l.name));
    l.bits = std::move(f.tensors[i].u8);
    m.layers.push_back(std::move(l));
  }
  size_t first_state = specs.size();
  m.redraw = redraw_version_check(f);
  if (m.redraw > 0) {
    std::vector<TensorInfo> infos;
    for (const Tensor& t : f.tensors) infos.push_back(t.info);
    const RedrawTensors r = redraw_tensors_check(f, infos, specs);
    m.redraws.resize(specs.size());
    for (size_t j = 0; j < r.layer.size(); ++j) {
      LayerRedraws& out = m.redraws[r.layer[j]];
      const std::vector<uint8_t>& index = f.tensors[r.position[j]].u8;
      const std::vector<uint8_t>& count = f.tensors[r.position[j] + 1].u8;
      for (size_t e = 0; e < index.size() / 4; ++e) {
        out.index.push_back(element<uint32_t>(index, e));
        out.count.push_back(element<uint16_t>(count, e));
      }
    }
    first_state = r.end;
  }
  for (size_t i = first_state; i < f.tensors.size(); ++i)
    m.state.push_back(std::move(f.tensors[i]));
  for (const auto& [key, value] : f.metadata)
    if (key.rfind("popup.train.", 0) == 0) m.extra[key] = value;
  return m;
}

Mask mask_read(const std::string& path) {
  return mask_from_file(popup_file_read(path, FileKind::mask));
}

}  // namespace popup

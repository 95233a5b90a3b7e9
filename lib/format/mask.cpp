// Mask packing, the mask file's metadata (popup.k, popup.mask.<tensor>.k / .kept) and its
// validation.
#include "format/mask.hpp"

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
  state_check(f, tensors, specs.size(), "the masks");
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
  for (size_t i = specs.size(); i < f.tensors.size(); ++i)
    m.state.push_back(std::move(f.tensors[i]));
  for (const auto& [key, value] : f.metadata)
    if (key.rfind("popup.train.", 0) == 0) m.extra[key] = value;
  return m;
}

Mask mask_read(const std::string& path) {
  return mask_from_file(popup_file_read(path, FileKind::mask));
}

}  // namespace popup

// Recipe validation, its metadata keys, and weight generation for a whole network.
#include "format/recipe.hpp"

#include "error.hpp"
#include "format/json.hpp"

namespace popup {
namespace {

uint64_t parse_uint(const std::string& text, const std::string& key, const std::string& file) {
  uint64_t v = 0;
  if (!uint_parse(text, v))
    throw FormatError(file, key + ": not an unsigned integer: '" + text_excerpt(text) + "'");
  return v;
}

double parse_double(const std::string& text, const std::string& key, const std::string& file) {
  double v = 0;
  if (!double_parse(text, v))
    throw FormatError(file, key + ": not a number: '" + text_excerpt(text) + "'");
  return v;
}

}  // namespace

Recipe recipe_validated(Recipe r) {
  r.arch = arch_canonical(r.arch);
  if (r.classes < 1 || r.classes > 1'000'000)
    throw InvalidArgument(
        "", "classes must be between 1 and 1000000, got " + std::to_string(r.classes));
  if (!(r.scale_k > 0 && r.scale_k <= 1))
    throw InvalidArgument("", "k must be in (0, 1], got " + double_format(r.scale_k));
  arch_tensors(r.arch, r.input, r.classes);  // throws for an input too small
  return r;
}

Metadata recipe_to_metadata(const Recipe& r) {
  return {
      {"popup.arch", r.arch},
      {"popup.input", input_shape_format(r.input)},
      {"popup.classes", std::to_string(r.classes)},
      {"popup.init", init_name(r.init)},
      {"popup.scale", double_format(r.scale_k)},
      {"popup.seed", std::to_string(r.seed)},
      {"popup.generation", std::to_string(kGenerationVersion)},
  };
}

Recipe recipe_from_metadata(const Metadata& m, const std::string& file) {
  const uint64_t generation =
      parse_uint(metadata_require(m, "popup.generation", file), "popup.generation", file);
  if (generation < 1) throw FormatError(file, "popup.generation 0 is not valid");
  if (generation > kGenerationVersion)
    throw VersionError(file, "weights generation v" + std::to_string(generation) +
                                 " is newer than this popup (v" +
                                 std::to_string(kGenerationVersion) + "): upgrade popup");
  Recipe r;
  r.arch = metadata_require(m, "popup.arch", file);
  r.seed = parse_uint(metadata_require(m, "popup.seed", file), "popup.seed", file);
  const uint64_t classes =
      parse_uint(metadata_require(m, "popup.classes", file), "popup.classes", file);
  if (classes > 1'000'000)
    throw FormatError(file, "popup.classes " + std::to_string(classes) + " is above 1000000");
  r.classes = static_cast<int64_t>(classes);
  r.scale_k = parse_double(metadata_require(m, "popup.scale", file), "popup.scale", file);
  try {
    r.input = input_shape_parse(metadata_require(m, "popup.input", file));
    const std::string& init = metadata_require(m, "popup.init", file);
    try {
      r.init = init_parse(init);
    } catch (const InvalidArgument&) {  // its message would quote the value in full
      throw FormatError(file, "popup.init: unknown distribution '" + text_excerpt(init) + "'");
    }
    return recipe_validated(r);
  } catch (const InvalidArgument& e) {
    throw FormatError(file, "bad recipe: " + e.message());
  }
}

void recipe_check_same(const Recipe& expected, const Recipe& actual, const std::string& file) {
  const Metadata a = recipe_to_metadata(expected);
  const Metadata b = recipe_to_metadata(actual);
  for (const auto& [key, value] : a) {
    const std::string& other = b.at(key);
    if (value != other)
      throw MismatchError(file, "recipe differs: " + key + " is " + other + ", expected " + value);
  }
}

std::vector<TensorSpec> recipe_tensors(const Recipe& r) {
  return arch_tensors(r.arch, r.input, r.classes);
}

std::vector<std::vector<float>> recipe_generate(const Recipe& r) {
  const std::vector<TensorSpec> specs = recipe_tensors(r);
  std::vector<std::vector<float>> out(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    out[i].resize(static_cast<size_t>(specs[i].numel()));
    weights_generate(r.init, r.scale_k, r.seed, static_cast<uint32_t>(i), specs[i], out[i].data());
  }
  return out;
}

}  // namespace popup

// Fuzz target: recipe and architecture strings. The input is lines "key=value" read as a
// file's metadata (recipe_from_metadata); its popup.arch and popup.input values also go to
// arch_canonical, input_shape_parse and arch_tensors directly.
#include <string>

#include "error.hpp"
#include "format/recipe.hpp"
#include "net/arch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  popup::Metadata metadata;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    const size_t eq = line.find('=');
    if (eq != std::string::npos) metadata[line.substr(0, eq)] = line.substr(eq + 1);
    begin = end + 1;
  }
  try {
    popup::recipe_tensors(popup::recipe_from_metadata(metadata, "input"));
  } catch (const popup::Error&) {
  }
  try {
    const std::string arch = popup::arch_canonical(metadata["popup.arch"]);
    if (popup::arch_canonical(arch) != arch) __builtin_trap();  // canonical is a fixed point
    const popup::InputShape input = popup::input_shape_parse(metadata["popup.input"]);
    popup::arch_tensors(arch, input, 10);
  } catch (const popup::Error&) {
  }
  return 0;
}

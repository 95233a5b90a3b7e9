// Fuzz target: bytes read as a popup weights file, then split into weight and state tensors
// (weights_from_file), without generating the recipe's weights.
#include "error.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  popup_fuzz::fuzz_popup_file(data, size, popup::FileKind::weights);
  try {
    popup::weights_from_file(
        popup::popup_file_read(popup_fuzz::fuzz_dir() + "/input", popup::FileKind::weights));
  } catch (const popup::Error&) {
  }
  return 0;
}

// Fuzz target: bytes read as a popup mask file, header and data (mask_read: kept counts,
// padding bits, the state tensors).
#include "error.hpp"
#include "format/mask.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  popup_fuzz::fuzz_popup_file(data, size, popup::FileKind::mask);
  try {
    popup::mask_read(popup_fuzz::fuzz_dir() + "/input");
  } catch (const popup::Error&) {
  }
  return 0;
}

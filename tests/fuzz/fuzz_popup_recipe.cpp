// Fuzz target: bytes read as a popup recipe file (popup_file_read, kind recipe expected).
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  popup_fuzz::fuzz_popup_file(data, size, popup::FileKind::recipe);
  return 0;
}

// Fuzz target: bytes read as a popup checkpoint file (popup_file_read, kind checkpoint expected).
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  popup_fuzz::fuzz_popup_file(data, size, popup::FileKind::checkpoint);
  return 0;
}

// Fuzz target: bytes read as a popup scores file (popup_file_read, kind scores expected).
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  popup_fuzz::fuzz_popup_file(data, size, popup::FileKind::scores);
  return 0;
}

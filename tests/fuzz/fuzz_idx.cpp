// Fuzz target: an IDX folder of plain files (idx_read). The input is cut at the separator
// POPUPSEP into the four files: training images, training labels, test images, test labels.
#include "idx_files.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> pieces = popup_fuzz::fuzz_split(data, size, 4);
  const std::string dir = popup_fuzz::fuzz_folder("idx");
  for (size_t i = 0; i < 4; ++i)
    popup_fuzz::fuzz_write(std::string("idx/") + popup_fuzz::kIdxNames[i],
                           reinterpret_cast<const uint8_t*>(pieces[i].data()), pieces[i].size());
  popup_fuzz::idx_read_checked(dir);
  return 0;
}

// Fuzz target: the safetensors container (SafetensorsReader): header, then every tensor's data
// in file order (read into a vector, or skipped for the CRC only, by turns), then the check that
// nothing follows. A claim larger than the file must be refused before it is allocated (the
// fuzzer's memory limit catches one that is not).
#include <vector>

#include "error.hpp"
#include "format/safetensors.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = popup_fuzz::fuzz_write("input", data, size);
  try {
    popup::InputStream in(path);
    popup::SafetensorsReader reader(in);
    std::vector<uint8_t> bytes;
    for (size_t t = 0; t < reader.tensors().size(); ++t) {
      if (t % 2 == 0)
        reader.read_next_into(bytes);
      else
        reader.skip_next();
    }
    reader.finish();
  } catch (const popup::Error&) {
  }
  return 0;
}

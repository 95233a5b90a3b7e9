// Fuzz target: PNG decoding (png_decode through libpng).
#include "data/png_decode.hpp"
#include "error.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = popup_fuzz::fuzz_write("input.png", data, size);
  try {
    const popup::PngImage image = popup::png_decode(path);
    if (image.pixels.size() != static_cast<size_t>(image.height * image.width * image.channels))
      __builtin_trap();
  } catch (const popup::Error&) {
  }
  return 0;
}

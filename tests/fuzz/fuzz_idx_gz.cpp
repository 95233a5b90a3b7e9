// Fuzz target: an IDX folder of gzipped files (NAME.gz, idx_read). After a first control byte
// the input is cut at the separator POPUPSEP into the four files' contents; each is gzipped
// here, except where the control byte's bit i is set: then piece i is written as it is (raw,
// usually corrupt gzip data).
#include <zlib.h>

#include <stdexcept>

#include "idx_files.hpp"
#include "support.hpp"

namespace {

std::string gzip(const std::string& bytes) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&z, bytes.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::vector<std::string> pieces = popup_fuzz::fuzz_split(data + 1, size - 1, 4);
  const std::string dir = popup_fuzz::fuzz_folder("idx_gz");
  for (size_t i = 0; i < 4; ++i) {
    const std::string bytes = (data[0] >> i) & 1 ? pieces[i] : gzip(pieces[i]);
    popup_fuzz::fuzz_write(std::string("idx_gz/") + popup_fuzz::kIdxNames[i] + ".gz",
                           reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  popup_fuzz::idx_read_checked(dir);
  return 0;
}

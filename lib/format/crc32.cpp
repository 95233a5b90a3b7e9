// CRC-32 through zlib, fed in chunks so sizes beyond 4 GiB work.
#include "format/crc32.hpp"

#include <zlib.h>

#include <algorithm>

namespace popup {

uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, 1u << 30);
    c = crc32(c, p, static_cast<uInt>(chunk));
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace popup

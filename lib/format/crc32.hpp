// CRC-32 (zlib's, polynomial 0xEDB88320) over byte ranges of any size.
#pragma once

#include <cstddef>
#include <cstdint>

namespace popup {

// Continue `crc` (start from 0) over n bytes.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);

}  // namespace popup

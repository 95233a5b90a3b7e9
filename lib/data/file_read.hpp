// Whole-file reads for the data set readers: plain files and gzip files alike, through zlib.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace popup {

// The bytes of `path`, decompressed when it is gzip data (zlib tells by the magic bytes, not
// the name). Throws IoError for a missing or unreadable file, FormatError for corrupt or
// truncated gzip data.
std::vector<uint8_t> file_read_all(const std::string& path);

// True when `path` names an existing file (or anything that is not a directory).
bool file_exists(const std::string& path);

}  // namespace popup

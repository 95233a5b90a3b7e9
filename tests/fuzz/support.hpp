// What the fuzz targets share: the readers take paths, so each input is written to files in a
// temporary folder of this process (in /dev/shm when there is one), removed at exit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "format/popup_file.hpp"

namespace popup_fuzz {

// The per-process folder, made on first use.
const std::string& fuzz_dir();

// fuzz_dir()/name, made when missing.
std::string fuzz_folder(const std::string& name);

// Writes `size` bytes to fuzz_dir()/name and returns the path.
std::string fuzz_write(const std::string& name, const uint8_t* data, size_t size);

// The input cut at each occurrence of kSeparator into exactly `parts` pieces: missing pieces
// are empty, the last piece keeps any further separators.
constexpr const char* kSeparator = "POPUPSEP";
std::vector<std::string> fuzz_split(const uint8_t* data, size_t size, size_t parts);

// The input as a file of kind `kind`: popup_file_read with that kind expected, data checked
// but not kept, then with data kept (never generating weights).
void fuzz_popup_file(const uint8_t* data, size_t size, popup::FileKind kind);

}  // namespace popup_fuzz

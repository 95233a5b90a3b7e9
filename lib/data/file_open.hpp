// Opening the data set readers' files: only a regular file (symbolic links followed) is a data
// file. Anything else is refused with the reason, before anything is read or can block.
#pragma once

#include <cstdint>
#include <string>

namespace popup {

// True when something is at `path`: a file, a folder, a dangling link or a link loop (which
// data_file_open then reports). A reader choosing between NAME and NAME.gz takes NAME.
bool path_present(const std::string& path);

// Throws the IoError naming `path` for `error_number` (an errno of stat or open): "no such
// file", "a symbolic link to a missing file", "a symbolic link loop (too many levels of symbolic
// links)", "a part of the path is not a folder", or the system's text.
[[noreturn]] void data_path_fail(const std::string& path, int error_number);

// Opens `path` for reading and returns its descriptor (the caller closes it) and its `size` in
// bytes. Checked twice, before opening (stat) and on the open file (fstat, no blocking: a FIFO
// is opened with O_NONBLOCK). Throws IoError naming `path`: data_path_fail's reasons, "is a
// directory, not a file", "is not a regular file (a FIFO)" (a character device, a block
// device, a socket).
int data_file_open(const std::string& path, uint64_t& size);

}  // namespace popup

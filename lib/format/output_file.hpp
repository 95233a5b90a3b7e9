// Atomic output files: a named output is written to a temporary file in the same directory
// and renamed into place by commit(); if the writer is destroyed before commit() (an exception,
// an early return) the temporary file is removed, so no partial output ever appears under the
// final name. "-" writes stdout.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

#include "format/input_stream.hpp"

namespace popup {

class OutputFile {
 public:
  // "-" writes stdout, refused (InvalidArgument) when stdout is a terminal and the data is
  // binary. A device or named pipe (/dev/null, a FIFO) is written in place. Any other path
  // gets a temporary sibling until commit(). Throws IoError.
  explicit OutputFile(const std::string& path, bool binary = true);
  ~OutputFile();  // without commit(): removes the temporary file
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, size_t n);  // throws IoError (disk full, closed pipe)
  void commit();                           // flush, close, rename into place
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Make SIGINT, SIGTERM, SIGHUP and SIGPIPE remove the temporary files of OutputFiles not yet
// committed before the process dies (tools call this once at start).
void output_cleanup_on_signals();

}  // namespace popup

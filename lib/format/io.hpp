// Byte streams over files and "-" (stdin/stdout), and atomic output files: a named output is
// written to a temporary file in the same directory and renamed into place by commit(); if
// the writer is destroyed before commit() (an exception, an early return) the temporary
// file is removed, so no partial output ever appears under the final name.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace popup {

class InputStream {
 public:
  explicit InputStream(const std::string& path);  // "-" reads stdin; throws IoError
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Read up to n bytes; returns fewer only at end of input. Throws IoError on a read error.
  size_t read(void* data, size_t n);
  // True when no byte is left (consumes nothing that read() would not return later).
  bool at_end();
  const std::string& name() const { return name_; }  // the path as given ("-" for stdin)

 private:
  std::string name_;
  std::FILE* file_ = nullptr;
  bool owned_ = false;
};

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

// True when `path` names stdin/stdout.
inline bool is_std_stream(const std::string& path) { return path == "-"; }

}  // namespace popup

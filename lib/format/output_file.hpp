// Atomic output files: a named output is written to a temporary file in the same directory
// (".NAME.tmp.PID.XXXXXX"), made durable (fsync) and renamed into place by commit(), and the
// directory is synced after the rename; if the writer is destroyed before commit() (an
// exception, an early return) the temporary file is removed, so no partial output ever
// appears under the final name. "-" writes stdout. Outputs that must appear together go
// through an OutputGroup. Also: the checks a tool makes on its paths before any work (the
// same file named twice, a missing directory, temporary files a killed run left behind).
#pragma once

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

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
  // Flush, fsync and close; then rename into place and sync the directory, unless the file
  // belongs to an OutputGroup, whose commit() renames.
  void commit();
  const std::string& name() const { return name_; }

 private:
  friend class OutputGroup;
  void rename_into_place();

  std::string name_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  bool grouped_ = false;  // commit() stops before the rename
  bool closed_ = false;   // commit() done: the data is on disk
  bool committed_ = false;
};

// Outputs that appear together or not at all. Each file is written and committed as usual,
// but its commit() only makes the data durable; the group's commit() then renames every
// temporary into place, one after the other, once all of them were written. A group destroyed
// before its commit removes every temporary. What is not atomic: a crash (SIGKILL, power loss)
// between two renames leaves the outputs renamed so far. Outputs that cannot be held back
// (stdout, a device) are written as they come: write them last.
class OutputGroup {
 public:
  OutputFile& add(const std::string& path, bool binary = true);  // opened now (IoError)
  void commit();  // every file must have been committed; throws IoError

 private:
  std::vector<std::unique_ptr<OutputFile>> files_;
};

// Remove the temporary files of the OutputFiles not yet committed, before the process dies of
// a signal (signals.hpp). Async-signal-safe: it only reads the registered paths and unlinks.
void output_temps_remove();

// Whether two paths name one file: the same device and inode when both exist, else the same
// real directory and name. "-" (a standard stream) is only itself; a character device
// (/dev/null) is never the same as anything, since writing it twice loses nothing.
bool same_file(const std::string& a, const std::string& b);

// Before any work: the directory an output will be written in exists, is a directory and is
// writable (IoError naming the output otherwise). Nothing to check for "-" or a device.
void output_directory_check(const std::string& path);

// Temporary files of `path` that killed runs left behind (SIGKILL, power loss): the
// ".NAME.tmp.PID.XXXXXX" siblings whose process PID is gone (on this machine) and that were
// not written for a minute are removed (`removed`); ".NAME.tmp.XXXXXX" files of the naming
// before the PID was added, not written for a minute, are only listed (`left`).
struct StaleTemps {
  std::vector<std::string> removed, left;
};
StaleTemps output_stale_temps_clean(const std::string& path);

}  // namespace popup

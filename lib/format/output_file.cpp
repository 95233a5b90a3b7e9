// OutputFile: a temporary sibling renamed into place, removed on errors and on signals.
#include "format/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "error.hpp"

namespace popup {
namespace {

constexpr size_t kBufferSize = 1 << 20;

std::string errno_text() { return std::strerror(errno); }

// Directory and base name of a path ("a/b.mask" -> "a/", "b.mask"; "b.mask" -> "", "b.mask").
void split_path(const std::string& path, std::string& dir, std::string& base) {
  const size_t slash = path.rfind('/');
  dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  base = slash == std::string::npos ? path : path.substr(slash + 1);
}

// Temporary files in progress, for the signal handler: fixed slots of heap strings that are
// never freed while registered, so the handler only reads and calls unlink (async-signal-safe).
constexpr int kTempSlots = 64;
std::atomic<const char*> temp_slots[kTempSlots];

void temp_register(const char* path) {
  for (auto& slot : temp_slots) {
    const char* expected = nullptr;
    if (slot.compare_exchange_strong(expected, path)) return;
  }
}

void temp_unregister(const char* path) {
  for (auto& slot : temp_slots) {
    const char* expected = path;
    if (slot.compare_exchange_strong(expected, nullptr)) return;
  }
}

extern "C" void remove_temps_and_die(int sig) {
  for (auto& slot : temp_slots)
    if (const char* path = slot.load()) unlink(path);
  signal(sig, SIG_DFL);
  raise(sig);
}

mode_t current_umask() {
  const mode_t mask = umask(0);
  umask(mask);
  return mask;
}

}  // namespace

OutputFile::OutputFile(const std::string& path, bool binary) : name_(path) {
  if (is_std_stream(path)) {
    if (binary && isatty(STDOUT_FILENO))
      throw InvalidArgument("-",
                            "refusing to write binary data to a terminal "
                            "(give -o FILE or redirect stdout)");
    file_ = stdout;
    return;
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    // A device or a named pipe (/dev/null, a FIFO): written in place, never replaced.
    if (S_ISDIR(st.st_mode)) throw IoError(path, "is a directory");
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) throw IoError(path, "cannot open: " + errno_text());
    return;
  }
  std::string dir, base;
  split_path(path, dir, base);
  if (base.empty()) throw IoError(path, "is a directory");
  std::string templ = dir + "." + base + ".tmp.XXXXXX";
  const int fd = mkstemp(templ.data());
  if (fd < 0) throw IoError(path, "cannot create: " + errno_text());
  temp_path_ = templ;
  temp_register(temp_path_.c_str());
  fchmod(fd, 0666 & ~current_umask());
  file_ = fdopen(fd, "wb");
  if (!file_) {
    close(fd);
    temp_unregister(temp_path_.c_str());
    unlink(temp_path_.c_str());
    throw IoError(path, "cannot create: " + errno_text());
  }
  std::setvbuf(file_, nullptr, _IOFBF, kBufferSize);
}

OutputFile::~OutputFile() {
  if (temp_path_.empty()) {
    if (file_ && file_ != stdout) std::fclose(file_);
    return;
  }
  if (committed_) return;
  if (file_) std::fclose(file_);
  unlink(temp_path_.c_str());
  temp_unregister(temp_path_.c_str());
}

void OutputFile::write(const void* data, size_t n) {
  if (n > 0 && std::fwrite(data, 1, n, file_) != n)
    throw IoError(name_, "write error: " + errno_text());
}

void OutputFile::commit() {
  if (std::fflush(file_) != 0) throw IoError(name_, "write error: " + errno_text());
  if (temp_path_.empty()) {
    if (file_ != stdout) {
      std::FILE* f = file_;
      file_ = nullptr;
      if (std::fclose(f) != 0) throw IoError(name_, "write error: " + errno_text());
    }
    committed_ = true;
    return;
  }
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) throw IoError(name_, "write error: " + errno_text());
  if (std::rename(temp_path_.c_str(), name_.c_str()) != 0)
    throw IoError(name_, "cannot rename into place: " + errno_text());
  temp_unregister(temp_path_.c_str());
  committed_ = true;
}

void output_cleanup_on_signals() {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(sig, remove_temps_and_die);
}

}  // namespace popup

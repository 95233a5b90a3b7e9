// OutputFile: a temporary sibling made durable and renamed into place, removed on errors and
// on signals; OutputGroup: several of them renamed at the end; the checks tools make on their
// output paths before any work.
#include "format/output_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "error.hpp"

namespace popup {
namespace {

constexpr size_t kBufferSize = 1 << 20;
constexpr double kStaleSeconds = 60;  // a temporary untouched this long may be a dead run's

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

mode_t current_umask() {
  const mode_t mask = umask(0);
  umask(mask);
  return mask;
}

// After a rename: the directory entry made durable too. Best effort: some file systems
// cannot sync a directory, and the rename itself has already happened.
void directory_sync(const std::string& dir) {
  const int fd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

bool is_char_device(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

// The real path of a path's directory, followed by its base name ("" if the directory
// cannot be resolved).
std::string real_name(const std::string& path) {
  std::string dir, base;
  split_path(path, dir, base);
  char resolved[PATH_MAX];
  if (!realpath(dir.empty() ? "." : dir.c_str(), resolved)) return "";
  return std::string(resolved) + "/" + base;
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
  std::string templ = dir + "." + base + ".tmp." + std::to_string(getpid()) + ".XXXXXX";
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
  if (closed_) throw IoError(name_, "internal: committed twice");
  if (std::fflush(file_) != 0) throw IoError(name_, "write error: " + errno_text());
  if (temp_path_.empty()) {
    if (file_ != stdout) {
      std::FILE* f = file_;
      file_ = nullptr;
      if (std::fclose(f) != 0) throw IoError(name_, "write error: " + errno_text());
    }
    closed_ = committed_ = true;
    return;
  }
  // The data reaches the disk before the name does: a crash after the rename finds it whole.
  if (fsync(fileno(file_)) != 0) throw IoError(name_, "write error: " + errno_text());
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) throw IoError(name_, "write error: " + errno_text());
  closed_ = true;
  if (!grouped_) rename_into_place();
}

void OutputFile::rename_into_place() {
  if (committed_) return;
  if (std::rename(temp_path_.c_str(), name_.c_str()) != 0)
    throw IoError(name_, "cannot rename into place: " + errno_text());
  temp_unregister(temp_path_.c_str());
  committed_ = true;
  std::string dir, base;
  split_path(name_, dir, base);
  directory_sync(dir);
}

OutputFile& OutputGroup::add(const std::string& path, bool binary) {
  files_.push_back(std::make_unique<OutputFile>(path, binary));
  files_.back()->grouped_ = true;
  return *files_.back();
}

void OutputGroup::commit() {
  for (const auto& f : files_)
    if (!f->closed_) throw IoError(f->name(), "internal: not written when its group was committed");
  for (const auto& f : files_) f->rename_into_place();
}

void output_temps_remove() {
  for (auto& slot : temp_slots)
    if (const char* path = slot.load()) unlink(path);
}

bool same_file(const std::string& a, const std::string& b) {
  if (is_std_stream(a) || is_std_stream(b)) return a == b;
  if (is_char_device(a) || is_char_device(b)) return false;
  struct stat sa, sb;
  const bool a_exists = stat(a.c_str(), &sa) == 0, b_exists = stat(b.c_str(), &sb) == 0;
  if (a_exists && b_exists) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  if (a_exists != b_exists) return false;
  const std::string ra = real_name(a);
  return !ra.empty() && ra == real_name(b);
}

void output_directory_check(const std::string& path) {
  if (is_std_stream(path)) return;
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw IoError(path, "is a directory");
    if (!S_ISREG(st.st_mode)) return;  // a device or a FIFO, written in place
  }
  std::string dir, base;
  split_path(path, dir, base);
  if (base.empty()) throw IoError(path, "is a directory");
  const std::string shown = dir.empty() ? "." : dir;
  if (stat(dir.empty() ? "." : dir.c_str(), &st) != 0)
    throw IoError(path, "cannot write in directory " + shown + ": " + errno_text());
  if (!S_ISDIR(st.st_mode)) throw IoError(path, shown + " is not a directory");
  if (access(dir.empty() ? "." : dir.c_str(), W_OK | X_OK) != 0)
    throw IoError(path, "cannot write in directory " + shown + ": " + errno_text());
}

StaleTemps output_stale_temps_clean(const std::string& path) {
  StaleTemps found;
  if (is_std_stream(path)) return found;
  std::string dir, base;
  split_path(path, dir, base);
  if (base.empty()) return found;
  DIR* d = opendir(dir.empty() ? "." : dir.c_str());
  if (!d) return found;
  const std::string prefix = "." + base + ".tmp.";
  const time_t now = std::time(nullptr);
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "PID.XXXXXX" or "XXXXXX"
    const std::string full = dir + name;
    struct stat st;
    if (lstat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (std::difftime(now, st.st_mtime) < kStaleSeconds) continue;
    const size_t dot = rest.find('.');
    const std::string pid_text = dot == std::string::npos ? "" : rest.substr(0, dot);
    const bool ours = !pid_text.empty() && pid_text.size() <= 9 && rest.size() == dot + 7 &&
                      pid_text.find_first_not_of("0123456789") == std::string::npos;
    if (!ours) {
      if (rest.size() == 6) found.left.push_back(full);
      continue;
    }
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours
    if (unlink(full.c_str()) == 0) found.removed.push_back(full);
  }
  closedir(d);
  return found;
}

}  // namespace popup

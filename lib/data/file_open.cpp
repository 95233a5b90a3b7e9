// stat, then open(O_NONBLOCK) and fstat: a FIFO, a device or a socket never reaches a read.
#include "data/file_open.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "error.hpp"

namespace popup {

namespace {

// Throws unless `st` is a regular file.
void regular_check(const std::string& path, const struct stat& st) {
  if (S_ISREG(st.st_mode)) return;
  if (S_ISDIR(st.st_mode)) throw IoError(path, "is a directory, not a file");
  const char* kind = S_ISFIFO(st.st_mode)   ? "a FIFO"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "of an unknown kind";
  throw IoError(path, std::string("is not a regular file (") + kind + ")");
}

}  // namespace

bool path_present(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

void data_path_fail(const std::string& path, int error_number) {
  struct stat st;
  switch (error_number) {
    case ENOENT:
      if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
        throw IoError(path, "a symbolic link to a missing file");
      throw IoError(path, "no such file");
    case ELOOP: throw IoError(path, "a symbolic link loop (too many levels of symbolic links)");
    case ENOTDIR: throw IoError(path, "no such file (a part of the path is not a folder)");
    default: throw IoError(path, std::strerror(error_number));
  }
}

int data_file_open(const std::string& path, uint64_t& size) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) data_path_fail(path, errno);
  regular_check(path, st);
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) data_path_fail(path, errno);
  // The path may have changed since stat: the open file decides.
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    const int error_number = errno;
    close(fd);
    if (!S_ISREG(st.st_mode)) regular_check(path, st);
    data_path_fail(path, error_number);
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace popup

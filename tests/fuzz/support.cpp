// The temporary folder and the input splitting of the fuzz targets.
#include "support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "error.hpp"

namespace popup_fuzz {

namespace {

std::string dir_made;

void dir_remove() {
  std::error_code ignored;
  if (!dir_made.empty()) std::filesystem::remove_all(dir_made, ignored);
}

}  // namespace

const std::string& fuzz_dir() {
  if (!dir_made.empty()) return dir_made;
  struct stat st;
  const char* tmp = std::getenv("TMPDIR");
  std::string base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
                     : tmp && *tmp                                     ? tmp
                                                                       : "/tmp";
  std::string templ = base + "/popup-fuzz.XXXXXX";
  if (!mkdtemp(templ.data())) throw std::runtime_error("cannot make a folder in " + base);
  dir_made = templ;
  std::atexit(dir_remove);
  return dir_made;
}

std::string fuzz_folder(const std::string& name) {
  const std::string path = fuzz_dir() + "/" + name;
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot make " + path);
  return path;
}

std::string fuzz_write(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = fuzz_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  const bool ok = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + path);
  return path;
}

std::vector<std::string> fuzz_split(const uint8_t* data, size_t size, size_t parts) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string separator = kSeparator;
  std::vector<std::string> pieces;
  size_t begin = 0;
  while (pieces.size() + 1 < parts) {
    const size_t at = text.find(separator, begin);
    if (at == std::string::npos) break;
    pieces.push_back(text.substr(begin, at - begin));
    begin = at + separator.size();
  }
  pieces.push_back(begin <= text.size() ? text.substr(begin) : std::string());
  pieces.resize(parts);
  return pieces;
}

void fuzz_popup_file(const uint8_t* data, size_t size, popup::FileKind kind) {
  const std::string path = fuzz_write("input", data, size);
  try {
    popup::popup_file_read(path, kind, /*keep_data=*/false);
  } catch (const popup::Error&) {
    return;
  }
  // Accepted without its data: read again, keeping it, which must also succeed.
  const popup::PopupFile file = popup::popup_file_read(path, kind, /*keep_data=*/true);
  if (file.kind != kind) std::abort();
}

}  // namespace popup_fuzz

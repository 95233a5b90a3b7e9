// The plugins' location (plugin_path.hpp), from /proc/self/exe.
#include "backend/plugin_path.hpp"

#include <unistd.h>

#include <climits>
#include <cstdlib>

namespace popup {
namespace {

std::string executable_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  const std::string path(buf, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

std::string plugin_path(const char* env_variable, const std::string& file) {
  if (const char* env = std::getenv(env_variable); env && *env) return env;
  return executable_dir() + "/../lib/popup/" + file;
}

}  // namespace popup

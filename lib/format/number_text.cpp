// Number parsing and formatting with std::from_chars / std::to_chars (locale-independent).
#include "format/number_text.hpp"

#include <charconv>

namespace popup {
namespace {

template <typename T>
bool parse_whole(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, value);
  return !text.empty() && r.ec == std::errc() && r.ptr == end;
}

}  // namespace

bool uint_parse(const std::string& text, uint64_t& value) { return parse_whole(text, value); }
bool double_parse(const std::string& text, double& value) { return parse_whole(text, value); }

std::string double_format(double value) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, r.ptr);
}

}  // namespace popup

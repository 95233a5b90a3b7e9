// JsonWriter: commas, keys and closing brackets tracked on a stack of open containers.
#include "format/json_write.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "format/json.hpp"
#include "format/number_text.hpp"

namespace popup {

void JsonWriter::value_begin() {
  if (open_.empty()) {
    if (!out_.empty()) throw std::logic_error("JsonWriter: a second top-level value");
  } else if (open_.back().object) {
    if (!has_key_) throw std::logic_error("JsonWriter: an object member without a key");
    has_key_ = false;
    return;
  } else if (!open_.back().empty) {
    out_ += ',';
  }
  if (!open_.empty()) open_.back().empty = false;
  out_ += space_;
  space_.clear();
}

JsonWriter& JsonWriter::key(std::string_view name) {
  if (open_.empty() || !open_.back().object || has_key_)
    throw std::logic_error("JsonWriter: a key outside an object or after a key");
  if (!open_.back().empty) out_ += ',';
  open_.back().empty = false;
  out_ += space_ + json_quote(name) + ':';
  space_.clear();
  key_ = name;
  has_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::object_begin() {
  value_begin();
  out_ += '{';
  open_.push_back(Level{true, true, {}});
  return *this;
}

JsonWriter& JsonWriter::array_begin() {
  value_begin();
  out_ += '[';
  open_.push_back(Level{false, true, {}});
  return *this;
}

JsonWriter& JsonWriter::close(bool object, char c) {
  if (open_.empty() || open_.back().object != object || has_key_)
    throw std::logic_error(std::string("JsonWriter: '") + c + "' closes nothing open");
  open_.pop_back();
  space_.clear();
  out_ += c;
  return *this;
}

JsonWriter& JsonWriter::object_end() { return close(true, '}'); }
JsonWriter& JsonWriter::array_end() { return close(false, ']'); }

JsonWriter& JsonWriter::string(std::string_view s) {
  value_begin();
  out_ += json_quote(s);
  return *this;
}

JsonWriter& JsonWriter::integer(int64_t v) {
  value_begin();
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::unsigned_integer(uint64_t v) {
  value_begin();
  out_ += std::to_string(v);
  return *this;
}

bool JsonWriter::non_finite(double v) {
  if (std::isfinite(v)) return false;
  if (!open_.empty() && open_.back().object && has_key_)
    open_.back().non_finite.emplace_back(key_, std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
  null();
  return true;
}

JsonWriter& JsonWriter::number(double v) {
  if (non_finite(v)) return *this;
  value_begin();
  out_ += double_format(v);
  return *this;
}

JsonWriter& JsonWriter::number(double v, int digits) {
  if (non_finite(v)) return *this;
  value_begin();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  out_ += buf;
  return *this;
}

JsonWriter& JsonWriter::boolean(bool v) {
  value_begin();
  out_ += v ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  value_begin();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::space(std::string_view whitespace) {
  space_ = whitespace;
  return *this;
}

JsonWriter& JsonWriter::non_finite_member() {
  if (open_.empty() || !open_.back().object)
    throw std::logic_error("JsonWriter: non_finite_member outside an object");
  const auto members = open_.back().non_finite;  // a copy: object_begin grows open_
  if (members.empty()) return *this;
  key("non_finite").object_begin();
  for (const auto& [name, kind] : members) key(name).string(kind);
  return object_end();
}

}  // namespace popup

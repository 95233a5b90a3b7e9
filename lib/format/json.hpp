// A small strict JSON reader and string quoting, enough for safetensors headers: objects keep
// their key order, duplicate keys are refused, numbers keep their text.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popup {

struct JsonValue {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  std::string text;              // string contents (decoded) or number text as written
  std::vector<JsonValue> items;  // array
  std::vector<std::pair<std::string, JsonValue>> members;  // object, in order

  // A non-negative integer below 10^18 written without sign, fraction or exponent;
  // throws JsonError otherwise.
  uint64_t as_uint() const;
};

class JsonError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parse one JSON value; only whitespace may follow it. Throws JsonError with the byte offset.
JsonValue json_parse(std::string_view text);

// `s` as a JSON string literal, quotes included: control characters escaped, valid UTF-8 kept,
// each byte of invalid UTF-8 written as \ufffd (the replacement character). JsonWriter
// (json_write.hpp) writes whole JSON values.
std::string json_quote(std::string_view s);

const char* json_type_name(JsonValue::Type type);

// True when `s` is valid UTF-8 (what json_parse accepts inside a string).
bool utf8_valid(std::string_view s);

}  // namespace popup

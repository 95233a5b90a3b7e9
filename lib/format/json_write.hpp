// The one JSON writer of every JSON popup writes (popup-train --log, popup-eval --json,
// popup-stats --json, popup-bench --json, the safetensors header of every file): members and
// items appended in order to a string, strings quoted by json_quote, and one rule for numbers
// that are not finite: null, which strict parsers accept (NaN and Infinity are not JSON).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popup {

// Misuse (a value in an object without key(), a key in an array, a close that does not match
// the open) throws std::logic_error.
class JsonWriter {
 public:
  JsonWriter& object_begin();
  JsonWriter& object_end();
  JsonWriter& array_begin();
  JsonWriter& array_end();
  // The name of the next member of the open object.
  JsonWriter& key(std::string_view name);

  JsonWriter& string(std::string_view s);
  JsonWriter& integer(int64_t v);
  JsonWriter& unsigned_integer(uint64_t v);
  // The shortest text that reads back as the same double (double_format); null if not finite.
  JsonWriter& number(double v);
  // printf's %.<digits>g (popup-train's log: 6 significant digits); null if not finite.
  JsonWriter& number(double v, int digits);
  JsonWriter& boolean(bool v);
  JsonWriter& null();

  // Layout only: whitespace written before the next member or item, after its comma.
  JsonWriter& space(std::string_view whitespace);

  // Where a null needs its reason: a member "non_finite":{"KEY":"nan"|"inf"|"-inf",...}
  // naming the members of the open object (not of nested ones) that number() wrote as null;
  // nothing when there are none.
  JsonWriter& non_finite_member();

  // The text so far: one JSON value once every object and array is closed.
  const std::string& text() const { return out_; }

 private:
  struct Level {
    bool object;
    bool empty = true;
    std::vector<std::pair<std::string, const char*>> non_finite;  // (key, "nan"/"inf"/"-inf")
  };
  void value_begin();
  bool non_finite(double v);  // when not finite: notes it, writes null and returns true
  JsonWriter& close(bool object, char c);

  std::string out_, space_, key_;
  bool has_key_ = false;
  std::vector<Level> open_;
};

}  // namespace popup

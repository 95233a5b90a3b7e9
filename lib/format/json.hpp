// A small strict JSON reader and string quoting, enough for safetensors headers: objects keep
// their key order, duplicate keys are refused, numbers keep their text.
//
// Memory (formats/container.md): JsonDocument keeps the text by reference and one 16-byte
// JsonNode per value, strings and numbers as offsets into the text. A value takes at least two
// bytes of text (itself and the byte after it), so a document of n bytes has at most n/2 + 1
// nodes, and the node array is reserved once at that size: at most 8 bytes of parser memory
// per byte of text, plus 4 bytes per object member while duplicate keys are checked, plus a
// constant. Nesting is limited to 64 levels (no deep recursion on "[[[[...").
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popup {

enum class JsonType : uint8_t { null, boolean, number, string, array, object };

class JsonError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One value of a parsed document, in document order (a container before its contents).
struct JsonNode {
  uint32_t begin = 0;  // string: offset of its first byte after the quote; number: of its text
  uint32_t size = 0;   // string, number: bytes of text as written; array: items; object: members;
                       // boolean: 1 for true
  uint32_t next = 0;   // index of the node after this value and everything inside it
  JsonType type = JsonType::null;
  bool escaped = false;  // a string holding backslash escapes (text() decodes them)
};
static_assert(sizeof(JsonNode) == 16, "the stated memory bound counts 16 bytes per value");

class JsonDocument;

// A value inside a JsonDocument (valid while the document and its text live).
class JsonView {
 public:
  JsonView(const JsonDocument& doc, uint32_t index) : doc_(&doc), index_(index) {}
  JsonType type() const;
  bool boolean() const;
  // A string decoded, or a number's text as written.
  std::string text() const;
  // Items of an array or members of an object.
  uint32_t size() const;
  // A non-negative integer below 10^18 written without sign, fraction or exponent;
  // throws JsonError otherwise.
  uint64_t as_uint() const;
  // f(JsonView item) for each item of an array (nothing for any other type).
  template <typename F>
  void for_each_item(F f) const {
    if (type() != JsonType::array) return;
    for (uint32_t i = 0, at = index_ + 1; i < size(); ++i, at = next_of(at)) f(JsonView(*doc_, at));
  }
  // f(const std::string& key, JsonView value) for each member of an object, in order
  // (nothing for any other type).
  template <typename F>
  void for_each_member(F f) const {
    if (type() != JsonType::object) return;
    for (uint32_t i = 0, at = index_ + 1; i < size(); ++i, at = next_of(at + 1))
      f(JsonView(*doc_, at).text(), JsonView(*doc_, at + 1));
  }

 private:
  uint32_t next_of(uint32_t index) const;
  const JsonNode& node() const;
  const JsonDocument* doc_;
  uint32_t index_;
};

// A parsed document (RFC 8259, strict: only whitespace may follow the value, duplicate keys
// and invalid UTF-8 are refused). Throws JsonError with the byte offset. The text must
// outlive the document and is at most 4 GiB - 1 bytes. An array of more than
// `max_array_items` items is refused as soon as its next item is seen (a reader that knows the
// schema bounds its arrays: a safetensors header has none longer than a shape).
class JsonDocument {
 public:
  explicit JsonDocument(std::string_view text, uint32_t max_array_items = UINT32_MAX);
  JsonView root() const { return JsonView(*this, 0); }
  size_t node_count() const { return nodes_.size(); }

 private:
  friend class JsonView;
  std::string_view text_;
  std::vector<JsonNode> nodes_;
};

// A document as a tree, for small texts the program wrote itself (tests of its JSON outputs):
// about 100 bytes per value. Readers of files use JsonDocument.
struct JsonValue {
  using Type = JsonType;
  Type type = Type::null;
  bool boolean = false;
  std::string text;              // string contents (decoded) or number text as written
  std::vector<JsonValue> items;  // array
  std::vector<std::pair<std::string, JsonValue>> members;  // object, in order

  uint64_t as_uint() const;  // as JsonView::as_uint
};

JsonValue json_parse(std::string_view text);

// `s` as a JSON string literal, quotes included: control characters escaped, valid UTF-8 kept,
// each byte of invalid UTF-8 written as \ufffd (the replacement character). JsonWriter
// (json_write.hpp) writes whole JSON values.
std::string json_quote(std::string_view s);

const char* json_type_name(JsonType type);

// True when `s` is valid UTF-8 (what the parser accepts inside a string).
bool utf8_valid(std::string_view s);

// A value quoted in an error message: at most 40 bytes of it (not cutting a UTF-8
// character), then "..." when it is longer, so that a 1 MB value is never echoed in full.
std::string text_excerpt(std::string_view s);

}  // namespace popup

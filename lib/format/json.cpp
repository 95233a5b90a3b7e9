// The JSON parser (RFC 8259) into a flat array of nodes with a depth limit, the tree form
// built from it, and string quoting.
#include "format/json.hpp"

#include <algorithm>
#include <cstdio>

namespace popup {
namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kExcerptBytes = 40;
// Length of the valid UTF-8 sequence starting at s[pos], or 0.
size_t utf8_length(std::string_view s, size_t pos) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  const unsigned char c = b(0);
  size_t n;
  unsigned cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0)
    n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0)
    n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (pos + n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  const unsigned min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The four hex digits at s[pos], or -1.
int hex4(std::string_view s, size_t pos) {
  if (pos + 4 > s.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + 4; ++i) {
    const char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return -1;
  }
  return v;
}

// The contents of a string the parser validated (raw: between the quotes), escapes decoded.
std::string string_decode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out += raw[i];
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        unsigned cp = static_cast<unsigned>(hex4(raw, i + 1));
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<unsigned>(hex4(raw, i + 3)) - 0xDC00);
          i += 6;
        }
        append_utf8(out, cp);
        break;
      }
      default: out += e;  // " \ /
    }
  }
  return out;
}

}  // namespace

// Recursive descent (at most kMaxDepth deep) appending one node per value.
class JsonParser {
 public:
  JsonParser(std::string_view text, uint32_t max_array_items, std::vector<JsonNode>& nodes)
      : s_(text), max_items_(max_array_items), nodes_(nodes) {}

  void document() {
    if (s_.size() >= UINT32_MAX) fail("the text is 4 GiB or more");
    nodes_.reserve(s_.size() / 2 + 1);
    value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] static void fail_at(size_t pos, const std::string& what) {
    throw JsonError("malformed JSON at byte " + std::to_string(pos) + ": " + what);
  }

  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  void literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) fail("invalid literal");
    pos_ += word.size();
  }

  uint32_t add(JsonType type, size_t begin, size_t size) {
    const auto index = static_cast<uint32_t>(nodes_.size());
    JsonNode n;
    n.type = type;
    n.begin = static_cast<uint32_t>(begin);
    n.size = static_cast<uint32_t>(size);
    n.next = index + 1;
    nodes_.push_back(n);
    return index;
  }

  void value(int depth) {
    if (depth >= kMaxDepth) fail("nested too deeply");
    skip_space();
    const char c = peek();
    if (c == '{') {
      container(JsonType::object, depth);
    } else if (c == '[') {
      container(JsonType::array, depth);
    } else if (c == '"') {
      string();
    } else if (c == 't') {
      literal("true");
      add(JsonType::boolean, pos_ - 4, 1);
    } else if (c == 'f') {
      literal("false");
      add(JsonType::boolean, pos_ - 5, 0);
    } else if (c == 'n') {
      literal("null");
      add(JsonType::null, pos_ - 4, 0);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      number();
    } else {
      fail(pos_ >= s_.size() ? "unexpected end" : "unexpected character");
    }
  }

  void container(JsonType type, int depth) {
    const bool object = type == JsonType::object;
    const uint32_t self = add(type, pos_, 0);
    ++pos_;
    skip_space();
    uint32_t count = 0;
    if (peek() == (object ? '}' : ']')) {
      ++pos_;
    } else {
      for (;;) {
        skip_space();
        if (object) {
          if (peek() != '"') fail("expected a member name");
          string();
          skip_space();
          expect(':');
        }
        if (!object && count == max_items_)
          fail("an array of more than " + std::to_string(max_items_) + " items");
        value(depth + 1);
        ++count;
        skip_space();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect(object ? '}' : ']');
        break;
      }
    }
    nodes_[self].size = count;
    nodes_[self].next = static_cast<uint32_t>(nodes_.size());
    if (object && count > 1) check_unique_keys(self);
  }

  std::string key(uint32_t index) const {
    const JsonNode& n = nodes_[index];
    const std::string_view raw = s_.substr(n.begin, n.size);
    return n.escaped ? string_decode(raw) : std::string(raw);
  }

  // Duplicate keys of the object at `self`, found by sorting its key nodes.
  void check_unique_keys(uint32_t self) {
    keys_.clear();
    for (uint32_t i = 0, at = self + 1; i < nodes_[self].size; ++i, at = nodes_[at + 1].next)
      keys_.push_back(at);
    const auto less = [&](uint32_t a, uint32_t b) {
      const JsonNode &x = nodes_[a], &y = nodes_[b];
      if (!x.escaped && !y.escaped) return s_.substr(x.begin, x.size) < s_.substr(y.begin, y.size);
      return key(a) < key(b);
    };
    std::sort(keys_.begin(), keys_.end(), less);
    for (size_t i = 1; i < keys_.size(); ++i)
      if (!less(keys_[i - 1], keys_[i])) {
        const uint32_t later = std::max(keys_[i - 1], keys_[i]);
        fail_at(nodes_[later].begin - 1, "duplicate key \"" + text_excerpt(key(later)) + "\"");
      }
  }

  void digits() {
    while (peek() >= '0' && peek() <= '9') ++pos_;
  }

  void number() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      digits();
    } else {
      fail("invalid number");
    }
    if (peek() == '.') {
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
      digits();
    }
    add(JsonType::number, start, pos_ - start);
  }

  // Validates a string (UTF-8, escapes, surrogate pairs) without decoding it.
  void string() {
    expect('"');
    const size_t start = pos_;
    bool escaped = false;
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated string");
      const char c = s_[pos_];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        const size_t n = utf8_length(s_, pos_);
        if (n == 0) fail("invalid UTF-8 in string");
        pos_ += n;
        continue;
      }
      escaped = true;
      const char e = ++pos_ < s_.size() ? s_[pos_] : '\0';
      ++pos_;
      if (e == 'u') {
        const int cp = hex4(s_, pos_);
        if (cp < 0) fail("invalid \\u escape");
        pos_ += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (s_.substr(pos_, 2) != "\\u") fail("unpaired surrogate");
          const int lo = hex4(s_, pos_ + 2);
          if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate");
          pos_ += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          fail("unpaired surrogate");
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        fail("invalid escape");
      }
    }
    const uint32_t index = add(JsonType::string, start, pos_ - start);
    nodes_[index].escaped = escaped;
    ++pos_;
  }

  std::string_view s_;
  uint32_t max_items_;
  std::vector<JsonNode>& nodes_;
  std::vector<uint32_t> keys_;  // scratch of check_unique_keys
  size_t pos_ = 0;
};

JsonDocument::JsonDocument(std::string_view text, uint32_t max_array_items) : text_(text) {
  JsonParser(text, max_array_items, nodes_).document();
}

const JsonNode& JsonView::node() const { return doc_->nodes_[index_]; }
uint32_t JsonView::next_of(uint32_t index) const { return doc_->nodes_[index].next; }
JsonType JsonView::type() const { return node().type; }
bool JsonView::boolean() const { return node().type == JsonType::boolean && node().size == 1; }
uint32_t JsonView::size() const {
  const JsonNode& n = node();
  return n.type == JsonType::array || n.type == JsonType::object ? n.size : 0;
}

std::string JsonView::text() const {
  const JsonNode& n = node();
  if (n.type != JsonType::string && n.type != JsonType::number) return "";
  const std::string_view raw = doc_->text_.substr(n.begin, n.size);
  return n.escaped ? string_decode(raw) : std::string(raw);
}

namespace {

uint64_t uint_of(JsonType type, const std::string& text) {
  if (type != JsonType::number)
    throw JsonError(std::string("expected an integer, got ") + json_type_name(type));
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    throw JsonError("expected a non-negative integer below 10^18, got " + text_excerpt(text));
  return std::stoull(text);
}

JsonValue tree(const JsonView& v) {
  JsonValue out;
  out.type = v.type();
  out.boolean = v.boolean();
  out.text = v.text();
  if (out.type == JsonType::array)
    v.for_each_item([&](const JsonView& item) { out.items.push_back(tree(item)); });
  if (out.type == JsonType::object)
    v.for_each_member([&](const std::string& key, const JsonView& value) {
      out.members.emplace_back(key, tree(value));
    });
  return out;
}

}  // namespace

uint64_t JsonView::as_uint() const { return uint_of(type(), text()); }
uint64_t JsonValue::as_uint() const { return uint_of(type, text); }

JsonValue json_parse(std::string_view text) { return tree(JsonDocument(text).root()); }

std::string text_excerpt(std::string_view s) {
  if (s.size() <= kExcerptBytes) return std::string(s);
  size_t n = kExcerptBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not mid-character
  return std::string(s.substr(0, n)) + "...";
}

bool utf8_valid(std::string_view s) {
  for (size_t i = 0, n; i < s.size(); i += n)
    if ((n = utf8_length(s, i)) == 0) return false;
  return true;
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else if (const size_t n = utf8_length(s, i)) {
          out.append(s.substr(i, n));
          i += n - 1;
        } else {
          out += "\\ufffd";  // a byte of invalid UTF-8: the replacement character
        }
    }
  }
  return out + "\"";
}

const char* json_type_name(JsonType type) {
  switch (type) {
    case JsonType::null: return "null";
    case JsonType::boolean: return "a boolean";
    case JsonType::number: return "a number";
    case JsonType::string: return "a string";
    case JsonType::array: return "an array";
    case JsonType::object: return "an object";
  }
  return "?";
}

}  // namespace popup

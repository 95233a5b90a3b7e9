// Fuzz target: the JSON readers. JsonDocument (what file readers use) walks every value; the
// tree parser (json_parse) must accept exactly the texts JsonDocument accepts; json_quote of
// the bytes, when they are valid UTF-8, must parse back to them.
#include <cstdlib>
#include <string_view>

#include "format/json.hpp"

namespace {

void walk(const popup::JsonView& v) {
  switch (v.type()) {
    case popup::JsonType::number: try { v.as_uint();
      } catch (const popup::JsonError&) {
      }
      [[fallthrough]];
    case popup::JsonType::string: v.text(); break;
    case popup::JsonType::array:
      v.for_each_item([](const popup::JsonView& item) { walk(item); });
      break;
    case popup::JsonType::object:
      v.for_each_member([](const std::string&, const popup::JsonView& value) { walk(value); });
      break;
    default: v.boolean();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bool document = true, tree = true;
  try {
    const popup::JsonDocument doc(text);
    walk(doc.root());
  } catch (const popup::JsonError&) {
    document = false;
  }
  try {
    popup::json_parse(text);
  } catch (const popup::JsonError&) {
    tree = false;
  }
  if (document != tree) std::abort();
  if (popup::utf8_valid(text)) {
    const popup::JsonValue v = popup::json_parse(popup::json_quote(text));
    if (v.type != popup::JsonType::string || v.text != text) std::abort();
  }
  return 0;
}

// The JSON reader: what it accepts, what it refuses (each refusal must throw JsonError), its
// memory bound (nodes per byte of text), duplicate keys found among many; and
// the writer: escaping, UTF-8, integers and doubles, null for numbers that are not finite,
// round trips through the reader.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "format/json.hpp"
#include "format/json_write.hpp"
#include "format/number_text.hpp"

using popup::json_parse;
using popup::JsonValue;

BOOST_AUTO_TEST_SUITE(json)

BOOST_AUTO_TEST_CASE(parses_nested_values_in_order) {
  const JsonValue v = json_parse(R"( {"b":[1,2,{"c":null}],"a":"x\u00e9\n","t":true,"n":-1.5e3} )");
  BOOST_TEST(v.members.size() == 4u);
  BOOST_TEST(v.members[0].first == "b");
  BOOST_TEST(v.members[0].second.items.size() == 3u);
  BOOST_TEST(v.members[0].second.items[1].as_uint() == 2u);
  BOOST_TEST(v.members[1].second.text == "x\xc3\xa9\n");
  BOOST_TEST(v.members[2].second.boolean == true);
  BOOST_TEST(v.members[3].second.text == "-1.5e3");
}

BOOST_AUTO_TEST_CASE(decodes_surrogate_pairs) {
  BOOST_TEST(json_parse(R"("\ud83d\ude00")").text == "\xf0\x9f\x98\x80");
}

BOOST_AUTO_TEST_CASE(refuses_malformed_text) {
  for (const char* bad : {"", "{", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "{\"a\":1}x", "01", "1.",
                          "-", "\"abc", "\"\\x\"", "\"\\ud800\"", "tru", "{\"a\":1,\"a\":2}",
                          "\"a\x01\"", "\"\xff\"", "\"\xc0\xaf\"", "{1:2}"}) {
    BOOST_TEST_CONTEXT("input: " << bad) { BOOST_CHECK_THROW(json_parse(bad), popup::JsonError); }
  }
}

BOOST_AUTO_TEST_CASE(limits_nesting_depth) {
  BOOST_CHECK_THROW(json_parse(std::string(1000, '[') + std::string(1000, ']')), popup::JsonError);
  BOOST_CHECK_NO_THROW(json_parse(std::string(20, '[') + std::string(20, ']')));
}

BOOST_AUTO_TEST_CASE(as_uint_accepts_only_plain_integers) {
  BOOST_TEST(json_parse("123456789012").as_uint() == 123456789012u);
  for (const char* bad : {"-1", "1.0", "1e3", "\"1\"", "1000000000000000000000"})
    BOOST_CHECK_THROW(json_parse(bad).as_uint(), popup::JsonError);
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_refused_without_recursing_deeply) {
  BOOST_CHECK_THROW(popup::JsonDocument(std::string(10'000'000, '[')), popup::JsonError);
  BOOST_CHECK_THROW(popup::JsonDocument(std::string(65, '[') + std::string(65, ']')),
                    popup::JsonError);
  BOOST_CHECK_NO_THROW(popup::JsonDocument(std::string(64, '[') + std::string(64, ']')));
}

// json.hpp's bound: one 16-byte node per value and at most n/2 + 1 values in n bytes of text,
// for the densest texts there are: arrays of one-digit numbers, of empty arrays, of empty
// strings, objects of one-letter keys, nested arrays, a lone number.
BOOST_AUTO_TEST_CASE(nodes_are_at_most_half_the_bytes) {
  BOOST_TEST(sizeof(popup::JsonNode) == 16u);
  const auto repeat = [](const std::string& item, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += (i ? "," : "") + item;
    return s;
  };
  std::string keys;
  for (int i = 0; i < 26; ++i) keys += std::string(i ? "," : "") + "\"" + char('a' + i) + "\":0";
  for (const std::string& text :
       {"[" + repeat("1", 100000) + "]", "[" + repeat("[]", 100000) + "]",
        "[" + repeat("\"\"", 100000) + "]", "{" + keys + "}",
        std::string(64, '[') + std::string(64, ']'), std::string("7"), std::string("[]")}) {
    const popup::JsonDocument doc(text);
    BOOST_TEST_CONTEXT(text.substr(0, 20)) { BOOST_TEST(doc.node_count() <= text.size() / 2 + 1); }
  }
  BOOST_TEST(popup::JsonDocument("[" + repeat("1", 100000) + "]").node_count() == 100001u);
}

BOOST_AUTO_TEST_CASE(arrays_longer_than_a_reader_allows_are_refused_at_once) {
  BOOST_CHECK_NO_THROW(popup::JsonDocument("[1,2,3]", 3));
  BOOST_CHECK_NO_THROW(popup::JsonDocument(R"({"a":[],"b":[[1,2],[3]]})", 2));
  try {
    popup::JsonDocument("[1,2,3,4" + std::string(1000, ' '), 3);  // no closing bracket needed
    BOOST_FAIL("a 4-item array was taken");
  } catch (const popup::JsonError& e) {
    BOOST_TEST(std::string(e.what()) == "malformed JSON at byte 7: an array of more than 3 items");
  }
}

BOOST_AUTO_TEST_CASE(views_walk_items_and_members) {
  const std::string text = R"({"a":[1,[2,3],{"x":"y"}],"b\u00e9":true,"c":{}})";
  const popup::JsonDocument doc(text);
  std::vector<std::string> keys;
  doc.root().for_each_member([&](const std::string& key, const popup::JsonView& value) {
    keys.push_back(key);
    if (key == "a") {
      BOOST_TEST(value.size() == 3u);
      std::vector<popup::JsonType> types;
      value.for_each_item([&](const popup::JsonView& item) { types.push_back(item.type()); });
      BOOST_TEST(
          (types == std::vector<popup::JsonType>{popup::JsonType::number, popup::JsonType::array,
                                                 popup::JsonType::object}));
    }
    if (key == "b\xc3\xa9") BOOST_TEST(value.boolean());
    if (key == "c") BOOST_TEST(value.size() == 0u);
  });
  BOOST_TEST((keys == std::vector<std::string>{"a", "b\xc3\xa9", "c"}));
}

BOOST_AUTO_TEST_CASE(duplicate_keys_are_found_among_many) {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) text += "\"k" + std::to_string(i) + "\":0,";
  BOOST_CHECK_NO_THROW(popup::JsonDocument(text.substr(0, text.size() - 1) + "}"));
  BOOST_CHECK_THROW(popup::JsonDocument(text + "\"k123456\":1}"), popup::JsonError);
  // The same key written with an escape is the same key.
  BOOST_CHECK_THROW(json_parse(R"({"ab":1,"c":2,"\u0061b":3})"), popup::JsonError);
  BOOST_CHECK_NO_THROW(json_parse(R"({"ab":1,"c":2,"\u0061c":3})"));
}

BOOST_AUTO_TEST_CASE(errors_quote_at_most_40_bytes) {
  const std::string huge(1000000, '7');
  try {
    json_parse("-" + huge).as_uint();
    BOOST_FAIL("a negative number was taken");
  } catch (const popup::JsonError& e) {
    BOOST_TEST(std::string(e.what()) ==
               "expected a non-negative integer below 10^18, got -" + huge.substr(0, 39) + "...");
  }
  BOOST_TEST(popup::text_excerpt("short") == "short");
  BOOST_TEST(popup::text_excerpt(std::string(40, 'a')) == std::string(40, 'a'));
  // 39 ASCII bytes then a 2-byte character across the cut: the character is left out whole.
  BOOST_TEST(popup::text_excerpt(std::string(39, 'a') + "\xc3\xa9xyz") ==
             std::string(39, 'a') + "...");
}

BOOST_AUTO_TEST_CASE(quote_round_trips) {
  const std::string s = "a\"b\\c\n\x01\xc3\xa9";
  BOOST_TEST(json_parse(popup::json_quote(s)).text == s);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the writer ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(json_write)

using popup::JsonWriter;

BOOST_AUTO_TEST_CASE(writes_nested_values_in_order) {
  JsonWriter w;
  w.object_begin().key("a").array_begin().integer(1).integer(-2).null().array_end();
  w.key("b").object_begin().object_end().key("c").boolean(true).key("d").boolean(false);
  w.key("e").array_begin().array_end().key("s").string("x").object_end();
  BOOST_TEST(w.text() == R"({"a":[1,-2,null],"b":{},"c":true,"d":false,"e":[],"s":"x"})");
}

BOOST_AUTO_TEST_CASE(integers_and_doubles) {
  JsonWriter w;
  w.array_begin().integer(INT64_MIN).integer(INT64_MAX).unsigned_integer(UINT64_MAX);
  w.number(2.0).number(0.1).number(0.30000000000000004).number(-1e30).number(5e-324);
  w.number(1.0 / 3, 6).number(1e30, 6).number(2.0, 6).number(0.0703125, 6).array_end();
  BOOST_TEST(w.text() ==
             "[-9223372036854775808,9223372036854775807,18446744073709551615,"
             "2,0.1,0.30000000000000004,-1e+30,5e-324,"
             "0.333333,1e+30,2,0.0703125]");
}

BOOST_AUTO_TEST_CASE(shortest_doubles_read_back_exactly) {
  const double third = 1.0 / 3, tenths = 0.1 + 0.2;  // 0.333..., 0.30000000000000004
  const std::vector<double> values = {third,
                                      tenths,
                                      1e-300,
                                      123456.789,
                                      1.7976931348623157e308,
                                      -2.2250738585072014e-308,
                                      0.5005442176870748};
  JsonWriter w;
  w.array_begin();
  for (const double v : values) w.number(v);
  w.array_end();
  const JsonValue j = json_parse(w.text());
  BOOST_REQUIRE(j.items.size() == values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    double back = 0;
    BOOST_TEST(popup::double_parse(j.items[i].text, back));
    BOOST_TEST(back == values[i]);
  }
}

BOOST_AUTO_TEST_CASE(non_finite_numbers_are_null_with_their_reason) {
  const double nan = std::nan(""), inf = HUGE_VAL;
  JsonWriter w;
  w.object_begin().key("a").number(nan).key("b").number(1.5).key("c").number(inf, 6);
  w.key("d").number(-inf).key("list").array_begin().number(nan).number(1).array_end();
  w.key("inner").object_begin().key("x").number(nan).non_finite_member().object_end();
  w.non_finite_member().object_end();
  BOOST_TEST(w.text() == R"({"a":null,"b":1.5,"c":null,"d":null,"list":[null,1],)"
                         R"("inner":{"x":null,"non_finite":{"x":"nan"}},)"
                         R"("non_finite":{"a":"nan","c":"inf","d":"-inf"}})");
  JsonWriter finite;
  finite.object_begin().key("a").number(1).non_finite_member().object_end();
  BOOST_TEST(finite.text() == R"({"a":1})");
}

BOOST_AUTO_TEST_CASE(strings_are_escaped) {
  JsonWriter w;
  w.array_begin().string("q\"b\\n\nt\tr\r").string(std::string("\x01\x1f\x7f", 3));
  w.string(std::string("nul\0", 4)).array_end();
  BOOST_TEST(w.text() == "[\"q\\\"b\\\\n\\nt\\tr\\r\",\"\\u0001\\u001f\x7f\",\"nul\\u0000\"]");
}

BOOST_AUTO_TEST_CASE(utf8_passes_through_and_invalid_bytes_become_replacement_characters) {
  const std::string valid = "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // é € 😀
  const std::string truncated = "a\xff\x62\xc3";  // a, 0xff, b, a lone lead byte
  const std::string overlong_and_surrogate = "\xc0\xaf\xed\xa0\x80";
  JsonWriter w;
  w.array_begin().string(valid).string(truncated).string(overlong_and_surrogate).array_end();
  const std::string fffd = "\\ufffd";
  BOOST_TEST(w.text() == "[\"" + valid + "\",\"a" + fffd + "b" + fffd + "\",\"" + fffd + fffd +
                             fffd + fffd + fffd + "\"]");
  const JsonValue j = json_parse(w.text());
  BOOST_TEST(j.items[0].text == valid);
  BOOST_TEST(j.items[1].text == "a\xef\xbf\xbd\x62\xef\xbf\xbd");  // U+FFFD is EF BF BD
  BOOST_TEST(popup::utf8_valid(valid));
  BOOST_TEST(!popup::utf8_valid(truncated));
  BOOST_TEST(!popup::utf8_valid(overlong_and_surrogate));
}

BOOST_AUTO_TEST_CASE(round_trips_through_the_reader) {
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  const std::string text = "line\n\"quoted\"\t\\ \xe6\x97\xa5\xe6\x9c\xac";
  JsonWriter w;
  w.object_begin().key(text).string(text).key("n").integer(-7).key("x").number(0.1);
  w.key("t").boolean(true).key("z").null().key("bytes").string(all).object_end();
  const JsonValue j = json_parse(w.text());
  BOOST_REQUIRE(j.members.size() == 6u);
  BOOST_TEST(j.members[0].first == text);
  BOOST_TEST(j.members[0].second.text == text);
  BOOST_TEST(j.members[1].second.text == "-7");
  BOOST_TEST(j.members[2].second.text == "0.1");
  BOOST_TEST(j.members[3].second.boolean);
  BOOST_TEST((j.members[4].second.type == JsonValue::Type::null));
  // ASCII (control characters included) comes back as it was; bytes 0x80-0xff are not UTF-8
  BOOST_TEST(j.members[5].second.text.substr(0, 127) == all.substr(0, 127));
  BOOST_TEST(j.members[5].second.text.size() == 127u + 128 * 3);
}

BOOST_AUTO_TEST_CASE(layout_whitespace_goes_after_the_comma) {
  JsonWriter w;
  w.object_begin().key("a").array_begin().space("\n  ").integer(1).space("\n  ").integer(2);
  w.array_end().space("\n ").key("b").integer(3).object_end();
  BOOST_TEST(w.text() == "{\"a\":[\n  1,\n  2],\n \"b\":3}");
  BOOST_CHECK_NO_THROW(json_parse(w.text()));
}

BOOST_AUTO_TEST_CASE(refuses_misuse) {
  BOOST_CHECK_THROW(JsonWriter().object_begin().integer(1), std::logic_error);
  BOOST_CHECK_THROW(JsonWriter().array_begin().key("a"), std::logic_error);
  BOOST_CHECK_THROW(JsonWriter().object_begin().key("a").key("b"), std::logic_error);
  BOOST_CHECK_THROW(JsonWriter().object_begin().array_end(), std::logic_error);
  BOOST_CHECK_THROW(JsonWriter().object_begin().key("a").object_end(), std::logic_error);
  BOOST_CHECK_THROW(JsonWriter().array_end(), std::logic_error);
  BOOST_CHECK_THROW(JsonWriter().integer(1).integer(2), std::logic_error);
  BOOST_CHECK_THROW(JsonWriter().array_begin().non_finite_member(), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()

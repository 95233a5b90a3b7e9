// The JSON reader: what it accepts, what it refuses (each refusal must throw JsonError).
#include <boost/test/unit_test.hpp>

#include "format/json.hpp"

using popup::JsonValue;
using popup::json_parse;

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
    BOOST_TEST_CONTEXT("input: " << bad) {
      BOOST_CHECK_THROW(json_parse(bad), popup::JsonError);
    }
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

BOOST_AUTO_TEST_CASE(quote_round_trips) {
  const std::string s = "a\"b\\c\n\x01\xc3\xa9";
  BOOST_TEST(json_parse(popup::json_quote(s)).text == s);
}

BOOST_AUTO_TEST_SUITE_END()

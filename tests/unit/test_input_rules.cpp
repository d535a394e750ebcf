// The input rule (issue #16) and the store's rule for event payloads, which must agree.
#include <doctest/doctest.h>

#include "events/validity.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"

using namespace beampipe;
namespace json = boost::json;

TEST_CASE("text: valid UTF-8 without NUL; names without control characters") {
  CHECK_FALSE(util::text_problem("HIPASSJ1313-15", util::text_kind::name));
  CHECK_FALSE(util::text_problem("caf\xc3\xa9 \xf0\x9f\x98\x80", util::text_kind::name));
  CHECK_FALSE(util::text_problem("line one\nline two\ttab\r", util::text_kind::text));
  CHECK(util::text_problem("a\nb", util::text_kind::name));
  CHECK(util::text_problem(std::string("a\0b", 3), util::text_kind::text)->find("NUL") !=
        std::string::npos);
  CHECK(util::text_problem("bell\x07", util::text_kind::text)->find("U+0007") != std::string::npos);
  CHECK(util::text_problem("del\x7f", util::text_kind::text));
  CHECK(util::text_problem("c1 \xc2\x85", util::text_kind::text)->find("U+0085") !=
        std::string::npos);
  for (const char* bad : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80"}) {
    INFO(bad);
    CHECK(util::text_problem(bad)->find("UTF-8") != std::string::npos);
  }
}

TEST_CASE("JSON trees: the first problem with its field path") {
  auto problem = [](const char* text, util::input_limits limits = {}) {
    auto v = util::parse_json(text, nullptr, util::kEventDepth);
    REQUIRE(v);
    return util::input_problem_of(*v, limits);
  };
  CHECK_FALSE(problem(R"({"a":[1,"two",{"b":null}],"c":"x\ny"})"));
  auto p = problem(R"({"status":"cancelled","reason":"poison\u0000here"})");
  REQUIRE(p);
  CHECK(p->field == "reason");
  p = problem(R"({"sources":[{"source_identifier":"x","sbids":["1","x\u0000y"]}]})");
  REQUIRE(p);
  CHECK(p->field == "sources[0].sbids[1]");
  p = problem(R"({"bad key\u0001":1})");
  REQUIRE(p);
  CHECK(p->message.find("key") != std::string::npos);
  std::string deep = "{\"r\":";
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  deep += "}";
  p = problem(deep.c_str());
  REQUIRE(p);
  CHECK(p->message.find("deeper than 32") != std::string::npos);
  CHECK(p->field.rfind("r[0]", 0) == 0);
  util::input_limits small;
  small.max_array_items = 2;
  small.max_string_bytes = 3;
  CHECK(problem(R"({"a":[1,2,3]})", small)->field == "a");
  CHECK(problem(R"({"s":"abcd"})", small)->field == "s");
}

TEST_CASE("make_storable replaces broken UTF-8 and NUL, and nothing else") {
  std::string ok = "caf\xc3\xa9\nok";
  auto copy = ok;
  util::make_storable(copy);
  CHECK(copy == ok);
  std::string bad(
      "a\0b\xff"
      "c",
      5);
  util::make_storable(bad);
  CHECK(bad ==
        "a\xef\xbf\xbd"
        "b\xef\xbf\xbd"
        "c");
  json::value v = {{"k\xff", "v\xc3"}, {"list", json::array{"x", std::string("y\0", 2)}}};
  util::make_storable(v);
  CHECK_FALSE(events::storage_problem(json::serialize(v)));
}

TEST_CASE("a number past a double's range is refused at the edge and stored as null") {
  // Boost.JSON reads 9e998 as infinity and writes it back as Infinity, which is not JSON.
  auto v = json::parse(R"({"a":[[[[9e998]]]],"b":-1e999,"c":1.5})");
  auto p = util::input_problem_of(v);
  REQUIRE(p);
  CHECK(p->field == "a[0][0][0][0]");
  CHECK(p->message == "is a number too large to store");
  util::make_storable(v);
  CHECK(v.at("a").at(0).at(0).at(0).at(0).is_null());
  CHECK(v.at("b").is_null());
  CHECK(v.at("c").as_double() == 1.5);
  CHECK_FALSE(events::storage_problem(json::serialize(v)));
}

TEST_CASE("the store's rule: objects, depth, NUL, UTF-8; readers parse what it accepts") {
  CHECK_FALSE(events::storage_problem(R"({"a":"b"})"));
  CHECK(events::storage_problem("[1]"));
  CHECK(events::storage_problem(R"({"a":"\u0000"})"));
  CHECK(events::storage_problem("{\"a\":\"\xff\"}"));
  CHECK(events::storage_problem(R"({"a":"\ud800"})"));  // a lone surrogate
  std::string deep = "{\"d\":";
  for (int i = 0; i < 70; ++i) deep += "[";
  for (int i = 0; i < 70; ++i) deep += "]";
  deep += "}";
  CHECK(events::storage_problem(deep)->find("64 levels") != std::string::npos);
  CHECK(events::storage_problem(R"({"a":"b"})", 5)->find("larger") != std::string::npos);
  // Readers accept more than the store lets in (histories written under other limits).
  std::string old = "{\"d\":";
  for (int i = 0; i < 100; ++i) old += "[";
  for (int i = 0; i < 100; ++i) old += "]";
  old += "}";
  CHECK(events::parse_payload(old).contains("d"));
  CHECK_THROWS(events::parse_payload("[]"));
}

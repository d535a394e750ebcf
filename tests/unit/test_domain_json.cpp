// Canonical (serde_json compatible) JSON text and value helpers.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "domain/canonical_json.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

TEST_CASE("serde float formatting follows ryu rules") {
  struct Case {
    double in;
    const char* out;
  };
  const Case cases[] = {
      {60.0, "60.0"},
      {2505.3, "2505.3"},
      {1e21, "1e21"},
      {1e16, "1e16"},
      {1e15, "1000000000000000.0"},
      {0.1, "0.1"},
      {1e-5, "0.00001"},
      {1e-6, "1e-6"},
      {1.5e-7, "1.5e-7"},
      {-21.5, "-21.5"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {123456.789, "123456.789"},
      {1.2345e20, "1.2345e20"},
      {1.2345e15, "1234500000000000.0"},
      {1.2345e17, "1.2345e17"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e308"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(serde_float_text(c.in) == c.out);
  }
  CHECK(serde_float_text(std::numeric_limits<double>::infinity()) == "null");
  CHECK(serde_float_text(std::nan("")) == "null");
}

TEST_CASE("stable_json sorts keys bytewise, is compact and escapes like serde") {
  json::object o;
  o["b"] = 1;
  o["a"] = json::array{true, nullptr, 1.5};
  o["Z"] = "q\"\\/\b\f\n\r\t\x01\x7f é";
  o["\xc3\xa9"] = "non-ascii key sorts after ASCII";
  CHECK(stable_json(o) ==
        "{\"Z\":\"q\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\x7f \xc3\xa9\",\"a\":[true,null,1.5],\"b\":1,"
        "\"\xc3\xa9\":\"non-ascii key sorts after ASCII\"}");
  CHECK(serde_json_text(o, KeyOrder::insertion).rfind("{\"b\":1,\"a\"", 0) == 0);
  CHECK(stable_json(json::value(std::uint64_t{18446744073709551615ULL})) == "18446744073709551615");
  CHECK(stable_json(json::value(std::int64_t{-5})) == "-5");
}

TEST_CASE("value_string, value_key, empty and truthiness") {
  CHECK(value_string(json::value("  x ")) == "x");
  CHECK_FALSE(value_string(json::value("   ")));
  CHECK(value_string(json::value(72962)) == "72962");
  CHECK(value_string(json::value(1.5)) == "1.5");
  CHECK(value_string(json::value(60.0)) == "60.0");
  CHECK(value_string(json::value(true)) == "true");
  CHECK_FALSE(value_string(json::value(nullptr)));
  CHECK_FALSE(value_string(json::array{1}));
  CHECK_FALSE(value_string(json::object{}));

  CHECK(value_key(json::value(" a ")) == " a ");
  CHECK(value_key(json::value(72962)) == "72962");
  CHECK(value_key(json::value(nullptr)) == "null");

  CHECK(json_empty(json::value(nullptr)));
  CHECK(json_empty(json::array{}));
  CHECK(json_empty(json::object{}));
  CHECK(json_empty(json::value(" \t")));
  CHECK_FALSE(json_empty(json::value(0)));
  CHECK_FALSE(json_empty(json::value(false)));

  CHECK_FALSE(json_truthy(json::value(nullptr)));
  CHECK_FALSE(json_truthy(json::value(false)));
  CHECK_FALSE(json_truthy(json::value(0)));
  CHECK_FALSE(json_truthy(json::value(0.0)));
  CHECK_FALSE(json_truthy(json::value(" ")));
  CHECK_FALSE(json_truthy(json::array{}));
  CHECK(json_truthy(json::value(-1)));
  CHECK(json_truthy(json::value("x")));
  CHECK(json_truthy(json::array{nullptr}));
}

TEST_CASE("sha256_hex and lookup_ci") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(is_sha256_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  CHECK_FALSE(is_sha256_hex("e3b0"));
  json::object row;
  row["ra_j2000"] = 1;
  row["DEC"] = 2;
  row["Mixed"] = 3;
  CHECK(lookup_ci(row, "RA_J2000")->as_int64() == 1);
  CHECK(lookup_ci(row, "dec")->as_int64() == 2);
  CHECK(lookup_ci(row, "mixed") == nullptr);  // only exact, lower, upper
  CHECK(lookup_ci(row, "Mixed")->as_int64() == 3);
}

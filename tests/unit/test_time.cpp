// RFC 3339 times: a time the clock cannot hold is refused rather than wrapped into the past.
#include <doctest/doctest.h>

#include "util/time.hpp"

using namespace beampipe::util;

TEST_CASE("rfc3339: round trip, offsets, and the clock's range") {
  auto t = parse_rfc3339("2026-12-06T12:00:00.250+02:00");
  REQUIRE(t);
  CHECK(to_rfc3339(*t) == "2026-12-06T10:00:00.250000Z");
  CHECK_FALSE(parse_rfc3339("2999-01-01T00:00:00Z"));  // past the clock's end (2262)
  CHECK_FALSE(parse_rfc3339("1200-01-01T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2026-13-01T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("2026-12-06T25:00:00Z"));
  CHECK_FALSE(parse_rfc3339("yesterday"));
  CHECK(parse_rfc3339("2200-12-31T23:59:59Z"));
}

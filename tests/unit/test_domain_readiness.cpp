// Readiness rules and messages (spec §5.10).
#include <doctest/doctest.h>

#include "domain/discovery.hpp"
#include "domain/readiness.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
SourceReadinessState ready_state() {
  SourceReadinessState s;
  s.enabled = true;
  s.last_checked_at_set = true;
  s.discovery_signature = "abc";
  json::object row;
  row["datasets"] = json::array{json::object{}};
  json::object flags;
  flags["ra_dec_vsys_complete"] = true;
  row["discovery_flags"] = flags;
  s.metadata_rows["72962"] = row;
  return s;
}
}  // namespace

TEST_CASE("readiness checks run in order with verbatim messages") {
  const std::string sid = "HIPASSJ1318-21";
  CHECK(*source_readiness_error(sid, std::nullopt) ==
        "Source HIPASSJ1318-21 is not registered. Register and discover the source before "
        "execution.");
  auto s = ready_state();
  CHECK_FALSE(source_readiness_error(sid, s));

  auto disabled = s;
  disabled.enabled = false;
  disabled.last_checked_at_set = false;  // earlier checks win
  CHECK(*source_readiness_error(sid, disabled) == "Source HIPASSJ1318-21 is disabled");

  auto unchecked = s;
  unchecked.last_checked_at_set = false;
  CHECK(*source_readiness_error(sid, unchecked) ==
        "Source HIPASSJ1318-21: Discovery has not yet run for this source (last_checked_at is "
        "unset). Run discovery "
        "first (POST /api/v2/sources/discover).");

  auto unsigned_ = s;
  unsigned_.discovery_signature.clear();
  CHECK(*source_readiness_error(sid, unsigned_) ==
        "Source HIPASSJ1318-21: Discovery signature is missing. Run discovery first (POST "
        "/api/v2/sources/discover).");

  auto leased = s;
  leased.discovery_claim_token = "0190-token";
  CHECK(*source_readiness_error(sid, leased) ==
        "Source HIPASSJ1318-21: Discovery is still in progress for this source (active lease). "
        "Wait and retry.");

  auto no_rows = s;
  no_rows.metadata_rows.clear();
  CHECK(*source_readiness_error(sid, no_rows) ==
        "Source HIPASSJ1318-21 has no discovered metadata. Run discovery first (POST "
        "/api/v2/sources/discover).");
  CHECK(*source_readiness_error(sid, s, {"1", "2"}) ==
        "Source HIPASSJ1318-21 has no discovered metadata (SBIDs: [\"1\", \"2\"]). Run discovery "
        "first (POST "
        "/api/v2/sources/discover).");
  CHECK_FALSE(source_readiness_error(sid, s, {"72962"}));

  auto failing = s;
  json::object flags;
  flags["b"] = 0;
  flags["a"] = " ";
  flags["ok"] = json::array{1};
  failing.metadata_rows["72963"].emplace_object()["discovery_flags"] = flags;
  CHECK(*source_readiness_error(sid, failing) ==
        "Source HIPASSJ1318-21 metadata has discovery_flags that have not passed (failed keys: "
        "[\"a\", \"b\"]). "
        "Re-run discovery.");
  CHECK_FALSE(source_readiness_error(sid, failing, {"72962"}));  // filter excludes the failing row

  auto no_datasets = s;  // passes readiness; the manifest step fails later
  no_datasets.metadata_rows = {{"0", no_datasets_row()}};
  CHECK_FALSE(source_readiness_error(sid, no_datasets));
}

TEST_CASE("status blockers: sorted, deduplicated, signature match") {
  auto s = ready_state();
  CHECK(source_status_blockers("S", s).empty());
  s.last_executed_discovery_signature = "abc";
  CHECK(signature_matches_last_execution(s));
  auto b = source_status_blockers("S", s);
  REQUIRE(b.size() == 1);
  CHECK(b[0] ==
        "Source S: Discovery signature matches last executed run (already executed for current "
        "metadata).");
  s.enabled = false;
  b = source_status_blockers("S", s);
  REQUIRE(b.size() == 2);
  CHECK(b[0] == "Source S is disabled");
  s.discovery_signature.clear();
  CHECK_FALSE(signature_matches_last_execution(s));
}

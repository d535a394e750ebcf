// Sign-in sessions: refresh rotates the current refresh token id; presenting any other id of
// the family (a reused token) revokes the family; logout revokes it; a revoked family refuses
// rotation; events carry token ids only.
#include <doctest/doctest.h>

#include "decided.hpp"
#include "domain/aggregates.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
struct session {
  const aggregate_kind& k = auth_session_aggregate();
  json::object state = k.initial();
  std::string stream = auth_session_stream_id("0190f0a0-0000-7000-8000-00000000000f");
  decision run(std::string name, json::object body) {
    auto d = k.decide(state, stream,
                      {std::move(name), std::move(body), "test", beampipe::testing::next_id()});
    beampipe::testing::check_decided(d);
    for (auto& e : d.events) k.apply(state, e.type, e.data, "2026-11-01T00:00:00Z");
    return d;
  }
};
}  // namespace

TEST_CASE("auth session: start, rotate, reuse revokes the family") {
  session s;
  CHECK(s.run("rotate", {{"presented_jti", "r1"}, {"refresh_jti", "r2"}}).error->kind ==
        error_kind::unauthenticated);
  auto started = s.run("start", {{"user_uuid", "0190f0a0-0000-7000-8000-000000000001"},
                                 {"username", "ada"},
                                 {"refresh_jti", "r1"},
                                 {"refresh_expires_at", "2026-11-08T00:00:00Z"}});
  REQUIRE_FALSE(started.error);
  CHECK(started.events.at(0).type == "SessionStarted");
  CHECK(started.events.at(0).data.at("family") == "0190f0a0-0000-7000-8000-00000000000f");
  CHECK(
      s.run("start", {{"user_uuid", "u"}, {"username", "ada"}, {"refresh_jti", "x"}}).error->code ==
      "session_exists");

  auto rotated = s.run("rotate", {{"presented_jti", "r1"}, {"refresh_jti", "r2"}});
  REQUIRE(rotated.events.size() == 1);
  CHECK(rotated.events[0].type == "SessionRefreshed");
  CHECK(rotated.events[0].data.at("from_jti") == "r1");

  // r1 again: it was rotated away, so this is a replay. The family is revoked, not rotated.
  auto reused = s.run("rotate", {{"presented_jti", "r1"}, {"refresh_jti", "r3"}});
  REQUIRE(reused.events.size() == 1);
  CHECK(reused.events[0].type == "SessionRevoked");
  CHECK(reused.events[0].data.at("reason") == "refresh_token_reuse");
  // Even the current token no longer rotates.
  auto after = s.run("rotate", {{"presented_jti", "r2"}, {"refresh_jti", "r4"}});
  REQUIRE(after.error);
  CHECK(after.error->code == "token_revoked");
  CHECK(s.run("revoke", {{"reason", "logout"}}).events.empty());  // already revoked
}

TEST_CASE("auth session: logout revokes once") {
  session s;
  s.run("start", {{"user_uuid", "u-1"}, {"username", "ada"}, {"refresh_jti", "r1"}});
  CHECK(s.run("revoke", {}).error->field == "reason");
  auto out = s.run("revoke", {{"reason", "logout"}});
  REQUIRE(out.events.size() == 1);
  CHECK(out.events[0].data.at("reason") == "logout");
  CHECK(s.run("rotate", {{"presented_jti", "r1"}, {"refresh_jti", "r2"}}).error->kind ==
        error_kind::unauthenticated);
}

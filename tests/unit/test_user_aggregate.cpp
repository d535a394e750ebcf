// The user aggregate: usernames validated and unique per (case-insensitive) name through the
// stream id; events never carry a password.
#include <doctest/doctest.h>

#include "decided.hpp"
#include "domain/aggregates.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

TEST_CASE("users: create once per case-insensitive username, fields validated, no credential") {
  const auto& k = user_aggregate();
  auto state = k.initial();
  auto stream = user_stream_id(user_uuid("Ada"));
  CHECK(user_uuid("Ada") == user_uuid("ada"));
  auto run = [&](json::object body) {
    auto d = k.decide(state, stream, {"create", std::move(body), "test", beampipe::testing::next_id()});
    beampipe::testing::check_decided(d);
    for (auto& e : d.events) k.apply(state, e.type, e.data, "2026-11-01T00:00:00Z");
    return d;
  };
  CHECK(run({{"username", "Ada"}, {"email", "nope"}}).error->field == "email");
  CHECK(run({{"username", "bad name!"}, {"email", "a@b"}}).error->field == "username");
  CHECK(run({{"username", "Other"}, {"email", "a@b"}}).error->code == "wrong_stream");
  auto ok = run({{"username", "Ada"}, {"email", "ada@example.org"}, {"password", "x"}});
  REQUIRE_FALSE(ok.error);
  REQUIRE(ok.events.size() == 1);
  CHECK_FALSE(ok.events[0].data.contains("password"));
  CHECK(ok.events[0].data.at("is_superuser") == false);
  CHECK(run({{"username", "ada"}, {"email", "ada@example.org"}}).error->code == "username_taken");
}

// Scheduler election: one lease holder at a time on the database clock, takeover after
// expiry with a new fencing token, and the scheduler aggregate refusing a fenced leader.
#include <doctest/doctest.h>

#include <thread>

#include "actors/runtime.hpp"
#include "domain/aggregates.hpp"
#include "pg_fixture.hpp"
#include "store/leases.hpp"

using namespace beampipe;
using beampipe::actors::outcome;
using namespace std::chrono_literals;
namespace json = boost::json;

TEST_CASE("a lease has one owner; it is renewed, lost on expiry and taken over with a new token") {
  auto ci = test::fresh_database();
  auto a = store::connect(ci), b = store::connect(ci);
  auto la = store::acquire_lease(*a, "scheduler", "node-a", 1500ms);
  REQUIRE(la);
  CHECK(la->token == 1);
  CHECK_FALSE(store::acquire_lease(*b, "scheduler", "node-b", 1500ms));  // held
  auto again = store::acquire_lease(*a, "scheduler", "node-a", 1500ms);  // renewal keeps the token
  REQUIRE(again);
  CHECK(again->token == 1);
  CHECK(store::renew_lease(*a, "scheduler", "node-a", 1, 1500ms));
  CHECK_FALSE(store::renew_lease(*b, "scheduler", "node-b", 1, 1500ms));  // not the owner
  // Wait (bounded) for the database to see the lease expired; node-b then takes it over.
  std::optional<store::lease_state> lb;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!lb && std::chrono::steady_clock::now() < deadline) {
    lb = store::acquire_lease(*b, "scheduler", "node-b", 60s);
    if (!lb) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(lb);
  CHECK(lb->token == 2);
  CHECK_FALSE(store::renew_lease(*a, "scheduler", "node-a", 1, 1500ms));  // the old leader lost it
  CHECK(store::read_lease(*a, "scheduler")->owner == "node-b");
  store::release_lease(*b, "scheduler", "node-b", 2);
  auto la2 = store::acquire_lease(*a, "scheduler", "node-a", 1500ms);  // released: free at once
  REQUIRE(la2);
  CHECK(la2->token == 3);
}

TEST_CASE("racing acquirers: exactly one wins") {
  auto ci = test::fresh_database();
  std::atomic<int> winners{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      auto c = store::connect(ci);
      for (int attempt = 0; attempt < 20; ++attempt) {
        try {
          if (store::acquire_lease(*c, "race", "node-" + std::to_string(i), 60s)) ++winners;
          return;
        } catch (const pqxx::sql_error&) {
          // A concurrent first insert can fail the unique index under READ COMMITTED; retry.
        }
      }
    });
  for (auto& t : ts) t.join();
  CHECK(winners == 1);
}

namespace {

// A runtime on a fresh database, and the scheduler stream's tick command sent through it.
struct scheduler_stream {
  std::string ci = test::fresh_database();
  store::database db{ci};
  actors::runtime rt{db, [] {
                       actors::runtime_options o;
                       o.node_id = "test";
                       return o;
                     }()};
  actors::command_reply tick(int64_t token, const char* node, json::object extra = {}) {
    actors::command_request r;
    r.stream_id = domain::kSchedulerStream;
    r.cmd = {"tick", {{"lease_token", token}, {"node", node}}, "system:scheduler"};
    for (auto& kv : extra) r.cmd.body[kv.key()] = kv.value();
    return rt.send_sync(std::move(r));
  }
};

}  // namespace

TEST_CASE_FIXTURE(scheduler_stream, "the scheduler aggregate refuses a fenced leader's tick") {
  CHECK(tick(1, "node-a").events_appended == 1);
  CHECK(tick(2, "node-b").events_appended == 1);
  auto late = tick(1, "node-a");
  CHECK(late.result == outcome::conflict);
  CHECK(late.code == "fenced");
  CHECK(tick(2, "node-b").events_appended == 1);
  CHECK(tick(0, "node-b").result == outcome::invalid);
}

TEST_CASE_FIXTURE(scheduler_stream,
                  "a tick records how long it ran, and refuses a duration that is not one") {
  for (auto bad : {json::value(-1), json::value("12"), json::value(1.5)}) {
    auto r = tick(1, "node-a", {{"duration_ms", bad}});
    CHECK(r.result == outcome::invalid);
    CHECK(r.field == "duration_ms");
  }
  REQUIRE(tick(1, "node-a", {{"duration_ms", 42}}).events_appended == 1);
  REQUIRE(tick(1, "node-a").events_appended == 1);  // an older node's tick: none recorded
  auto c = store::connect(ci);
  pqxx::read_transaction tx{*c};
  auto r = tx.exec(
      "SELECT coalesce(data->>'duration_ms', 'absent') FROM events WHERE event_type = "
      "'SchedulerTicked' ORDER BY position");
  REQUIRE(r.size() == 2);
  CHECK(r[0][0].as<std::string>() == "42");
  CHECK(r[1][0].as<std::string>() == "absent");
}

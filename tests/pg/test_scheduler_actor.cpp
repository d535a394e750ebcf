// The scheduler actor under CAF's test coordinator (deterministic.hpp). Its blocking work
// (lease calls, ticks, the release) is queued instead of run, so each test chooses when the
// lease answers and when a tick ends; the lease is the real PostgreSQL lease and a tick's
// record goes to the real scheduler aggregate.
#include <doctest/doctest.h>

#include "deterministic.hpp"
#include "domain/aggregates.hpp"
#include "queued_jobs.hpp"
#include "store/event_store.hpp"
#include "store/leases.hpp"

using namespace beampipe;
namespace json = boost::json;

namespace {

constexpr const char* kLease = "scheduler";

struct scheduling : test::deterministic {
  pqxx::connection lease_conn{ci};
  test::queued_jobs work;            // the blocking jobs, oldest first
  std::vector<int64_t> ticked_with;  // the token of every tick run
  int lease_failures = 0;            // lease calls to fail as a lost connection does
  std::shared_ptr<std::atomic<bool>> leading = std::make_shared<std::atomic<bool>>(false);
  actors::scheduler_options opts;
  actors::scheduler_actor actor;

  void start(const std::string& node) {
    actors::scheduler_ports p;
    p.hold_lease = [this, node] {
      if (lease_failures > 0 && lease_failures--)
        throw pqxx::broken_connection("connection to server lost");
      auto l = store::acquire_lease(lease_conn, kLease, node, opts.lease_ttl);
      return l ? l->token : int64_t{0};
    };
    p.release_lease = [this, node](int64_t token) {
      store::release_lease(lease_conn, kLease, node, token);
    };
    p.tick = [this](int64_t token) {
      ticked_with.push_back(token);
      return json::object{{"discovery", json::object{{"admitted", 0}}}};
    };
    p.run_blocking = [this](std::function<void()> job) { work.push_back(std::move(job)); };
    actor = actors::spawn_scheduler(sys, registry, node, opts, std::move(p), leading);
    sched.run();
  }

  void run_job(size_t index = 0) { test::run_queued(work, sched, index); }

  std::vector<json::object> recorded_ticks() {
    std::vector<json::object> out;
    for (auto& e : store::read_stream(lease_conn, domain::kSchedulerStream))
      out.push_back(json::parse(e.data).as_object());
    return out;
  }

  // Another node takes the expired lease and records a tick under its newer token.
  int64_t taken_over_by(const std::string& node) {
    {
      pqxx::work tx(lease_conn);
      tx.exec("UPDATE leases SET expires_at = clock_timestamp() - interval '1 second'");
      tx.commit();
    }
    auto l = store::acquire_lease(lease_conn, kLease, node, opts.lease_ttl);
    REQUIRE(l);
    auto theirs = test::ask(*this, test::command(domain::kSchedulerStream, "tick",
                                                 {{"lease_token", l->token}, {"node", node}}));
    REQUIRE(run_until([&] { return theirs->reply.has_value(); }));
    REQUIRE(theirs->reply->ok());
    return l->token;
  }

  ~scheduling() {
    if (actor) caf::anon_send_exit(actor, caf::exit_reason::kill);
    sched.run();
  }
};

}  // namespace

TEST_CASE_FIXTURE(scheduling,
                  "a leader whose lease was taken during a tick is fenced at its "
                  "record and stands by") {
  start("node-a");
  REQUIRE(work.size() == 1);  // the first lease call
  run_job();
  REQUIRE(leading->load());
  REQUIRE(work.size() == 1);  // the first tick, right after winning

  auto theirs = taken_over_by("node-b");
  CHECK(theirs > 1);

  run_job();  // the tick ends; its record carries the old token
  REQUIRE(run_until([&] { return !leading->load(); }));
  CHECK(ticked_with == std::vector<int64_t>{1});
  auto ticks = recorded_ticks();
  REQUIRE(ticks.size() == 1);  // node-b's only: the fenced record left nothing
  CHECK(ticks[0].at("node").as_string() == "node-b");

  // The renewal and the interval fire: the lease is node-b's, so no tick runs.
  sched.trigger_timeouts();
  sched.run();
  REQUIRE(work.size() == 1);
  run_job();
  CHECK_FALSE(leading->load());
  CHECK(work.empty());
  CHECK(ticked_with.size() == 1);
}

TEST_CASE_FIXTURE(scheduling,
                  "the lease is renewed while a tick is out, and the tick is "
                  "recorded under it") {
  start("node-a");
  run_job();
  REQUIRE(work.size() == 1);  // the tick, not run yet

  // The renewal beat comes first (a third of the TTL, well before the interval).
  REQUIRE(sched.trigger_timeout());
  sched.run();
  REQUIRE(work.size() == 2);
  run_job(1);  // the renewal answers while the tick is still out
  CHECK(leading->load());
  REQUIRE(work.size() == 1);  // renewing did not start a second tick

  run_job();
  REQUIRE(run_until([&] { return recorded_ticks().size() == 1; }));
  auto tick = recorded_ticks().front();
  CHECK(tick.at("lease_token").as_int64() == 1);
  CHECK(tick.at("node").as_string() == "node-a");
  CHECK(tick.at("duration_ms").as_int64() >= 0);  // timed where it ran
  CHECK(leading->load());
}

TEST_CASE_FIXTURE(scheduling,
                  "a tick that overruns its interval is followed by the next at "
                  "once, never by two") {
  start("node-a");
  run_job();
  REQUIRE(work.size() == 1);
  sched.trigger_timeouts();  // the interval ends (and the beat fires) while the tick is out
  sched.run();
  REQUIRE(work.size() == 2);  // the tick and a renewal: no second tick while one is out
  run_job(1);
  run_job();
  REQUIRE(run_until([&] { return work.size() == 1; }));  // the record done, the next tick
  run_job();
  REQUIRE(run_until([&] { return recorded_ticks().size() == 2; }));
  CHECK(ticked_with == std::vector<int64_t>{1, 1});
}

TEST_CASE_FIXTURE(scheduling,
                  "a stop waits for the tick out, records it, then hands the lease "
                  "over") {
  start("node-a");
  run_job();
  REQUIRE(work.size() == 1);

  self->send(actor, actors::stop_atom::value);
  sched.run();
  CHECK(work.size() == 1);  // no release while the tick is out

  run_job();
  REQUIRE(run_until([&] { return work.size() == 1; }));  // recorded; now the release
  CHECK(recorded_ticks().size() == 1);
  run_job();
  CHECK_FALSE(leading->load());
  auto lease = store::read_lease(lease_conn, kLease);
  REQUIRE(lease);
  CHECK(lease->expired);  // a standby need not wait out the TTL
  actor = nullptr;
}

TEST_CASE_FIXTURE(scheduling,
                  "a lease call the database cannot answer leaves the node "
                  "standing by until it can") {
  lease_failures = 1;
  start("node-a");
  run_job();
  CHECK_FALSE(leading->load());
  CHECK(work.empty());  // no tick

  REQUIRE(sched.trigger_timeout());  // the next beat
  sched.run();
  REQUIRE(work.size() == 1);
  run_job();
  CHECK(leading->load());
  CHECK(work.size() == 1);  // and now the first tick
}

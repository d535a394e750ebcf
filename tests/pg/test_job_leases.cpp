// Job leases (spec §12.1): one holder per attempt, recovery of an expired lease with a new
// token, fenced finish and renewal, attempts that move forward only, and racing claimants.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "pg_fixture.hpp"
#include "services/job_lease_keeper.hpp"
#include "store/job_leases.hpp"

using namespace beampipe;
using namespace std::chrono_literals;

namespace {
const std::string kJob = "0190f0a0-0000-7000-8000-000000000001";

// Claims until the database sees the lease expired (bounded), for the recovery cases.
std::optional<store::job_claim> claim_when_free(pqxx::connection& c, const std::string& owner,
                                                int attempt) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto cl = store::claim_job(c, kJob, "discover_source", attempt, owner, 60s)) return cl;
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}
}  // namespace

TEST_CASE("a job attempt has one holder; an expired lease is recovered and the old token fenced") {
  auto ci = test::fresh_database();
  auto a = store::connect(ci), b = store::connect(ci);
  auto ca = store::claim_job(*a, kJob, "discover_source", 1, "node-a", 400ms);
  REQUIRE(ca);
  CHECK(ca->token == 1);
  CHECK_FALSE(ca->recovered);
  CHECK_FALSE(store::claim_job(*b, kJob, "discover_source", 1, "node-b", 60s));  // held
  // node-a stops renewing: node-b recovers the attempt with a new token.
  auto cb = claim_when_free(*b, "node-b", 1);
  REQUIRE(cb);
  CHECK(cb->token == 2);
  CHECK(cb->recovered);
  CHECK(cb->previous_owner == "node-a");
  CHECK(cb->recoveries == 1);
  // The former holder can neither renew nor finish.
  CHECK(store::renew_job_leases(*a, "node-a", {*ca}, 60s).empty());
  CHECK_FALSE(store::finish_job_lease(*a, *ca, "node-a", true, ""));
  CHECK(store::renew_job_leases(*b, "node-b", {*cb}, 60s) == std::vector<std::string>{kJob});
  CHECK(store::finish_job_lease(*b, *cb, "node-b", true, "complete_discovery"));
  // A finished attempt is never claimed again; the next attempt is, and an older one is not.
  CHECK_FALSE(store::claim_job(*a, kJob, "discover_source", 1, "node-a", 60s));
  auto next = store::claim_job(*a, kJob, "discover_source", 2, "node-a", 60s);
  REQUIRE(next);
  CHECK(next->token == 3);
  CHECK_FALSE(next->recovered);
  CHECK(store::finish_job_lease(*a, *next, "node-a", false, ""));  // released, not finished
  CHECK_FALSE(store::claim_job(*b, kJob, "discover_source", 1, "node-b", 60s));  // stale attempt
  auto again = store::claim_job(*b, kJob, "discover_source", 2, "node-b", 60s);
  REQUIRE(again);
  CHECK_FALSE(again->recovered);  // a released lease is free, not recovered
  pqxx::read_transaction tx{*a};
  auto h = tx.exec_params(
      "SELECT string_agg(owner || ':' || action || ':' || token, ',' ORDER BY id) FROM "
      "job_claim_history WHERE job_id = $1::uuid",
      kJob);
  CHECK(h[0][0].as<std::string>() ==
        "node-a:claimed:1,node-b:recovered:2,node-b:finished:2,node-a:claimed:3,"
        "node-a:released:3,node-b:claimed:4");
}

TEST_CASE("racing claimants of one attempt: exactly one wins") {
  auto ci = test::fresh_database();
  std::atomic<int> wins{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      auto c = store::connect(ci);
      if (store::claim_job(*c, kJob, "execute", 1, "node-" + std::to_string(i), 60s)) ++wins;
    });
  for (auto& t : ts) t.join();
  CHECK(wins == 1);
}

TEST_CASE("the keeper renews what it holds and reports a lease it lost") {
  auto ci = test::fresh_database();
  store::database db(ci);
  services::job_lease_keeper keeper(db, "node-k", 2000ms);
  auto mine = keeper.claim(kJob, "discover_source", 1);
  REQUIRE(mine);
  // Renewals keep it alive well past its first expiry: another node cannot take it.
  auto other = store::connect(ci);
  for (int i = 0; i < 6; ++i) {
    keeper.renew_now();
    CHECK_FALSE(store::claim_job(*other, kJob, "discover_source", 1, "node-x", 60s));
    std::this_thread::sleep_for(500ms);
  }
  CHECK(keeper.held(*mine));
  // Someone takes the lease from under it (as after a stall past expiry): the next renewal
  // notices, and the finish is refused.
  {
    pqxx::work tx{*other};
    tx.exec_params("UPDATE job_leases SET owner = 'node-x', token = token + 1 WHERE job_id = $1",
                   kJob);
    tx.commit();
  }
  keeper.renew_now();
  CHECK_FALSE(keeper.held(*mine));
  CHECK_FALSE(keeper.finish(*mine, true));
}

TEST_CASE("job_status_now: a queued job is running only while its lease is held and live") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto status = [&] {
    pqxx::read_transaction tx(*c);
    return tx
        .exec_params(
            "SELECT job_status_now(j.status, l.state, l.expires_at) FROM jobs j LEFT JOIN "
            "job_leases l ON l.job_id = j.id WHERE j.id = $1::uuid",
            kJob)[0][0]
        .as<std::string>();
  };
  {
    pqxx::work tx(*c);
    tx.exec_params(
        "INSERT INTO jobs (id, kind, status, project_module, subject, created_at, updated_at) "
        "VALUES ($1::uuid, 'discover_source', 'queued', 'm', 's', now(), now())",
        kJob);
    tx.commit();
  }
  CHECK(status() == "queued");
  auto claim = store::claim_job(*c, kJob, "discover_source", 1, "node-a", 60s);
  REQUIRE(claim);
  CHECK(status() == "running");
  {
    // The holder stopped renewing: the lease lapsed, the job waits again.
    pqxx::work tx(*c);
    tx.exec_params(
        "UPDATE job_leases SET expires_at = now() - interval '1 second' WHERE "
        "job_id = $1::uuid",
        kJob);
    tx.commit();
  }
  CHECK(status() == "queued");
  {
    pqxx::work tx(*c);
    tx.exec_params("UPDATE jobs SET status = 'completed' WHERE id = $1::uuid", kJob);
    tx.commit();
  }
  CHECK(status() == "completed");
}

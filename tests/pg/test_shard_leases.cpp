// Shard leases and fencing at the store (issue #23): an append carrying a shard lease token goes
// in only while that lease is current, so a paused or cut-off former owner can never write.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "pg_fixture.hpp"
#include "store/event_store.hpp"
#include "store/shard_leases.hpp"
#include "util/ids.hpp"

using namespace beampipe;
using namespace std::chrono_literals;
using store::expected_version;

namespace {
store::append_request fenced(const std::string& stream, std::optional<store::shard_fence> f) {
  store::append_request r{
      stream, expected_version::any_version(), {{util::uuid_v7(), "A", 1, "{}", "{}"}}};
  r.fence = std::move(f);
  return r;
}
void expire(pqxx::connection& c, int shard) {
  pqxx::work tx{c};
  tx.exec_params(
      "UPDATE shard_leases SET expires_at = clock_timestamp() - interval '1 second' "
      "WHERE shard = $1",
      shard);
  tx.commit();
}
}  // namespace

TEST_CASE("shard leases: taken once, renewed by their holder, released for the next") {
  auto c = store::connect(test::fresh_database());
  store::ensure_shards(*c, 8);
  store::ensure_shards(*c, 8);  // idempotent
  auto a = store::take_shards(*c, "node-a", {0, 1, 2}, 60s);
  REQUIRE(a.size() == 3);
  CHECK(store::take_shards(*c, "node-b", {1, 2, 3}, 60s) == std::map<int, int64_t>{{3, 1}});
  CHECK(store::renew_shards(*c, "node-a", a, 60s) == a);
  CHECK(store::renew_shards(*c, "node-b", a, 60s).empty());  // not its shards
  store::release_shards(*c, "node-a", {{1, a.at(1)}});
  auto b = store::take_shards(*c, "node-b", {1}, 60s);
  CHECK(b.at(1) == a.at(1) + 1);                                 // a new owner, a new token
  CHECK(store::renew_shards(*c, "node-a", a, 60s).size() == 2);  // shard 1 is gone
  pqxx::read_transaction tx{*c};
  auto all = store::read_shards(tx);
  REQUIRE(all.size() == 8);
  CHECK(all[1].owner == "node-b");
  CHECK(all[1].live);
  CHECK_FALSE(all[5].live);
}

TEST_CASE("fencing: only the current lease holder's appends go in") {
  auto c = store::connect(test::fresh_database());
  store::ensure_shards(*c, 4);
  auto a = store::take_shards(*c, "node-a", {2}, 60s);
  store::shard_fence mine{2, "node-a", a.at(2)};
  CHECK(store::append(*c, fenced("source-x", mine)).status == store::append_status::ok);
  auto stale_token = store::append(*c, fenced("source-x", store::shard_fence{2, "node-a", 99}));
  CHECK(stale_token.error_code == store::store_errc::fenced);
  auto other = store::append(*c, fenced("source-x", store::shard_fence{2, "node-b", a.at(2)}));
  CHECK(other.error_code == store::store_errc::fenced);
  // node-a pauses past its lease; node-b takes the shard over.
  expire(*c, 2);
  auto late = store::append(*c, fenced("source-x", mine));
  CHECK(late.status == store::append_status::error);
  CHECK(late.error_code == store::store_errc::fenced);
  auto b = store::take_shards(*c, "node-b", {2}, 60s);
  REQUIRE(b.count(2));
  CHECK(store::append(*c, fenced("source-x", mine)).error_code == store::store_errc::fenced);
  CHECK(store::append(*c, fenced("source-x", store::shard_fence{2, "node-b", b.at(2)})).status ==
        store::append_status::ok);
  CHECK(store::read_stream(*c, "source-x").size() == 2);  // nothing from a fenced append
  // A batch: the fenced request fails alone.
  auto res = store::append_batch(
      *c, {fenced("source-y", mine), fenced("source-z", store::shard_fence{2, "node-b", b.at(2)}),
           fenced("source-w", std::nullopt)});
  CHECK(res[0].error_code == store::store_errc::fenced);
  CHECK(res[1].status == store::append_status::ok);
  CHECK(res[2].status == store::append_status::ok);
}

TEST_CASE("fencing: a takeover waits for an append that already checked its lease") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  store::ensure_shards(*c, 4);
  auto a = store::take_shards(*c, "node-a", {1}, 300ms);
  // An append in flight: it has checked node-a's lease (FOR SHARE, as the store does) and not
  // yet committed when the lease expires.
  auto holder = store::connect(ci);
  pqxx::work open{*holder};
  open.exec("SELECT token FROM shard_leases WHERE shard = 1 FOR SHARE");
  // The lease runs out meanwhile (read by the database clock; reads take no row lock).
  for (bool over = false; !over;) {
    pqxx::read_transaction q{*c};
    over = q.exec("SELECT expires_at <= clock_timestamp() FROM shard_leases WHERE shard = 1")[0][0]
               .as<bool>();
    if (!over) std::this_thread::sleep_for(20ms);
  }
  std::atomic<bool> taken{false};
  std::map<int, int64_t> b;
  auto taker_conn = store::connect(ci);
  int taker_pid = 0;
  {
    pqxx::nontransaction q{*taker_conn};
    taker_pid = q.exec("SELECT pg_backend_pid()")[0][0].as<int>();
  }
  std::thread taker([&] {
    b = store::take_shards(*taker_conn, "node-b", {1}, 60s);
    taken = true;
  });
  // The taker is blocked on the lease row's lock (seen in pg_stat_activity, not by timing).
  bool waiting = false;
  for (int i = 0; i < 500 && !waiting; ++i) {
    pqxx::read_transaction q{*c};
    waiting = !q.exec_params(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND "
                    "wait_event_type = 'Lock'",
                    taker_pid)
                   .empty();
    if (!waiting) std::this_thread::sleep_for(10ms);
  }
  CHECK(waiting);
  CHECK_FALSE(taken.load());
  open.commit();
  taker.join();
  CHECK(b.count(1) == 1);
  CHECK(b.at(1) == a.at(1) + 1);
}

TEST_CASE("membership: a node's address, seen while it renews") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  {
    pqxx::work tx{*c};
    tx.exec(
        "INSERT INTO node_heartbeats (node_id, host, pid, roles, version, started_at, "
        "last_seen) VALUES ('n1', 'h', 1, 'api,workers', 'v', now(), now()), ('n2', 'h', 2, "
        "'api,workers', 'v', now(), now())");
    tx.commit();
  }
  store::renew_membership(*c, "n1", "127.0.0.1:7001");
  pqxx::read_transaction tx{*c};
  auto members = store::read_members(tx, 10s);
  REQUIRE(members.size() == 1);
  CHECK(members[0].node == "n1");
  CHECK(members[0].addr == "127.0.0.1:7001");
}

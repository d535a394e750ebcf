#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include "pg_fixture.hpp"
#include "store/event_store.hpp"
#include "store/group_appender.hpp"
#include "util/ids.hpp"

using namespace beampipe;
using store::expected_version;

namespace {
events::new_event ev(std::string type, std::string data = "{\"n\":1}") {
  return {util::uuid_v7(), std::move(type), 1, std::move(data), "{}"};
}
store::append_request req(std::string stream, expected_version exp,
                          std::vector<events::new_event> evs) {
  return {std::move(stream), exp, std::move(evs)};
}
}  // namespace

TEST_CASE("append and read back a stream") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto r = store::append(*c, req("source-a", expected_version::none(),
                                 {ev("A", "{\"x\": [1, 2.50, \"é\"]}"), ev("B")}));
  REQUIRE(r.status == store::append_status::ok);
  CHECK(r.first_version == 1);
  CHECK(r.last_version == 2);
  auto evs = store::read_stream(*c, "source-a");
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].type == "A");
  CHECK(evs[0].data == "{\"x\": [1, 2.50, \"é\"]}");  // byte-exact, not re-serialised
  CHECK(evs[0].stream_type == "source");
  CHECK(evs[1].stream_version == 2);
  CHECK(evs[1].position == r.last_position);
  CHECK(store::read_stream(*c, "source-a", 2).size() == 1);
}

TEST_CASE("expected version conflicts are typed errors and write nothing") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  REQUIRE(store::append(*c, req("source-a", expected_version::none(), {ev("A")})).status ==
          store::append_status::ok);
  auto again = store::append(*c, req("source-a", expected_version::none(), {ev("A")}));
  CHECK(again.status == store::append_status::conflict);
  CHECK(again.actual_version == 1);
  auto stale = store::append(*c, req("source-a", expected_version::at(5), {ev("B")}));
  CHECK(stale.status == store::append_status::conflict);
  auto missing = store::append(*c, req("source-b", expected_version::at(1), {ev("B")}));
  CHECK(missing.status == store::append_status::conflict);
  CHECK(missing.actual_version == -1);
  CHECK(store::read_stream(*c, "source-a").size() == 1);
  CHECK(store::read_stream(*c, "source-b").empty());
  auto ok = store::append(*c, req("source-a", expected_version::at(1), {ev("B")}));
  CHECK(ok.status == store::append_status::ok);
  auto any = store::append(*c, req("source-a", expected_version::any_version(), {ev("C")}));
  CHECK(any.last_version == 3);
}

TEST_CASE("re-appending the same event ids is idempotent; other content is a conflict") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto e1 = ev("A", "{\"k\":1}");
  auto e2 = ev("B", "{\"k\":2}");
  auto first = store::append(*c, req("execution-x", expected_version::none(), {e1, e2}));
  REQUIRE(first.status == store::append_status::ok);
  // A retry after an unknown commit outcome: same ids, same content, same expected version.
  auto retry = store::append(*c, req("execution-x", expected_version::none(), {e1, e2}));
  CHECK(retry.status == store::append_status::ok);
  CHECK(retry.idempotent_replay);
  CHECK(retry.first_version == first.first_version);
  CHECK(retry.last_version == first.last_version);
  CHECK(retry.last_position == first.last_position);
  CHECK(store::read_stream(*c, "execution-x").size() == 2);
  auto changed = e2;
  changed.data = "{\"k\":3}";
  auto bad = store::append(*c, req("execution-x", expected_version::any_version(), {e1, changed}));
  CHECK(bad.status == store::append_status::conflict);
  auto partial =
      store::append(*c, req("execution-x", expected_version::any_version(), {e1, ev("C")}));
  CHECK(partial.status == store::append_status::conflict);
  CHECK(store::read_stream(*c, "execution-x").size() == 2);
}

TEST_CASE("group commit: a conflicting stream fails alone, the others commit") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  REQUIRE(store::append(*c, req("source-b", expected_version::none(), {ev("A")})).status ==
          store::append_status::ok);
  std::vector<store::append_request> batch{
      req("source-a", expected_version::none(), {ev("A")}),
      req("source-b", expected_version::none(), {ev("A")}),  // conflicts: exists
      req("source-c", expected_version::none(), {ev("A"), ev("B")}),
      req("source-a", expected_version::at(1), {ev("B")}),     // same stream twice in one batch
      req("bad", expected_version::any_version(), {ev("A")}),  // invalid stream id
  };
  auto rs = store::append_batch(*c, batch);
  REQUIRE(rs.size() == 5);
  CHECK(rs[0].status == store::append_status::ok);
  CHECK(rs[1].status == store::append_status::conflict);
  CHECK(rs[2].status == store::append_status::ok);
  CHECK(rs[2].last_version == 2);
  CHECK(rs[3].status == store::append_status::ok);
  CHECK(rs[3].last_version == 2);
  CHECK(rs[4].status == store::append_status::error);
  CHECK(rs[4].error_code == store::store_errc::invalid);
  CHECK(store::read_stream(*c, "source-a").size() == 2);
  CHECK(store::read_stream(*c, "source-b").size() == 1);
  CHECK(store::read_stream(*c, "source-c").size() == 2);
}

TEST_CASE("race: concurrent writers on one stream get gap-free versions, one winner each") {
  auto ci = test::fresh_database();
  constexpr int kThreads = 8, kPerThread = 25;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> ts;
  std::vector<std::vector<std::string>> written(kThreads);
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      auto c = store::connect(ci);
      int done = 0;
      while (done < kPerThread) {
        auto cur = store::read_stream(*c, "source-race");
        auto e = ev("T", "{\"writer\":" + std::to_string(t) + "}");
        auto r = store::append(
            *c, req("source-race", expected_version::at(static_cast<int64_t>(cur.size())), {e}));
        if (r.status == store::append_status::ok) {
          written[t].push_back(e.event_id);
          ++done;
        } else {
          REQUIRE(r.status == store::append_status::conflict);
          ++conflicts;
        }
      }
    });
  for (auto& t : ts) t.join();
  auto c = store::connect(ci);
  auto all = store::read_stream(*c, "source-race");
  REQUIRE(all.size() == kThreads * kPerThread);
  std::set<std::string> ids;
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].stream_version == static_cast<int64_t>(i + 1));
    ids.insert(all[i].event_id);
  }
  for (const auto& w : written)
    for (const auto& id : w) CHECK(ids.count(id) == 1);
  MESSAGE("conflicts retried: " << conflicts.load());
}

TEST_CASE("group appender batches concurrent submissions") {
  auto ci = test::fresh_database();
  store::database db(ci);
  store::group_appender app(db);
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = app.append_sync(req("source-s" + std::to_string(t) + "x" + std::to_string(i),
                                     expected_version::none(), {ev("A")}));
        if (r.status == store::append_status::ok) ++ok;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(ok == 200);
  CHECK(app.stats().events == 200);
  auto c = store::connect(ci);
  CHECK(store::head_position(*c) == 200);
}

namespace {
// Inserts an event by hand inside an open transaction (a slow appender that has not committed).
void insert_raw(pqxx::work& tx, const std::string& stream, int64_t version) {
  tx.exec_params(
      "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, "
      "metadata) "
      "VALUES ($1::uuid, $2, 'source', $3, 'Slow', '{}', '{}')",
      util::uuid_v7(), stream, version);
}
}  // namespace

TEST_CASE("late commit: read_all never passes an open transaction's event (older xid)") {
  auto ci = test::fresh_database();
  auto a_conn = store::connect(ci);
  auto b_conn = store::connect(ci);
  auto reader = store::connect(ci);
  pqxx::work a{*a_conn};
  insert_raw(a, "source-slow", 1);  // A takes the older xid and the lower position
  REQUIRE(
      store::append(*b_conn, req("source-fast", expected_version::none(), {ev("Fast")})).status ==
      store::append_status::ok);
  // A is older than B and still running: neither may be handed out yet, or B would be
  // consumed before A and A would land behind the reader's checkpoint.
  CHECK(store::read_all(*reader, {}, 100).empty());
  a.commit();
  auto evs = store::read_all(*reader, {}, 100);
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].type == "Slow");
  CHECK(evs[1].type == "Fast");
}

TEST_CASE(
    "late commit: a lower position committed after a checkpoint is still read (younger xid)") {
  auto ci = test::fresh_database();
  auto a_conn = store::connect(ci);
  auto b_conn = store::connect(ci);
  auto reader = store::connect(ci);
  pqxx::work b{*b_conn};
  b.exec("SELECT pg_current_xact_id()");  // B takes the older xid first
  pqxx::work a{*a_conn};
  insert_raw(a, "source-slow", 1);  // A: younger xid, but the LOWER position
  insert_raw(b, "source-fast", 1);  // B: older xid, higher position
  b.commit();
  auto first = store::read_all(*reader, {}, 100);
  REQUIRE(first.size() == 1);
  CHECK(first[0].stream_id == "source-fast");
  auto checkpoint = events::position_of(first[0]);
  a.commit();
  auto next = store::read_all(*reader, checkpoint, 100);
  REQUIRE(next.size() == 1);
  CHECK(next[0].stream_id == "source-slow");
  CHECK(next[0].position < first[0].position);  // a bigserial cursor would have skipped it
  // Rebuild order equals live order.
  auto all = store::read_all(*reader, {}, 100);
  REQUIRE(all.size() == 2);
  CHECK(all[0].event_id == first[0].event_id);
  CHECK(all[1].event_id == next[0].event_id);
}

TEST_CASE("snapshots never move backwards") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  store::save_snapshot(*c, {"source-a", 10, 1, "{\"v\":10}"});
  store::save_snapshot(*c, {"source-a", 5, 1, "{\"v\":5}"});
  auto s = store::load_snapshot(*c, "source-a");
  REQUIRE(s);
  CHECK(s->version == 10);
  CHECK(!store::load_snapshot(*c, "source-b"));
}

TEST_CASE("migrations are recorded and re-running is a no-op") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  CHECK(store::migrate(*c).empty());
  auto st = store::check_migrations(*c);
  CHECK(st.current());
  CHECK(st.applied == st.latest);
}

TEST_CASE("global reads order transactions numerically, also across a change in digit count") {
  // The read order is (tx_id, position). Transaction ids are xid8; read as text "10" sorts
  // before "5", which once reordered (and so replayed twice or skipped) events after the
  // transaction counter passed 9999 → 10000 in a young cluster.
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  {
    pqxx::work tx{*c};
    for (auto [txid, version] : {std::pair<int, int>{10, 2}, {5, 1}, {100, 3}})
      tx.exec_params(
          "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, "
          "metadata, tx_id) VALUES ($1::uuid, 'source-x', 'source', $2, 'T', '{}', '{}', "
          "$3::text::xid8)",
          util::uuid_v7(), version, std::to_string(txid));
    tx.commit();
  }
  pqxx::read_transaction tx{*c};
  auto all = store::read_all(tx, {}, 10);
  REQUIRE(all.size() == 3);
  CHECK(all[0].tx_id == 5);
  CHECK(all[1].tx_id == 10);
  CHECK(all[2].tx_id == 100);
  auto rest = store::read_all(tx, events::position_of(all[0]), 10);  // continue after the first
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].tx_id == 10);
}

TEST_CASE("read_all without the payloads of some types: the same events in the same order") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  {
    pqxx::work tx{*c};
    int version = 0;
    for (const char* type : {"Kept", "Skipped", "Kept", "Skipped"})
      tx.exec_params(
          "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, "
          "metadata) VALUES ($1::uuid, 'source-x', 'source', $2, $3, '{\"n\": 1}', "
          "'{\"m\": 2}')",
          util::uuid_v7(), ++version, type);
    tx.commit();
  }
  pqxx::read_transaction tx{*c};
  auto whole = store::read_all(tx, {}, 10);
  auto sparse = store::read_all(tx, {}, 10, {"Skipped", "Absent"});
  REQUIRE(whole.size() == 4);
  REQUIRE(sparse.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(sparse[i].position == whole[i].position);
    CHECK(sparse[i].tx_id == whole[i].tx_id);
    CHECK(sparse[i].event_id == whole[i].event_id);
    CHECK(sparse[i].type == whole[i].type);
    CHECK(sparse[i].recorded_at == whole[i].recorded_at);
    CHECK(whole[i].data == R"({"n": 1})");
    if (whole[i].type == "Kept") {
      CHECK(sparse[i].data == whole[i].data);
      CHECK(sparse[i].metadata == whole[i].metadata);
    } else {
      CHECK(sparse[i].data.empty());
      CHECK(sparse[i].metadata.empty());
    }
  }
  CHECK(store::read_all(tx, events::position_of(sparse[1]), 10, {"Skipped"}).size() == 2);
}

// Issue #16: nothing the store accepts can stop a projection, and what a projection still cannot
// apply (an event written around the store, a projection bug) is a dead letter for that
// projection alone; the others, and the events after it, go on.
#include <doctest/doctest.h>

#include <future>
#include <thread>

#include "domain/aggregates.hpp"
#include "events/types.hpp"
#include "pg_fixture.hpp"
#include "projections/engine.hpp"
#include "projections/runner.hpp"
#include "projections/verify.hpp"
#include "store/event_store.hpp"
#include "util/ids.hpp"

using namespace beampipe;
using store::expected_version;
namespace json = boost::json;
namespace et = beampipe::events::type;

namespace {

std::shared_ptr<projections::engine> make_engine() {
  return std::make_shared<projections::engine>(projections::standard_projections());
}

json::object registration(const std::string& ident) {
  return {{"uuid", domain::source_uuid("m", ident)},
          {"project_module", "m"},
          {"source_identifier", ident},
          {"enabled", true}};
}

events::new_event event(const std::string& type, std::string data,
                        std::string metadata = "{\"actor\":\"test\"}") {
  return {util::uuid_v7(), type, 1, std::move(data), std::move(metadata)};
}

std::string nested(int depth) {
  std::string s = "{\"deep\":";
  for (int i = 0; i < depth; ++i) s += "[";
  for (int i = 0; i < depth; ++i) s += "]";
  return s + "}";
}

// Writes an event straight into the table, as a bug or an old build might have.
int64_t insert_raw(pqxx::connection& c, const std::string& stream, const std::string& data) {
  pqxx::work tx{c};
  auto r = tx.exec_params(
      "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, "
      "metadata) VALUES ($1::uuid, $2, 'source', 1, $3, $4::json, '{}') RETURNING position",
      util::uuid_v7(), stream, et::source_registered, data);
  tx.commit();
  return r[0][0].as<int64_t>();
}

int64_t count(pqxx::connection& c, const std::string& sql) {
  pqxx::read_transaction tx{c};
  return tx.exec(sql)[0][0].as<int64_t>();
}

}  // namespace

TEST_CASE("the store refuses what no reader can read, each request alone in its batch") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto good = json::serialize(registration("good"));
  auto stream = [](const std::string& ident) {
    return domain::source_stream_id(domain::source_uuid("m", ident));
  };
  std::vector<store::append_request> batch{
      {stream("good"), expected_version::none(), {event(et::source_registered, good)}},
      {"source-nul",
       expected_version::none(),
       {event(et::source_registered, R"({"source_identifier":"x\u0000y"})")}},
      {"source-deep", expected_version::none(), {event(et::source_registered, nested(80))}},
      {"source-utf8",
       expected_version::none(),
       {event(et::source_registered, "{\"source_identifier\":\"\xff\xfe\"}")}},
      {"source-array", expected_version::none(), {event(et::source_registered, "[1,2]")}},
      {"source-meta",
       expected_version::none(),
       {event(et::source_registered, good, "{\"correlation_id\":\"\xc3\x28\"}")}},
      {"source-key", expected_version::none(), {event(et::source_registered, R"({"a\u0000":1})")}},
      {stream("good2"),
       expected_version::none(),
       {event(et::source_registered, json::serialize(registration("good2")))}},
  };
  auto rs = store::append_batch(*c, batch);
  REQUIRE(rs.size() == batch.size());
  CHECK(rs.front().status == store::append_status::ok);
  CHECK(rs.back().status == store::append_status::ok);
  for (size_t i = 1; i + 1 < rs.size(); ++i) {
    INFO(batch[i].stream_id << ": " << rs[i].message);
    CHECK(rs[i].status == store::append_status::error);
    CHECK(rs[i].error_code == store::store_errc::invalid);
  }
  CHECK(count(*c, "SELECT count(*) FROM events") == 2);
  // What the store took, every projection reads.
  auto eng = make_engine();
  CHECK(eng->catch_up(*c, 100) == 2);
  CHECK(eng->dead_letters(*c).empty());
}

TEST_CASE("a poison event is a dead letter for its projections; the rest goes on") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto eng = make_engine();
  REQUIRE(
      store::append(*c, {domain::source_stream_id(domain::source_uuid("m", "before")),
                         expected_version::none(),
                         {event(et::source_registered, json::serialize(registration("before")))}})
          .status == store::append_status::ok);
  // jsonb refuses \u0000; the json column and the store's readers take it.
  auto nul = registration("x");
  auto nul_text = json::serialize(nul);
  nul_text.replace(nul_text.find("\"x\""), 3, "\"x\\u0000y\"");
  auto poison = insert_raw(*c, domain::source_stream_id(domain::source_uuid("m", "x")), nul_text);
  // Deeper than any reader parses.
  auto deep =
      insert_raw(*c, domain::source_stream_id(domain::source_uuid("m", "deep")), nested(300));
  REQUIRE(
      store::append(*c, {domain::source_stream_id(domain::source_uuid("m", "after")),
                         expected_version::none(),
                         {event(et::source_registered, json::serialize(registration("after")))}})
          .status == store::append_status::ok);

  CHECK(eng->catch_up(*c, 100) == 4);
  CHECK(count(*c,
              "SELECT count(*) FROM source_registry WHERE source_identifier IN "
              "('before', 'after')") == 2);
  for (const auto& cp : eng->checkpoints(*c)) {
    INFO(cp.name);
    CHECK(cp.at.position >= deep);  // every projection moved past both
  }
  auto letters = eng->dead_letters(*c);
  std::set<std::pair<int64_t, std::string>> got;
  for (const auto& d : letters) got.insert({d.position, d.projection});
  CHECK(got.count({poison, "source_registry"}) == 1);
  CHECK(got.count({deep, "source_registry"}) == 1);
  for (const auto& d : letters) {
    CHECK(d.event_type == et::source_registered);
    CHECK(!d.error.empty());
  }
  // Only the projections that handle the event hold a dead letter for it.
  for (const auto& d : letters) CHECK(d.projection != "batch_execution_record");

  // Applying again: exactly once, nothing recorded twice.
  CHECK(eng->catch_up(*c, 100) == 0);
  CHECK(eng->dead_letters(*c).size() == letters.size());

  // A retry that still fails keeps the letter and counts the attempt.
  auto again = eng->retry_dead_letter(*c, poison);
  REQUIRE(!again.empty());
  for (const auto& o : again) CHECK(!o.applied);
  for (const auto& d : eng->dead_letters(*c))
    if (d.position == poison) CHECK(d.attempts == 2);
  CHECK_THROWS_AS(eng->retry_dead_letter(*c, 999999), std::invalid_argument);

  // Once the cause is gone (here: the data mended by hand), the retry applies it exactly once.
  {
    pqxx::work tx{*c};
    tx.exec_params("UPDATE events SET data = $1::json WHERE position = $2",
                   json::serialize(registration("mended")), poison);
    tx.commit();
  }
  for (const auto& o : eng->retry_dead_letter(*c, poison)) CHECK(o.applied);
  CHECK(count(*c, "SELECT count(*) FROM source_registry WHERE source_identifier = 'mended'") == 1);
  for (const auto& d : eng->dead_letters(*c)) CHECK(d.position == deep);

  // Replay from scratch records the dead letters the same way, and equals the live models.
  auto report = projections::verify_replay(ci, make_engine);
  for (const auto& t : report.tables) {
    INFO(t.table);
    CHECK(t.equal());
  }
  eng->reset(*c);
  CHECK(eng->dead_letters(*c).empty());
  eng->catch_up(*c, 100);
  auto rebuilt = eng->dead_letters(*c);
  CHECK(!rebuilt.empty());
  for (const auto& d : rebuilt) CHECK(d.position == deep);
}

TEST_CASE("a runner held back by an open transaction tells waiters at once instead of hanging") {
  auto ci = test::fresh_database();
  projections::projection_watch watch;
  store::database db(ci);
  projections::runner run(db, make_engine(), watch);
  run.start();
  auto c = store::connect(ci);
  auto appended = [&](const std::string& ident) {
    auto r =
        store::append(*c, {domain::source_stream_id(domain::source_uuid("m", ident)),
                           expected_version::none(),
                           {event(et::source_registered, json::serialize(registration(ident)))}});
    REQUIRE(r.status == store::append_status::ok);
    return *store::read_position_of(*c, r.last_position);
  };
  auto first = appended("first");
  REQUIRE(watch.wait_for(first, std::chrono::steady_clock::now() + std::chrono::seconds(30)) ==
          projections::projection_watch::wait_result::reached);

  // An unrelated transaction with an xid stays open: later commits are hidden by the fence.
  auto blocker = store::connect(ci);
  pqxx::work held{*blocker};
  held.exec("SELECT pg_current_xact_id()");
  auto second = appended("second");
  auto result = watch.wait_for(second, std::chrono::steady_clock::now() + std::chrono::seconds(60));
  CHECK(result == projections::projection_watch::wait_result::stalled);
  CHECK(watch.failure().find("held back") != std::string::npos);
  CHECK(!watch.behind(second).empty());
  // A new waiter is told at once too.
  CHECK(watch.wait_for(second, std::chrono::steady_clock::now() + std::chrono::seconds(60)) ==
        projections::projection_watch::wait_result::stalled);

  held.commit();
  // The fence lifts: the event is applied and waiting works again.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!watch.reached(second) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(watch.reached(second));
  auto third = appended("third");
  CHECK(watch.wait_for(third, std::chrono::steady_clock::now() + std::chrono::seconds(30)) ==
        projections::projection_watch::wait_result::reached);

  // Shutdown ends every wait at once.
  watch.shutdown();
  CHECK(watch.wait_for({third.tx_id + 1000, third.position + 1000},
                       std::chrono::steady_clock::now() + std::chrono::seconds(60)) ==
        projections::projection_watch::wait_result::stopping);
  run.stop();
}

#include <doctest/doctest.h>

#include <thread>

#include "actors/protocol.hpp"
#include "actors/runtime.hpp"
#include "domain/aggregates.hpp"
#include "pg_fixture.hpp"
#include "store/event_store.hpp"
#include "test_commands.hpp"

using namespace beampipe;
using beampipe::actors::outcome;
namespace json = boost::json;

namespace {

actors::runtime_options options() {
  actors::runtime_options o;
  o.node_id = "test-node";
  o.blocking_threads = 2;
  o.snapshot_every = 5;
  return o;
}

actors::command_reply send(actors::runtime& rt, const std::string& stream, const std::string& name,
                           json::object body) {
  return rt.send_sync(test::command(stream, name, std::move(body)));
}

json::object reg(const std::string& ident, bool enabled) {
  return {{"project_module", "wallaby_hires"}, {"source_identifier", ident}, {"enabled", enabled}};
}

}  // namespace

TEST_CASE("source aggregate: register is unique per (module, identifier) and upserts enabled") {
  auto ci = test::fresh_database();
  store::database db(ci);
  actors::runtime rt(db, options());
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "HIPASSJ1313-15"));
  auto r1 = send(rt, sid, "register", reg("HIPASSJ1313-15", false));
  CHECK(r1.result == outcome::created);
  CHECK(r1.events_appended == 1);
  CHECK(r1.position > 0);
  auto r2 = send(rt, sid, "register", reg("HIPASSJ1313-15", false));
  CHECK(r2.result == outcome::done);
  CHECK(r2.events_appended == 0);  // same enabled: nothing to record
  CHECK(r2.position == r1.position);
  auto r3 = send(rt, sid, "register", reg("HIPASSJ1313-15", true));
  CHECK(r3.events_appended == 1);
  auto bad = send(rt, sid, "register", {{"project_module", "wallaby_hires"}});
  CHECK(bad.result == outcome::invalid);
  CHECK(bad.field == "source_identifier");
  auto wrong = send(rt, sid, "register", reg("OTHER", true));
  CHECK(wrong.result ==
        outcome::invalid);  // the stream is derived from the key; no cross-stream writes
  auto c = store::connect(ci);
  auto evs = store::read_stream(*c, sid);
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].metadata.find("corr-1") != std::string::npos);
  CHECK(evs[0].metadata.find("test-node") != std::string::npos);
}

TEST_CASE("source aggregate: update and soft delete") {
  auto ci = test::fresh_database();
  store::database db(ci);
  actors::runtime rt(db, options());
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "S1"));
  CHECK(send(rt, sid, "update", {{"enabled", true}}).result == outcome::not_found);
  CHECK(send(rt, sid, "register", reg("S1", false)).result == outcome::created);
  CHECK(send(rt, sid, "update", {{"stale_after_hours", "x"}}).field == "stale_after_hours");
  CHECK(send(rt, sid, "update", {{"bogus", 1}}).result == outcome::invalid);
  CHECK(send(rt, sid, "update", {{"enabled", true}, {"stale_after_hours", 12}}).events_appended ==
        2);
  CHECK(send(rt, sid, "delete", {}).events_appended == 1);
  CHECK(send(rt, sid, "delete", {}).result == outcome::not_found);
  CHECK(send(rt, sid, "update", {{"enabled", false}}).result == outcome::not_found);
  // Re-registering after deletion brings it back (history kept).
  CHECK(send(rt, sid, "register", reg("S1", true)).events_appended == 1);
  auto c = store::connect(ci);
  CHECK(store::read_stream(*c, sid).size() == 5);
}

TEST_CASE("execution aggregate: create, illegal transitions refused, cancel") {
  auto ci = test::fresh_database();
  store::database db(ci);
  actors::runtime rt(db, options());
  auto xid = domain::execution_stream_id(util::uuid_v7());
  json::object create{{"project_module", "wallaby_hires"},
                      {"archive_name", "casda"},
                      {"sources", json::array{json::object{{"source_identifier", "HIPASSJ1313-15"},
                                                           {"sbids", json::array{"12345"}}}}}};
  CHECK(send(rt, xid, "cancel", {}).result == outcome::not_found);
  CHECK(send(rt, xid, "create", create).result == outcome::created);
  CHECK(send(rt, xid, "create", create).result == outcome::conflict);
  auto illegal = send(rt, xid, "start", {});
  CHECK(illegal.result == outcome::conflict);
  CHECK(illegal.code == "execute_not_requested");
  CHECK(send(rt, xid, "request_execute", {{"do_stage", "yes"}}).result == outcome::invalid);
  CHECK(send(rt, xid, "request_execute", {{"do_stage", false}}).events_appended == 1);
  CHECK(send(rt, xid, "request_execute", {{"do_stage", false}}).events_appended == 0);  // same job
  CHECK(send(rt, xid, "request_execute", {{"do_stage", true}}).result == outcome::conflict);
  CHECK(send(rt, xid, "start", {}).events_appended == 1);
  CHECK(send(rt, xid, "cancel", {{"reason", "operator"}}).events_appended == 1);
  auto again = send(rt, xid, "cancel", {});
  CHECK(again.result == outcome::conflict);
  CHECK(send(rt, xid, "start", {}).result == outcome::conflict);  // cancelled is terminal

  auto dup = create;
  dup["sources"] = json::array{json::object{{"source_identifier", "A"}},
                               json::object{{"source_identifier", "A"}}};
  auto r = send(rt, domain::execution_stream_id(util::uuid_v7()), "create", dup);
  CHECK(r.result == outcome::invalid);
  CHECK(r.field == "sources[1].source_identifier");
}

TEST_CASE("aggregate recovery: after passivation and after a process restart") {
  auto ci = test::fresh_database();
  store::database db(ci);
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "R1"));
  {
    actors::runtime rt(db, options());
    CHECK(send(rt, sid, "register", reg("R1", true)).result == outcome::created);
    // 12 toggles: crosses the snapshot interval twice.
    for (int i = 0; i < 12; ++i)
      REQUIRE(send(rt, sid, "update", {{"enabled", i % 2 == 0 ? false : true}}).events_appended ==
              1);
    rt.passivate(sid);
    // State comes back from snapshot + tail: enabled is true now, so this changes nothing.
    auto r = send(rt, sid, "register", reg("R1", true));
    CHECK(r.result == outcome::done);
    CHECK(r.events_appended == 0);
    CHECK(r.version == 13);
  }
  auto c = store::connect(ci);
  auto snap = store::load_snapshot(*c, sid);
  REQUIRE(snap);
  CHECK(snap->version >= 10);
  {
    actors::runtime rt(db, options());  // a new process
    auto r = send(rt, sid, "update", {{"enabled", true}});
    CHECK(r.events_appended == 0);
    CHECK(r.version == 13);
    CHECK(send(rt, sid, "update", {{"enabled", false}}).version == 14);
  }
  // Without a snapshot the stream alone gives the same state.
  {
    pqxx::work tx{*c};
    tx.exec("DELETE FROM snapshots");
    tx.commit();
  }
  actors::runtime rt(db, options());
  auto r = send(rt, sid, "update", {{"enabled", false}});
  CHECK(r.events_appended == 0);
  CHECK(r.version == 14);
}

TEST_CASE("a snapshot of another state version is ignored and the state rebuilt from events") {
  auto ci = test::fresh_database();
  store::database db(ci);
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "V1"));
  {
    actors::runtime rt(db, options());
    CHECK(send(rt, sid, "register", reg("V1", true)).result == outcome::created);
  }
  // A snapshot that claims the source is disabled, as a build with another state shape wrote it.
  auto c = store::connect(ci);
  auto lying = [&](int state_version) {
    const auto& kind = domain::source_aggregate();
    auto state = kind.initial();
    kind.apply(state, "SourceRegistered",
               {{"uuid", domain::source_uuid("wallaby_hires", "V1")},
                {"project_module", "wallaby_hires"},
                {"source_identifier", "V1"},
                {"enabled", false}},
               "");
    store::save_snapshot(*c,
                         {sid, 1, state_version,
                          json::serialize(json::object{{"state", state}, {"last_position", 1}})});
  };
  lying(domain::source_aggregate().state_version + 1);
  {
    actors::runtime rt(db, options());
    // Read from the events, enabled is already true: nothing to record.
    CHECK(send(rt, sid, "update", {{"enabled", true}}).events_appended == 0);
  }
  {
    pqxx::work tx{*c};
    tx.exec("DELETE FROM snapshots");
    tx.commit();
  }
  lying(domain::source_aggregate().state_version);
  actors::runtime rt(db, options());
  // The same snapshot at the current version is believed (which is what makes the first check
  // meaningful): the actor thinks the source is disabled and records the change.
  CHECK(send(rt, sid, "update", {{"enabled", true}}).events_appended == 1);
  rt.passivate(sid);
  // A snapshot at the current version whose state this build cannot read: ignored too.
  {
    pqxx::work tx{*c};
    tx.exec("DELETE FROM snapshots");
    tx.commit();
  }
  store::save_snapshot(*c, {sid, 2, domain::source_aggregate().state_version,
                            json::serialize(json::object{{"state", json::object{{"exists", "yes"}}},
                                                         {"last_position", 2}})});
  auto r = send(rt, sid, "update", {{"enabled", false}});
  CHECK(r.result == outcome::done);
  CHECK(r.events_appended == 1);
  CHECK(r.version == 3);
}

TEST_CASE("a writer on another node: conflict reloads and decides again") {
  auto ci = test::fresh_database();
  store::database db(ci);
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "N1"));
  store::database db_a(ci), db_b(ci);  // two processes
  actors::runtime node_a(db_a, options());
  actors::runtime node_b(db_b, options());
  CHECK(send(node_a, sid, "register", reg("N1", false)).result == outcome::created);
  CHECK(send(node_b, sid, "update", {{"enabled", true}}).events_appended == 1);
  // node_a's actor still believes enabled=false at version 1; its append conflicts, it
  // reloads (enabled=true, version 2) and decides again: nothing left to do.
  auto r = send(node_a, sid, "update", {{"enabled", true}});
  CHECK(r.result == outcome::done);
  CHECK(r.events_appended == 0);
  CHECK(r.version == 2);
  auto c = store::connect(ci);
  CHECK(store::read_stream(*c, sid).size() == 2);
}

TEST_CASE("idle aggregates are passivated and come back on demand") {
  auto ci = test::fresh_database();
  store::database db(ci);
  auto o = options();
  // Long enough that the aggregate is still live when the counts are read right after the
  // command (the registry passivates after at least one quiet period), short enough to wait for.
  o.idle_after = std::chrono::milliseconds(400);
  actors::runtime rt(db, o);
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "P1"));
  CHECK(send(rt, sid, "register", reg("P1", true)).result == outcome::created);
  CHECK(rt.stats().live_aggregates == 1);
  CHECK(rt.stats().live_by_kind.at("source") == 1);  // the metrics' per-kind gauge
  // Wait (bounded) for the idle check to passivate it; no assertion on how long it takes.
  for (int i = 0; i < 1000 && rt.stats().live_aggregates != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(rt.stats().live_aggregates == 0);
  CHECK(rt.stats().live_by_kind.at("source") == 0);
  auto r = send(rt, sid, "register", reg("P1", true));
  CHECK(r.events_appended == 0);  // recovered: already enabled
  CHECK(r.version == 1);
}

TEST_CASE("a refusal crosses the typed protocol as a command error, every field kept") {
  using actors::outcome;
  for (auto o :
       {outcome::invalid, outcome::unauthenticated, outcome::not_found, outcome::conflict,
        outcome::invalid_document, outcome::unavailable, outcome::timed_out, outcome::failed}) {
    actors::command_reply r;
    r.result = o;
    r.code = "some_code";
    r.message = "why, in words";
    r.field = "sources[1].source_identifier";
    r.details_json = R"({"diagnostics":[]})";
    r.stream_id = "source-x";
    r.version = 7;
    r.position = 42;
    r.not_applied = o == outcome::unavailable;  // refused before anything was written
    auto e = actors::command_error_of(r);
    CHECK(e.category() == actors::kCommandErrorCategory);
    auto back = actors::reply_of(e);
    CHECK(static_cast<int>(back.result) == static_cast<int>(o));
    CHECK(back.code == r.code);
    CHECK(back.message == r.message);
    CHECK(back.field == r.field);
    CHECK(back.details_json == r.details_json);
    CHECK(back.stream_id == r.stream_id);
    CHECK(back.version == 7);
    CHECK(back.position == 42);
    CHECK(back.not_applied == (o == outcome::unavailable));
  }
  // CAF's own errors: a lost receiver fails the command, the backstop deadline times it out.
  CHECK(actors::reply_of(caf::make_error(caf::sec::request_receiver_down)).code ==
        "command_dropped");
  CHECK(actors::reply_of(caf::make_error(caf::sec::request_timeout)).result == outcome::timed_out);
}

TEST_CASE("a refused command's reply carries the stream's version and position") {
  auto ci = test::fresh_database();
  store::database db(ci);
  actors::runtime rt(db, options());
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "REFUSED1"));
  auto made = send(rt, sid, "register", reg("REFUSED1", true));
  REQUIRE(made.result == outcome::created);
  auto bad = send(rt, sid, "update", {{"stale_after_hours", "x"}});
  CHECK(bad.result == outcome::invalid);
  CHECK(bad.field == "stale_after_hours");
  CHECK(bad.stream_id == sid);
  CHECK(bad.version == made.version);
  CHECK(bad.position == made.position);
  // An unknown stream kind is refused by the registry, before any aggregate exists.
  auto unknown = send(rt, "nosuchkind-1", "register", {});
  CHECK(unknown.result == outcome::invalid);
  CHECK(unknown.code == "unknown_stream_type");
  CHECK(rt.stats().live_aggregates == 1);
}

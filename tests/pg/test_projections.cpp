#include <doctest/doctest.h>

#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "domain/aggregates.hpp"
#include "events/types.hpp"
#include "pg_fixture.hpp"
#include "projections/catch_up.hpp"
#include "projections/engine.hpp"
#include "projections/verify.hpp"
#include "store/event_store.hpp"
#include "store/group_appender.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/time.hpp"
#include "workload.hpp"

using namespace beampipe;
using store::expected_version;
namespace json = boost::json;
namespace et = beampipe::events::type;

using test::make_event;
using test::workload;

namespace {

std::shared_ptr<projections::engine> make_engine() {
  return std::make_shared<projections::engine>(projections::standard_projections());
}

// The random workload's next `appends` append requests, each appended alone.
void append_workload(const std::string& ci, int appends) {
  workload w;
  store::database db(ci);
  store::group_appender app(db);
  for (int i = 0; i < appends; ++i)
    if (auto r = w.next()) REQUIRE(app.append_sync(*r).status == store::append_status::ok);
}

std::vector<projections::table_digest> digests(pqxx::connection& c, projections::engine& eng) {
  pqxx::read_transaction tx{c};
  return projections::digest_tables(tx, eng.all_tables());
}

}  // namespace

TEST_CASE("projections fold source and execution events into the read models") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto uuid = domain::source_uuid("wallaby_hires", "HIPASSJ1313-15");
  auto sid = domain::source_stream_id(uuid);
  json::object base{
      {"uuid", uuid}, {"project_module", "wallaby_hires"}, {"source_identifier", "HIPASSJ1313-15"}};
  auto reg = base;
  reg["enabled"] = false;
  auto en = base;
  en["enabled"] = true;
  REQUIRE(store::append(*c, {sid,
                             expected_version::none(),
                             {make_event(et::source_registered, reg),
                              make_event(et::source_enabled_changed, en)}})
              .status == store::append_status::ok);
  auto eng = make_engine();
  CHECK(eng->catch_up(*c, 100) == 2);
  pqxx::read_transaction tx{*c};
  auto r = tx.exec_params(
      "SELECT enabled, stream_version, source_identifier FROM source_registry WHERE uuid = "
      "$1::uuid",
      uuid);
  REQUIRE(r.size() == 1);
  CHECK(r[0][0].as<bool>());
  CHECK(r[0][1].as<int>() == 2);
  auto prov =
      tx.exec("SELECT event_type, actor, correlation_id FROM provenance_events ORDER BY position");
  REQUIRE(prov.size() == 2);
  CHECK(prov[0][0].as<std::string>() == "source.registered");
  CHECK(prov[1][0].as<std::string>() == "source.updated");
  CHECK(prov[0][1].as<std::string>() == "test");
  CHECK(prov[0][2].as<std::string>() == "c-1");
}

TEST_CASE("projection engine does not skip a late commit") {
  auto ci = test::fresh_database();
  auto a_conn = store::connect(ci);
  auto c = store::connect(ci);
  auto eng = make_engine();
  auto uuid_a = domain::source_uuid("m", "slow");
  auto uuid_b = domain::source_uuid("m", "fast");
  auto reg = [](const std::string& uuid, const std::string& ident) {
    return json::object{
        {"uuid", uuid}, {"project_module", "m"}, {"source_identifier", ident}, {"enabled", true}};
  };
  // The slow transaction takes a younger xid but the lower position.
  auto b_conn = store::connect(ci);
  pqxx::work b{*b_conn};
  b.exec("SELECT pg_current_xact_id()");
  pqxx::work a{*a_conn};
  a.exec_params(
      "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, "
      "metadata) "
      "VALUES ($1::uuid, $2, 'source', 1, $3, $4::json, '{}')",
      util::uuid_v7(), domain::source_stream_id(uuid_a), et::source_registered,
      json::serialize(reg(uuid_a, "slow")));
  b.exec_params(
      "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, data, "
      "metadata) "
      "VALUES ($1::uuid, $2, 'source', 1, $3, $4::json, '{}')",
      util::uuid_v7(), domain::source_stream_id(uuid_b), et::source_registered,
      json::serialize(reg(uuid_b, "fast")));
  b.commit();
  CHECK(eng->catch_up(*c, 100) == 1);
  a.commit();
  CHECK(eng->catch_up(*c, 100) == 1);
  pqxx::read_transaction tx{*c};
  CHECK(tx.exec("SELECT count(*) FROM source_registry")[0][0].as<int>() == 2);
  CHECK(tx.exec("SELECT count(*) FROM provenance_events")[0][0].as<int>() == 2);
}

TEST_CASE("exactly once: a failure between apply and checkpoint leaves nothing behind") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  append_workload(ci, 300);
  auto eng = make_engine();
  auto before = digests(*c, *eng);
  int calls = 0;
  eng->before_commit = [&] {
    // A failure that is not the events' (the connection drops): nothing may be committed.
    if (++calls == 2) throw pqxx::broken_connection("injected failure");
  };
  CHECK(eng->step(*c, 50) == 50);
  CHECK_THROWS_WITH(eng->step(*c, 50), "injected failure");
  auto cps = eng->checkpoints(*c);
  for (const auto& cp : cps) CHECK(cp.at.position > 0);
  auto after_first = cps;
  eng->before_commit = nullptr;
  eng->catch_up(*c, 50);
  // The same events applied by a fresh engine in one go give identical tables.
  auto live = digests(*c, *eng);
  CHECK(live != before);
  auto ci2 = test::fresh_database();
  auto c2 = store::connect(ci2);
  pqxx::work copy{*c2};
  auto evs = store::read_all(*c, {}, 100000);
  for (const auto& e : evs)
    copy.exec_params(
        "INSERT INTO events (event_id, stream_id, stream_type, stream_version, event_type, "
        "schema_version, data, "
        "metadata, recorded_at) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::json, $8::json, "
        "$9::timestamptz)",
        e.event_id, e.stream_id, e.stream_type, e.stream_version, e.type, e.schema_version, e.data,
        e.metadata, e.recorded_at);
  copy.commit();
  auto eng2 = make_engine();
  eng2->catch_up(*c2, 100000);
  auto clean = digests(*c2, *eng2);
  for (size_t i = 0; i < live.size(); ++i) {
    INFO(live[i].table);
    CHECK(live[i].rows == clean[i].rows);
    // provenance rows carry the global position, which differs in the copy: compare the rest.
    if (live[i].table != "provenance_events") CHECK(live[i].md5 == clean[i].md5);
  }
}

TEST_CASE("rebuild equals live after a random workload of 10,000 events") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  workload w;
  store::database db(ci);
  store::group_appender app(db);
  auto eng = make_engine();
  size_t events = 0;
  std::vector<std::thread> writers;
  // Appends in concurrent bursts while the live engine applies small batches.
  while (events < 10'000) {
    std::vector<store::append_request> burst;
    while (burst.size() < 64)
      if (auto r = w.next()) burst.push_back(std::move(*r));
    std::vector<std::future<store::append_result>> fs;
    for (auto& r : burst) {
      auto p = std::make_shared<std::promise<store::append_result>>();
      fs.push_back(p->get_future());
      app.submit(r, [p](store::append_result res) { p->set_value(std::move(res)); });
    }
    for (size_t i = 0; i < fs.size(); ++i) {
      auto res = fs[i].get();
      REQUIRE(res.status == store::append_status::ok);
      events += burst[i].events.size();
    }
    eng->step(*c, 97);
  }
  eng->catch_up(*c, 500);
  auto report = projections::verify_replay(ci, make_engine);
  CHECK(report.events_replayed >= 10'000);
  for (const auto& t : report.tables) {
    INFO(t.table);
    CHECK(t.live.rows > 0);
    CHECK(t.equal());
  }
  CHECK(report.ok());
  // Full rebuild from position 0 gives the same bytes too.
  auto live = digests(*c, *eng);
  eng->reset(*c);
  eng->catch_up(*c, 2000);
  CHECK(digests(*c, *eng) == live);
  // And verify notices a tampered read model, naming the table.
  {
    pqxx::work tx{*c};
    tx.exec(
        "UPDATE source_registry SET enabled = NOT enabled WHERE uuid = (SELECT uuid FROM "
        "source_registry LIMIT 1)");
    tx.commit();
  }
  auto bad = projections::verify_replay(ci, make_engine);
  CHECK_FALSE(bad.ok());
  for (const auto& t : bad.tables) CHECK(t.equal() == (t.table != "source_registry"));
}

namespace {

// A projection of its own table: SourceRegistered puts a row with a wide JSON column;
// SourceEnabledChanged sets `flag` (null when disabled) and leaves every other column alone.
class probe_projection : public projections::projection {
 public:
  std::string name() const override { return "engine_probe"; }
  std::vector<projections::table_spec> tables() const override {
    return {{"engine_probe", "id", "text"}};
  }
  bool handles(const std::string& t) const override {
    return t == et::source_registered || t == et::source_enabled_changed;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("engine_probe", e.stream_id);
  }
  void apply(const events::recorded_event& e, const json::object& data,
             projections::row_cache& rows) const override {
    if (e.type == et::source_registered) {
      json::array wide;
      for (int i = 0; i < 500; ++i) wide.push_back(json::value("item-" + std::to_string(i)));
      rows.put("engine_probe", e.stream_id,
               {{"id", e.stream_id}, {"flag", "off"}, {"wide", wide}, {"version", 1}});
      return;
    }
    auto* row = rows.edit("engine_probe", e.stream_id);
    REQUIRE(row);
    (*row)["flag"] = data.at("enabled").as_bool() ? json::value("on") : json::value(nullptr);
    rows.mark_dirty("engine_probe", e.stream_id);
  }
};

}  // namespace

TEST_CASE("an update writes only the columns an event changed, and no unchanged row") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  {
    pqxx::work tx{*c};
    tx.exec(
        "CREATE TABLE engine_probe (id text PRIMARY KEY, flag text, wide jsonb, version bigint)");
    tx.commit();
  }
  projections::engine eng({std::make_shared<probe_projection>()});
  auto uuid = domain::source_uuid("wallaby_hires", "HIPASSJ1313-15");
  auto sid = domain::source_stream_id(uuid);
  json::object base{
      {"uuid", uuid}, {"project_module", "wallaby_hires"}, {"source_identifier", "HIPASSJ1313-15"}};
  auto with = [&](bool enabled) {
    auto o = base;
    o["enabled"] = enabled;
    return o;
  };
  auto append = [&](const std::string& type, const json::object& data) {
    store::append_request req{sid, expected_version::any_version(), {make_event(type, data)}};
    REQUIRE(store::append(*c, req).status == store::append_status::ok);
    CHECK(eng.catch_up(*c, 1) == 1);
  };
  // The row's version (xmin) changes only when the row is written.
  auto row = [&] {
    pqxx::read_transaction tx{*c};
    auto r = tx.exec(
        "SELECT xmin::text, coalesce(flag, '<null>'), jsonb_array_length(wide), version FROM "
        "engine_probe");
    REQUIRE(r.size() == 1);
    return std::tuple{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<int>(),
                      r[0][3].as<int>()};
  };
  append(et::source_registered, with(false));
  auto [x0, flag0, wide0, v0] = row();
  CHECK(flag0 == "off");
  CHECK(wide0 == 500);

  append(et::source_enabled_changed, with(true));  // flag: off -> on
  auto [x1, flag1, wide1, v1] = row();
  CHECK(x1 != x0);
  CHECK(flag1 == "on");
  CHECK(wide1 == 500);
  CHECK(v1 == 1);

  append(et::source_enabled_changed, with(true));  // on -> on: nothing to write
  auto [x2, flag2, wide2, v2] = row();
  CHECK(x2 == x1);
  CHECK(flag2 == "on");

  append(et::source_enabled_changed, with(false));  // on -> null
  auto [x3, flag3, wide3, v3] = row();
  CHECK(x3 != x2);
  CHECK(flag3 == "<null>");
  CHECK(wide3 == 500);
  CHECK(v3 == 1);
}

namespace {

// Puts one row per registered source "VALUES-<i>" into `engine_values` (values COPY can carry
// in every column) and `engine_values_mixed` (row 50 has a fraction and an object in text
// columns, which only the JSON path reads as jsonb's text of them).
class values_projection : public projections::projection {
 public:
  std::string name() const override { return "engine_values"; }
  std::vector<projections::table_spec> tables() const override {
    return {{"engine_values", "id", "text"}, {"engine_values_mixed", "id", "text"}};
  }
  bool handles(const std::string& t) const override { return t == et::source_registered; }
  void keys(const events::recorded_event&, const json::object&,
            std::vector<std::pair<std::string, std::string>>&) const override {}
  void apply(const events::recorded_event&, const json::object& data,
             projections::row_cache& rows) const override {
    auto ident = std::string(data.at("source_identifier").as_string());
    int i = std::stoi(ident.substr(ident.find('-') + 1));
    static const std::vector<json::value> texts{json::value("plain"),
                                                json::value("tab\there"),
                                                json::value("new\nline\r"),
                                                json::value("back\\slash \\N"),
                                                json::value("\\."),
                                                json::value(""),
                                                json::value("ünïcødé ✓"),
                                                json::value(nullptr),
                                                json::value(-42),
                                                json::value(true),
                                                json::value(uint64_t(18446744073709551615ull))};
    static const std::vector<json::value> docs{
        json::value("a string"),
        json::value(nullptr),
        json::parse(R"({"k": "tab\t\\ \"q\" \u00e9", "n": [1, 2.5, -3e-7, null, false]})"),
        json::parse("[]"),
        json::value(1.5),
        json::value(uint64_t(18446744073709551615ull)),
        json::parse(R"({"deep": {"er": {"est": [[["x"]]]}}})")};
    json::object row{{"id", ident},
                     {"t", texts[i % texts.size()]},
                     {"j", docs[i % docs.size()]},
                     {"n", i % 3 == 0 ? json::value(nullptr) : json::value(i * 1000003LL)},
                     {"f", i % 4 == 0 ? json::value(nullptr) : json::value(i / 7.0)},
                     {"b", i % 5 == 0 ? json::value(nullptr) : json::value(i % 2 == 0)},
                     {"ts", "2026-12-07T10:00:00." + std::to_string(100000 + i) + "Z"}};
    auto mixed = row;
    if (i == 50) mixed["t"] = 2.25;
    if (i == 51) mixed["t"] = json::parse(R"({"b": 1, "a": [1, 2]})");
    rows.put("engine_values", ident, std::move(row));
    rows.put("engine_values_mixed", ident, std::move(mixed));
  }
};

}  // namespace

TEST_CASE("rows inserted by COPY read back exactly as rows inserted as JSON") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  {
    pqxx::work tx{*c};
    for (const char* t : {"engine_values", "engine_values_mixed"})
      tx.exec(std::string("CREATE TABLE ") + t +
              " (id text PRIMARY KEY, t text, j jsonb, n bigint, f float8, b bool, ts "
              "timestamptz)");
    tx.commit();
  }
  for (int i = 0; i < 200; ++i) {
    auto ident = "VALUES-" + std::to_string(i);
    auto uuid = domain::source_uuid("wallaby_hires", ident);
    json::object data{{"uuid", uuid},
                      {"project_module", "wallaby_hires"},
                      {"source_identifier", ident},
                      {"enabled", true}};
    store::append_request req{domain::source_stream_id(uuid),
                              expected_version::none(),
                              {make_event(et::source_registered, data)}};
    REQUIRE(store::append(*c, req).status == store::append_status::ok);
  }
  auto contents = [&](const std::string& table) {
    pqxx::read_transaction tx{*c};
    std::vector<std::string> out;
    for (const auto& r : tx.exec("SELECT row_to_json(x)::text FROM " + table + " x ORDER BY id"))
      out.push_back(r[0].as<std::string>());
    return out;
  };
  projections::engine eng({std::make_shared<values_projection>()});
  // One event per batch: every row goes in as JSON.
  CHECK(eng.catch_up(*c, 1) == 200);
  CHECK(eng.rows_copied() == 0);
  auto as_json = contents("engine_values");
  auto mixed_as_json = contents("engine_values_mixed");
  REQUIRE(as_json.size() == 200);
  // The JSON path's reading of the values the COPY path declines.
  CHECK(mixed_as_json[std::find_if(mixed_as_json.begin(), mixed_as_json.end(),
                                   [](const auto& r) {
                                     return r.find("VALUES-51\"") != std::string::npos;
                                   }) -
                      mixed_as_json.begin()]
            .find(R"("t":"{\"a\": [1, 2], \"b\": 1}")") != std::string::npos);

  eng.reset(*c);
  CHECK(eng.catch_up(*c, 1000) == 200);
  // engine_values went by COPY; engine_values_mixed could not, and went as JSON.
  CHECK(eng.rows_copied() == 200);
  CHECK(contents("engine_values") == as_json);
  CHECK(contents("engine_values_mixed") == mixed_as_json);
}

TEST_CASE("catching every group up at once gives what one engine's catch-up gives") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  append_workload(ci, 3000);
  auto head = store::head_position(*c);
  auto eng = make_engine();
  eng->catch_up(*c, 500);
  auto once = digests(*c, *eng);
  for (const auto& d : once) CHECK(d.rows > 0);

  eng->reset(*c);
  projections::catch_up_options o;
  o.batch_size = 97;
  o.read_ahead = 2;
  std::vector<size_t> seen;
  o.progress = [&](size_t n) { seen.push_back(n); };
  auto groups = projections::standard_engines_by_group();
  CHECK(groups.size() > 2);  // more engines than appliers: some thread applies several
  CHECK(projections::catch_up_together(ci, groups, o) == static_cast<size_t>(head));
  CHECK(digests(*c, *eng) == once);
  REQUIRE_FALSE(seen.empty());
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(seen.back() == static_cast<size_t>(head));
  for (const auto& cp : eng->checkpoints(*c)) CHECK(cp.at.position == head);

  // One read model rebuilt while the others stay at the head.
  eng->reset(*c, {"source_registry"});
  CHECK(projections::catch_up_together(ci, projections::standard_engines_by_group(), o) > 0);
  CHECK(digests(*c, *eng) == once);

  // The first failure stops every thread and is rethrown; nothing past it is committed.
  eng->reset(*c);
  auto failing = projections::standard_engines_by_group();
  int calls = 0;
  failing.front()->before_commit = [&] {
    if (++calls == 3) throw pqxx::broken_connection("injected failure");
  };
  CHECK_THROWS_WITH(projections::catch_up_together(ci, failing, o), "injected failure");
  for (const auto& cp : failing.front()->checkpoints(*c)) CHECK(cp.at.position < head);
  failing.front()->before_commit = nullptr;
  projections::catch_up_together(ci, failing, o);
  CHECK(digests(*c, *eng) == once);
}

TEST_CASE("events read ahead are not applied across a gap before them") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  append_workload(ci, 400);  // some of the workload's steps append nothing
  auto evs = store::read_all(*c, {}, 300);
  REQUIRE(evs.size() == 300);
  projections::engine eng(projections::standard_projections());
  projections::read_ahead later{events::position_of(evs[99]),
                                {evs.begin() + 100, evs.begin() + 200}};
  // Behind the batch: the engine reads the gap itself (as many events as the batch holds).
  CHECK(eng.step(*c, later) == 100);
  for (const auto& cp : eng.checkpoints(*c)) CHECK(cp.at == events::position_of(evs[99]));
  // Now at its start: the batch is applied as read.
  CHECK(eng.step(*c, later) == 100);
  for (const auto& cp : eng.checkpoints(*c)) CHECK(cp.at == events::position_of(evs[199]));
  // Past it: nothing to do.
  CHECK(eng.step(*c, later) == 0);
  for (const auto& cp : eng.checkpoints(*c)) CHECK(cp.at == events::position_of(evs[199]));
  eng.catch_up(*c, 1000);
  auto live = digests(*c, eng);
  eng.reset(*c);
  eng.catch_up(*c, 1000);
  CHECK(digests(*c, eng) == live);
}

namespace {

struct counter_row {
  std::string id;
  int64_t n = 0;
};
counter_row counter_from(const json::object& o) {
  return {std::string(o.at("id").as_string()), o.at("n").as_int64()};
}
json::object counter_columns(const counter_row& r) { return {{"id", r.id}, {"n", r.n}}; }
constexpr projections::row_type<counter_row> kCounter{counter_from, counter_columns};

struct other_row {};
constexpr projections::row_type<other_row> kOther{[](const json::object&) { return other_row{}; },
                                                  [](const other_row&) { return json::object{}; }};

}  // namespace

TEST_CASE("a row held as a projection's type and as JSON is one row") {
  projections::row_cache rows;
  CHECK(rows.find_as(kCounter, "t", "a") == nullptr);
  rows.put("t", "a", {{"id", "a"}, {"n", 1}});
  auto* a = rows.find_as(kCounter, "t", "a");
  REQUIRE(a);
  CHECK(a->n == 1);
  a->n = 2;  // in place
  rows.mark_dirty("t", "a");
  CHECK(rows.find_as(kCounter, "t", "a") == a);  // the same held row, not decoded again
  // Read as JSON: the typed row's columns, changes included.
  const auto* j = rows.find("t", "a");
  REQUIRE(j);
  CHECK(j->at("n").as_int64() == 2);
  // And typed again from that JSON.
  auto* again = rows.find_as(kCounter, "t", "a");
  REQUIRE(again);
  CHECK(again->n == 2);
  // put_as replaces; put (JSON) replaces a typed row; erase removes either.
  rows.put_as(kCounter, "t", "b", {"b", 7});
  CHECK(rows.find("t", "b")->at("n").as_int64() == 7);
  rows.put_as(kCounter, "t", "a", {"a", 5});
  rows.put("t", "a", {{"id", "a"}, {"n", 9}});
  CHECK(rows.find_as(kCounter, "t", "a")->n == 9);
  rows.erase("t", "a");
  CHECK(rows.find_as(kCounter, "t", "a") == nullptr);
  CHECK(rows.find("t", "a") == nullptr);
  // One table, one type.
  rows.put_as(kCounter, "t", "c", {"c", 1});
  CHECK_THROWS_AS(rows.find_as(kOther, "t", "c"), std::logic_error);
}

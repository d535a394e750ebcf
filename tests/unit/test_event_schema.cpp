// The schema of record (issue #18): every event type and version the store may hold has a
// golden payload under tests/events/golden, and each decodes through the codecs and upcasters
// to the payload it names ("expect", or itself at the current version).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "domain/ledger.hpp"
#include "events/alerting.hpp"
#include "events/catalog.hpp"
#include "events/execution.hpp"
#include "events/source.hpp"
#include "ledger_v1.hpp"

namespace json = boost::json;
namespace ev = beampipe::events;
namespace fs = std::filesystem;

namespace {

json::object read_golden(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str()).as_object();
}

std::string golden_name(std::string_view type, int version) {
  return std::string(type) + ".v" + std::to_string(version) + ".json";
}

}  // namespace

TEST_CASE("every event type and version has a golden payload that decodes as recorded") {
  const fs::path dir = BEAMPIPE_EVENT_GOLDEN_DIR;
  std::set<std::string> expected;
  for (const auto& k : ev::all_kinds())
    for (int v = 1; v <= k.version; ++v) expected.insert(golden_name(k.type, v));
  std::set<std::string> present;
  for (const auto& f : fs::directory_iterator(dir))
    if (f.path().extension() == ".json") present.insert(f.path().filename().string());
  for (const auto& name : expected) CHECK_MESSAGE(present.count(name), "missing golden " << name);
  for (const auto& name : present)
    CHECK_MESSAGE(expected.count(name), "golden of no known type/version: " << name);

  for (const auto& name : present) {
    CAPTURE(name);
    auto g = read_golden(dir / name);
    auto type = std::string(g.at("type").as_string());
    auto version = static_cast<int>(g.at("schema_version").as_int64());
    const auto& data = g.at("data").as_object();
    const auto* kind = ev::find_kind(type);
    REQUIRE(kind);
    json::object decoded;
    REQUIRE_NOTHROW(decoded = ev::decode(type, version, data));
    if (auto it = g.find("expect"); it != g.end())
      CHECK(decoded == it->value().as_object());
    else
      CHECK_MESSAGE(version == kind->version,
                    "an older version needs \"expect\": its upcast shape");
    if (version == kind->version && !g.contains("expect")) CHECK(decoded == data);
    // What the current version decodes to is something this build could have appended.
    CHECK(ev::append_problem(type, kind->version, decoded).empty());
  }
}

TEST_CASE("decode refuses what no reader can use, naming the field") {
  json::object ok{
      {"uuid", "u"}, {"project_module", "m"}, {"source_identifier", "s"}, {"enabled", true}};
  CHECK_NOTHROW(ev::decode("SourceRegistered", 1, ok));
  CHECK_THROWS_AS(ev::decode("NoSuchEvent", 1, ok), ev::unreadable_event);
  CHECK_THROWS_AS(ev::decode("SourceRegistered", 0, ok), ev::unreadable_event);
  CHECK_THROWS_AS(ev::decode("SourceRegistered", 2, ok), ev::unreadable_event);  // the future
  auto wrong = ok;
  wrong["enabled"] = "yes";
  try {
    ev::decode("SourceRegistered", 1, wrong);
    FAIL("a string where a boolean belongs was accepted");
  } catch (const ev::unreadable_event& e) {
    CHECK(std::string(e.what()).find("enabled must be a boolean") != std::string::npos);
  }
  auto missing = ok;
  missing.erase("source_identifier");
  CHECK_THROWS_AS(ev::decode("SourceRegistered", 1, missing), ev::unreadable_event);
  // Nested paths: the second delivery's channel id.
  json::object fired{
      {"uuid", "r"},
      {"firing_id", "f"},
      {"payload", json::object{}},
      {"deliveries", json::array{json::object{{"delivery_id", "d1"}, {"channel_id", "c1"}},
                                 json::object{{"delivery_id", "d2"}, {"channel_id", 7}}}}};
  try {
    ev::decode("AlertFired", 1, fired);
    FAIL("a number where a channel id belongs was accepted");
  } catch (const ev::unreadable_event& e) {
    CHECK(std::string(e.what()).find("deliveries[1].channel_id must be a string") !=
          std::string::npos);
  }
  CHECK_FALSE(ev::append_problem("SourceRegistered", 2, ok).empty());  // only the current version
  CHECK(ev::append_problem("SourceRegistered", 1, ok).empty());
}

TEST_CASE("the codec: unknown keys are kept out, optionals read absent or null, omitted stay out") {
  // A reader of version N ignores keys it does not know; absent and null optionals are empty.
  json::object stored{{"uuid", "u"},         {"project_module", "m"}, {"source_identifier", "s"},
                      {"execution_id", "e"}, {"outcome", "failed"},   {"pending", true},
                      {"from_the_future", 1}};
  auto f = ev::decode_as<ev::source_execution_finished>(stored);
  CHECK_FALSE(f.failures_in_row);  // events before issue #17 have none
  CHECK_FALSE(f.automation_retry_at);
  auto written = ev::encode(f);
  CHECK_FALSE(written.contains("from_the_future"));
  CHECK_FALSE(written.contains("failures_in_row"));    // omitted: absent, as older readers expect
  CHECK(written.at("automation_retry_at").is_null());  // optional: written as null
  f.failures_in_row = 2;
  CHECK(ev::encode(f).at("failures_in_row") == 2);
  // make() takes the type and version from the struct.
  auto pe = ev::make(f);
  CHECK(pe.type == "SourceExecutionFinished");
  CHECK(pe.schema_version == 1);
  CHECK(ev::decode_as<ev::source_execution_finished>(pe.data).failures_in_row == 2);
  // Integers: what JSON may carry as unsigned still reads; a fraction does not.
  json::object tick{{"lease_token", std::uint64_t{7}}, {"node", "n"}, {"tick", 1.5}};
  CHECK_THROWS_AS(ev::decode("SchedulerTicked", 1, tick), ev::unreadable_event);
  tick["tick"] = 2;
  CHECK_NOTHROW(ev::decode("SchedulerTicked", 1, tick));
}

TEST_CASE("the codec's taking decode and encode agree with the copying ones") {
  // A ledger row with documents in it, as an execution aggregate's state holds one.
  beampipe::domain::ledger::row r;
  r.uuid = "u";
  r.status = "running";
  r.workflow_manifest = json::object{{"sources", json::array{json::object{{"a", 1}}}}};
  r.wasm_hooks = json::array{json::object{{"hook", "manifest"}}};
  r.lookup_history = json::array{1, 2, 3};
  r.manifest_sha256 = "m";
  auto stored = ev::encode(r);
  auto copy = stored;
  auto taken = ev::decode_taking<beampipe::domain::ledger::row>(copy);
  CHECK(ev::encode(taken) == stored);
  CHECK(ev::encode_taking(taken) == stored);
  // The same refusals, naming the same field.
  for (auto [field, bad] : {std::pair<const char*, json::value>{"status", 3},
                            {"workflow_manifest", json::value(nullptr)},
                            {"retry_count", "x"}}) {
    auto wrong = stored;
    wrong[field] = bad;
    std::string copied, took;
    try {
      (void)ev::decode_as<beampipe::domain::ledger::row>(wrong);
    } catch (const ev::decode_error& e) {
      copied = e.field;
    }
    try {
      (void)ev::decode_taking<beampipe::domain::ledger::row>(wrong);
    } catch (const ev::decode_error& e) {
      took = e.field;
    }
    CHECK(copied == took);
  }
}

TEST_CASE("an upcast execution fact does to the ledger row what its version 1 payload did") {
  namespace ledger = beampipe::domain::ledger;
  const fs::path dir = BEAMPIPE_EVENT_GOLDEN_DIR;
  // Rows as a run may stand before the event: fresh, and part-way with earlier stamps.
  const std::vector<json::object> before{
      {{"status", "pending"}, {"phase_timestamps", json::object{}}, {"workflow_manifest", nullptr}},
      {{"status", "running"},
       {"started_at", "2026-01-01T00:00:02.000000Z"},
       {"control_phase", "graph_patched"},
       {"execution_phase", "submit"},
       {"terminal_outcome", nullptr},
       {"phase_timestamps", json::object{{"graph_patched", "2026-01-01T00:00:03.000000Z"}}}},
      {{"status", "failed"},
       {"control_phase", "terminal"},
       {"phase_timestamps", json::object{{"admitted", "2026-01-01T00:00:00.000000Z"}}},
       {"completed_at", "2026-01-01T00:00:09.000000Z"},
       {"execute_requested_at", "2026-01-01T00:00:01.000000Z"},
       {"workflow_manifest",
        json::object{{"beampipe_run_record", json::object{{"scheduler", json::object{}}}}}}}};
  int compared = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".json") continue;
    auto g = read_golden(f.path());
    auto type = std::string(g.at("type").as_string());
    const auto* kind = ev::find_kind(type);
    if (!kind || !ev::type::is_execution_event(type) || g.at("schema_version") != 1 ||
        kind->version == 1)
      continue;
    CAPTURE(type);
    const auto& v1 = g.at("data").as_object();
    const auto& after = v1.at("after").as_object();
    for (const auto& partial : before) {
      // A v1 payload that set the status was decided against the status the run was in,
      // which these rows do not know: the recorded histories below hold those to account.
      if (after.contains("status") || type == ev::type::execution_created) continue;
      auto by_envelope = ledger::columns(ledger::row{});
      for (const auto& kv : partial) by_envelope[kv.key()] = kv.value();
      auto by_fact = ledger::from_columns(by_envelope);
      beampipe::testing::apply_v1_envelope(by_envelope, v1, "2026-02-02T00:00:00.000000Z");
      ledger::evolve(by_fact, type, ev::decode(type, 1, v1), "2026-02-02T00:00:00.000000Z");
      CHECK(ledger::columns(by_fact) == by_envelope);
      ++compared;
    }
  }
  CHECK(compared >= 15);  // the types that leave the status alone, from every row
}

// Rows compare equal but for a column one side lacks and the other holds at its default
// (false or null): one that an older build did not know yet (cancel_unconfirmed, say).
// Returns the columns that differ (empty: the same row).
std::string row_difference(const json::object& a, const json::object& b) {
  auto defaulted = [](const json::object& o, std::string_view k) {
    auto it = o.find(k);
    return it == o.end() || it->value().is_null() ||
           (it->value().is_bool() && !it->value().as_bool());
  };
  auto shown = [](const json::object& o, std::string_view k) {
    return o.contains(k) ? json::serialize(o.at(k)).substr(0, 200) : std::string("(absent)");
  };
  std::string out;
  for (const auto& kv : a)
    if (!(defaulted(a, kv.key()) && defaulted(b, kv.key())) &&
        (!b.contains(kv.key()) || b.at(kv.key()) != kv.value()))
      out += std::string(kv.key()) + ": " + shown(a, kv.key()) + " vs " + shown(b, kv.key()) + "; ";
  for (const auto& kv : b)
    if (!a.contains(kv.key()) && !defaulted(b, kv.key()))
      out += std::string(kv.key()) + ": (absent) vs " + shown(b, kv.key()) + "; ";
  return out;
}

TEST_CASE("recorded execution histories fold to the same rows through the upcasters") {
  namespace ledger = beampipe::domain::ledger;
  std::ifstream in(fs::path(BEAMPIPE_EVENT_CORPUS_DIR) / "execution_v1.jsonl");
  REQUIRE(in);
  std::map<int64_t, std::pair<json::object, ledger::row>> rows;  // stream: by v1, by fact
  std::string line;
  int events = 0;
  while (std::getline(in, line)) {
    auto e = json::parse(line).as_object();
    auto type = std::string(e.at("type").as_string());
    auto at = std::string(e.at("recorded_at").as_string());
    const auto& data = e.at("data").as_object();
    auto& [by_envelope, by_fact] = rows[e.at("stream").as_int64()];
    CAPTURE(line.substr(0, 300));
    if (type == ev::type::execution_created)
      by_envelope = {
          {"created_at", at}, {"phase_timestamps", json::object{}}, {"workflow_manifest", nullptr}};
    beampipe::testing::apply_v1_envelope(by_envelope, data, at);
    json::object fact;
    REQUIRE_NOTHROW(fact = ev::decode(type, 1, data));
    ledger::evolve(by_fact, type, fact, at);
    auto columns = ledger::columns(by_fact);
    columns.erase("stream_version");  // the projection's, not the fold's
    auto difference = row_difference(columns, by_envelope);
    REQUIRE_MESSAGE(difference.empty(), "by fact vs by v1 payload: " << difference);
    ++events;
  }
  CHECK(events > 200);
}

// The execution ledger slice (projections/execution_ledger/): its queries read the rows the
// projection folds from real decider output, and every API row comes out redacted.
#include <doctest/doctest.h>

#include "domain/aggregates.hpp"
#include "events/catalog.hpp"
#include "pg_fixture.hpp"
#include "projections/engine.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "store/event_store.hpp"
#include "util/ids.hpp"

using namespace beampipe;
namespace json = boost::json;
namespace ledger = beampipe::projections::execution_ledger;

namespace {

// Drives one execution's decider and appends what it decides.
struct run {
  pqxx::connection& c;
  std::string id = util::uuid_v7();
  std::string stream = domain::execution_stream_id(id);
  json::object state = domain::execution_aggregate().initial();
  int64_t version = 0;

  void step(const std::string& name, json::object body) {
    domain::command cmd{name, std::move(body), "test"};
    auto d = domain::execution_aggregate().decide(state, stream, cmd);
    REQUIRE_MESSAGE(!d.error, name, ": ", d.error ? d.error->message : "");
    store::append_request r{stream, store::expected_version::at(version), {}};
    for (auto& pe : d.events) {
      domain::execution_aggregate().apply(state, pe.type, pe.data, "");
      REQUIRE(events::prepare_append(pe).empty());
      r.events.push_back({util::uuid_v7(), pe.type, pe.schema_version, json::serialize(pe.data),
                          "{\"actor\":\"test\"}"});
    }
    version += static_cast<int64_t>(d.events.size());
    REQUIRE(store::append(c, r).status == store::append_status::ok);
  }
};

json::object create_body(const std::string& module, const std::string& source) {
  return {{"project_module", module},
          {"archive_name", "casda"},
          {"sources", json::array{json::object{{"source_identifier", source}}}}};
}

}  // namespace

TEST_CASE("the execution ledger's queries answer from the folded rows, redacted") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  const std::string secret_url = "https://casda:SECRETPASS42@data.example.org/x?token=SECRETTOK42";

  run failed{*c};
  failed.step("create", create_body("wallaby_hires", "HIPASSJ1313-15"));
  failed.step("request_execute", {{"job_id", util::uuid_v7()}});
  failed.step("start", {});
  failed.step(
      "prepared",
      {{"manifest", json::object{{"sources", json::array{json::object{{"url", secret_url}}}}}},
       {"manifest_sha256", std::string(64, 'a')},
       {"do_submit", false}});
  failed.step("fail", {{"error", "GET " + secret_url + " failed"}});

  run queued{*c};
  queued.step("create", create_body("wallaby_hires", "HIPASSJ1318-21"));
  queued.step("request_execute", {{"job_id", util::uuid_v7()}});

  run other{*c};
  other.step("create", create_body("other_survey", "HIPASSJ1313-15"));

  projections::engine eng(projections::standard_projections());
  REQUIRE(eng.catch_up(*c, 1000) > 0);
  pqxx::read_transaction tx{*c};

  // find: the API row, run record at top level, no credential anywhere.
  auto row = ledger::find(tx, failed.id);
  REQUIRE(row);
  CHECK(row->at("status").as_string() == "failed");
  CHECK_FALSE(row->contains("stream_version"));
  CHECK(row->contains("beampipe_run_record"));
  auto text = json::serialize(*row);
  CHECK(text.find("SECRETPASS42") == std::string::npos);
  CHECK(text.find("SECRETTOK42") == std::string::npos);
  CHECK_FALSE(ledger::find(tx, util::uuid_v7()));

  // list: filters and totals; list_for_source: by project and source, redacted too.
  auto all = ledger::list(tx, {}, 10, 0);
  CHECK(all.total == 3);
  auto by_status = ledger::list(tx, {"wallaby_hires", "failed", ""}, 10, 0);
  REQUIRE(by_status.rows.size() == 1);
  CHECK(json::serialize(by_status.rows).find("SECRET") == std::string::npos);
  auto page2 = ledger::list(tx, {"wallaby_hires", "", ""}, 1, 1);
  CHECK(page2.rows.size() == 1);
  CHECK(page2.total == 2);
  auto for_source = ledger::list_for_source(tx, "wallaby_hires", "HIPASSJ1313-15", 10, 0);
  REQUIRE(for_source.rows.size() == 1);
  CHECK(for_source.rows[0].as_object().at("uuid").as_string() == failed.id);
  CHECK(json::serialize(for_source.rows).find("SECRET") == std::string::npos);

  // The workers' view: the whole row (unredacted: it is what the run submits with).
  auto whole = ledger::row(tx, failed.id);
  REQUIRE(whole);
  CHECK(whole->at("created_at_ms").as_int64() > 0);
  CHECK(json::serialize(whole->at("workflow_manifest")).find("SECRETTOK42") != std::string::npos);

  // In flight: the queued and the created run; the failed one is terminal.
  auto flying = ledger::in_flight(tx);
  CHECK(flying.size() == 2);
  CHECK(ledger::queued_execute_requests(tx) == 1);
  std::set<std::string> work;
  for (const auto& w : ledger::needing_work(tx, 100)) work.insert(w.id);
  // A terminal run stays on the work list until its sources are told.
  CHECK(work == std::set<std::string>{failed.id, queued.id, other.id});
  int64_t failed_n = 0;
  for (const auto& s : ledger::status_counts(tx))
    if (s.as_object().at("status").as_string() == "failed")
      failed_n = s.as_object().at("n").as_int64();
  CHECK(failed_n == 1);
  CHECK(ledger::stuck_count(tx, std::nullopt) == 0);
}

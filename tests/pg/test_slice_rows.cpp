// Issue #18: each slice's API rows, its table's columns and its OpenAPI schema agree. A column
// added to a table must be shown (a schema property) or hidden on purpose; a property the
// schema declares must come from a column or be named as derived; and the rows the slice
// answers (after a random history) carry exactly the schema's properties.
#include <doctest/doctest.h>

#include <functional>
#include <set>

#include "api/api_schemas.hpp"
#include "domain/ledger.hpp"
#include "pg_fixture.hpp"
#include "projections/alerting/queries.hpp"
#include "projections/deployment_profiles/queries.hpp"
#include "projections/engine.hpp"
#include "projections/execution_details/queries.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/jobs/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/provenance/queries.hpp"
#include "projections/source_registry/queries.hpp"
#include "projections/users/queries.hpp"
#include "workload.hpp"

using namespace beampipe;
namespace json = boost::json;
namespace pj = beampipe::projections;

namespace {

using names = std::set<std::string>;

struct shape {
  std::string schema, table;
  names hidden;   // columns the API does not show
  names derived;  // properties that are no column of the table
  // The rows the slice answers with this schema (after the workload); may be none.
  std::function<json::array(pqxx::transaction_base&)> rows;
};

names columns_of(pqxx::transaction_base& tx, const std::string& table) {
  names out;
  for (const auto& r :
       tx.exec_params("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                      "current_schema() AND table_name = $1",
                      table))
    out.insert(r[0].as<std::string>());
  return out;
}

names properties_of(const std::string& schema) {
  names out;
  const auto& s = api::component_schemas().at(schema).as_object();
  for (const auto& kv : s.at("properties").as_object()) out.insert(std::string(kv.key()));
  return out;
}

std::string listed(const names& n) {
  std::string out;
  for (const auto& x : n) out += (out.empty() ? "" : ", ") + x;
  return out.empty() ? "(none)" : out;
}

names minus(const names& a, const names& b) {
  names out;
  for (const auto& x : a)
    if (!b.count(x)) out.insert(x);
  return out;
}

json::array all_rows(const store::page_rows& p) { return p.rows; }

// Each id of a table, for the slices that answer one row at a time.
std::vector<std::string> ids(pqxx::transaction_base& tx, const std::string& sql) {
  std::vector<std::string> out;
  for (const auto& r : tx.exec(sql)) out.push_back(r[0].as<std::string>());
  return out;
}

template <class Find>
json::array each(pqxx::transaction_base& tx, const std::string& sql, Find find) {
  json::array out;
  for (const auto& id : ids(tx, sql))
    if (auto row = find(id)) out.push_back(std::move(*row));
  return out;
}

// A fresh database holding `events` events of the shared random workload, every read model
// caught up with them.
std::unique_ptr<pqxx::connection> projected_workload(int events) {
  auto c = store::connect(test::fresh_database());
  test::workload w;
  for (int i = 0; i < events; ++i)
    if (auto r = w.next()) REQUIRE(store::append(*c, *r).status == store::append_status::ok);
  pj::engine eng(pj::standard_projections());
  eng.catch_up(*c, 100000);
  return c;
}

}  // namespace

TEST_CASE("each slice's rows, its table's columns and its OpenAPI schema agree") {
  auto c = projected_workload(3000);

  std::vector<shape> shapes{
      {"SourceRegistryRow",
       "source_registry",
       {"deleted", "discovery_attempt", "discovery_requested_at", "discovery_retry_at",
        "stream_version"},
       {},
       [](auto& tx) { return all_rows(pj::source_registry::list(tx, {}, 100000, 0)); }},
      {"ArchiveMetadataRow",
       "archive_metadata",
       {"source_uuid"},
       {},
       [](auto& tx) {
         json::array out;
         for (const auto& id : ids(tx, "SELECT DISTINCT source_uuid::text FROM archive_metadata"))
           for (auto& r : pj::source_registry::archive_metadata(tx, id)) out.push_back(r);
         return out;
       }},
      {"ExecutionRow",
       "batch_execution_record",
       {"stream_version"},
       {"beampipe_run_record"},
       [](auto& tx) { return all_rows(pj::execution_ledger::list(tx, {}, 100000, 0)); }},
      {"ProvenanceEventRow",
       "provenance_events",
       {"position"},
       {},
       [](auto& tx) {
         json::array out;
         for (const auto& id :
              ids(tx,
                  "SELECT DISTINCT execution_id::text FROM provenance_events WHERE "
                  "execution_id IS NOT NULL"))
           for (auto& r : pj::provenance::for_execution(tx, id, 100000, 0).rows) out.push_back(r);
         return out;
       }},
      {"ExecutionObservationRow",
       "execution_observations",
       {"position"},
       {},
       [](auto& tx) {
         json::array out;
         for (const auto& id :
              ids(tx, "SELECT DISTINCT execution_id::text FROM execution_observations"))
           for (auto& r : pj::execution_details::observations(tx, id, 100000, 0).rows)
             out.push_back(r);
         return out;
       }},
      {"ExecutionArtifactRow",
       "execution_artifacts",
       {},
       {"content_url"},
       [](auto& tx) {
         json::array out;
         for (const auto& id :
              ids(tx, "SELECT DISTINCT execution_id::text FROM execution_artifacts"))
           for (auto& r : pj::execution_details::artifacts(tx, id, 100000, 0).rows)
             out.push_back(r);
         return out;
       }},
      {"ProjectConfigRow",
       "project_configs",
       {},
       {},
       [](auto& tx) {
         json::array out;
         for (const auto& id : ids(tx, "SELECT DISTINCT project_id FROM project_configs"))
           for (auto& r : pj::project_configs::versions(tx, id, 100000, 0).rows) out.push_back(r);
         return out;
       }},
      {"WasmModule", "project_config_wasm", {"wasm_key"}, {}, [](auto&) { return json::array{}; }},
      {"DeploymentProfileRow",
       "daliuge_deployment_profile",
       {},
       {},
       [](auto& tx) { return all_rows(pj::deployment_profiles::list(tx, "", 100000, 0)); }},
      {"JobRow",
       "jobs",
       {},
       {"lease_owner", "lease_token", "lease_expires_at", "lease_recoveries"},
       [](auto& tx) { return all_rows(pj::jobs::list(tx, {}, 100000, 0)); }},
      {"NotificationChannelRow",
       "notification_channels",
       {"stream_version"},
       {},
       [](auto& tx) { return all_rows(pj::alerting::list_channels(tx, 100000, 0)); }},
      {"AlertRuleRow",
       "alert_rules",
       {"enabled_since", "stream_version"},
       {},
       [](auto& tx) { return all_rows(pj::alerting::list_rules(tx, 100000, 0)); }},
      {"AlertDeliveryRow",
       "alert_deliveries",
       {"firing_id"},
       {},
       [](auto& tx) { return all_rows(pj::alerting::list_deliveries(tx, {}, 100000, 0)); }},
      {"UserRow",
       "users",
       {"disabled", "stream_version"},
       {"profile_image_url"},
       [](auto& tx) {
         return each(tx, "SELECT uuid::text FROM users",
                     [&](const std::string& id) { return pj::users::find(tx, id); });
       }},
  };

  pqxx::read_transaction tx{*c};
  size_t checked_rows = 0;
  for (const auto& s : shapes) {
    CAPTURE(s.schema);
    auto columns = columns_of(tx, s.table);
    REQUIRE_MESSAGE(!columns.empty(), "no table ", s.table);
    auto props = properties_of(s.schema);
    // The lists stay honest: hidden names are columns, derived ones are not.
    CHECK_MESSAGE(minus(s.hidden, columns).empty(),
                  "hidden but no column: ", listed(minus(s.hidden, columns)));
    for (const auto& d : s.derived) CHECK_MESSAGE(!columns.count(d), d, " is a column");
    names shown = minus(columns, s.hidden);
    shown.insert(s.derived.begin(), s.derived.end());
    CHECK_MESSAGE(minus(shown, props).empty(), s.table, " shows what ", s.schema,
                  " does not declare: ", listed(minus(shown, props)));
    CHECK_MESSAGE(minus(props, shown).empty(), s.schema, " declares what ", s.table,
                  " cannot supply: ", listed(minus(props, shown)));
    for (const auto& row : s.rows(tx)) {
      names keys;
      for (const auto& kv : row.as_object()) keys.insert(std::string(kv.key()));
      CHECK_MESSAGE(keys == props, s.schema, " row has ", listed(minus(keys, props)),
                    " extra and lacks ", listed(minus(props, keys)));
      ++checked_rows;
    }
  }
  // The workload reaches most read models: the row checks are not vacuous.
  CHECK(checked_rows > 100);
}

TEST_CASE("the ledger row type is the ledger table: a member per column, optional where nullable") {
  namespace ledger = domain::ledger;
  auto c = projected_workload(1500);
  pqxx::read_transaction tx{*c};
  // Nullability as the row type says it: a member that encodes as null when empty.
  auto blank = ledger::columns(ledger::row{});
  names members, nullable_members;
  for (const auto& kv : blank) {
    members.insert(std::string(kv.key()));
    if (kv.value().is_null()) nullable_members.insert(std::string(kv.key()));
  }
  names nullable_columns;
  for (const auto& r : tx.exec(
           "SELECT column_name FROM information_schema.columns WHERE table_schema = "
           "current_schema() AND table_name = 'batch_execution_record' AND is_nullable = 'YES'"))
    nullable_columns.insert(r[0].as<std::string>());
  auto columns = columns_of(tx, "batch_execution_record");
  CHECK_MESSAGE(members == columns, "members not columns: ", listed(minus(members, columns)),
                "; columns not members: ", listed(minus(columns, members)));
  // jsonb documents are json values (null when empty) even where the column is NOT NULL: the
  // fold always sets those.
  names documents{"sources", "phase_timestamps"};
  CHECK_MESSAGE(minus(nullable_members, documents) == nullable_columns,
                "nullable members: ", listed(nullable_members),
                "; nullable columns: ", listed(nullable_columns));
  // Every row the projection wrote reads back as the type, and is what the fold would write.
  int rows = 0;
  for (const auto& r : tx.exec("SELECT row_to_json(t)::text FROM batch_execution_record t")) {
    auto stored = json::parse(r[0].as<std::string>()).as_object();
    ledger::row typed;
    REQUIRE_NOTHROW(typed = ledger::from_columns(stored));
    CHECK(typed.uuid == std::string(stored.at("uuid").as_string()));
    CHECK_FALSE(typed.status.empty());
    ++rows;
  }
  CHECK(rows > 50);
}

#include "projections/provenance/queries.hpp"

#include "util/json.hpp"

namespace beampipe::projections::provenance {
namespace json = boost::json;

namespace {
constexpr const char* kRow =
    "SELECT json_build_object('id', id, 'occurred_at', occurred_at, 'event_type', event_type, "
    "'project_module', project_module, 'source_identifier', source_identifier, "
    "'execution_id', execution_id, 'actor', actor, 'correlation_id', correlation_id, "
    "'payload', payload)";
}  // namespace

store::page_rows for_execution(pqxx::transaction_base& tx, const std::string& execution_id,
                               int64_t limit, int64_t offset) {
  return store::read_page(tx, kRow, "FROM provenance_events WHERE execution_id = $1::uuid",
                          "ORDER BY occurred_at, position", {execution_id}, limit, offset);
}

json::array recent_for_execution(pqxx::transaction_base& tx, const std::string& execution_id,
                                 int64_t n) {
  std::string sql = "SELECT x::text FROM (";
  sql.append(kRow).append(
      " AS x, occurred_at, position FROM provenance_events WHERE execution_id = $1::uuid "
      "ORDER BY occurred_at DESC, position DESC LIMIT $2) t ORDER BY occurred_at, position");
  json::array out;
  for (const auto& r : tx.exec_params(sql, execution_id, n))
    out.push_back(util::parse_stored(r[0].c_str()));
  return out;
}

store::page_rows for_source(pqxx::transaction_base& tx, const std::string& project_module,
                            const std::string& source_identifier, int64_t limit, int64_t offset) {
  return store::read_page(
      tx, kRow, "FROM provenance_events WHERE project_module = $1 AND source_identifier = $2",
      "ORDER BY occurred_at DESC, position DESC", {project_module, source_identifier}, limit,
      offset);
}

store::page_rows for_project(pqxx::transaction_base& tx, const std::string& project_module,
                             int64_t limit, int64_t offset) {
  return store::read_page(tx, kRow, "FROM provenance_events WHERE project_module = $1",
                          "ORDER BY occurred_at DESC, position DESC", {project_module}, limit,
                          offset);
}

int64_t discovery_changes_within(pqxx::transaction_base& tx,
                                 const std::optional<std::string>& project_module,
                                 int64_t window_minutes) {
  return tx
      .exec_params(
          "SELECT count(*) FROM provenance_events WHERE event_type = 'discovery.changed' AND "
          "occurred_at > now() - make_interval(mins => $2::int) AND "
          "($1::text IS NULL OR project_module = $1)",
          project_module, window_minutes)[0][0]
      .as<int64_t>();
}

extent extent_of(pqxx::transaction_base& tx, const std::string& project_module) {
  auto r = tx.exec_params1(
      "SELECT count(*), to_json(min(occurred_at))#>>'{}' FROM provenance_events WHERE ($1 = '' "
      "OR project_module = $1)",
      project_module);
  return {r[0].as<int64_t>(), store::text_or_none(r[1])};
}

}  // namespace beampipe::projections::provenance

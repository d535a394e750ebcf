#include "projections/source_registry/queries.hpp"

#include <map>

#include "store/db.hpp"
#include "util/json.hpp"

namespace beampipe::projections::source_registry {
namespace json = boost::json;

std::optional<domain::SourceReadinessState> readiness_inputs(pqxx::transaction_base& tx,
                                                             const std::string& source_uuid) {
  auto s = store::exec_prepared_once(
      tx, "source_registry_readiness",
      "SELECT coalesce(discovery_signature, ''), enabled, last_checked_at IS NOT NULL, "
      "coalesce(discovery_request_id::text, ''), coalesce(last_executed_discovery_signature, '') "
      "FROM source_registry WHERE uuid = $1::uuid AND NOT deleted",
      source_uuid);
  if (s.empty()) return std::nullopt;
  domain::SourceReadinessState st;
  st.discovery_signature = s[0][0].as<std::string>();
  st.enabled = s[0][1].as<bool>();
  st.last_checked_at_set = s[0][2].as<bool>();
  st.discovery_claim_token = s[0][3].as<std::string>();
  st.last_executed_discovery_signature = s[0][4].as<std::string>();
  st.metadata_rows = archive_rows(tx, source_uuid);
  return st;
}

std::map<std::string, json::value> archive_rows(pqxx::transaction_base& tx,
                                                const std::string& source_uuid) {
  std::map<std::string, json::value> out;
  for (const auto& row : store::exec_prepared_once(
           tx, "source_registry_archive_rows",
           "SELECT sbid, metadata_json::text FROM archive_metadata WHERE source_uuid = $1::uuid",
           source_uuid))
    out[row[0].as<std::string>()] = util::parse_stored(row[1].c_str());
  return out;
}

json::array archive_metadata(pqxx::transaction_base& tx, const std::string& source_uuid) {
  json::array out;
  for (const auto& row : tx.exec_params(
           "SELECT json_build_object('uuid', uuid, 'project_module', project_module, "
           "'source_identifier', source_identifier, 'sbid', sbid, 'metadata_json', "
           "metadata_json, 'created_at', created_at, 'updated_at', updated_at)::text "
           "FROM archive_metadata WHERE source_uuid = $1::uuid ORDER BY sbid, created_at",
           source_uuid))
    out.push_back(util::parse_stored(row[0].c_str()));
  return out;
}

std::vector<due_request> due_for_discovery(pqxx::transaction_base& tx, int64_t limit) {
  std::vector<due_request> out;
  for (const auto& row : tx.exec_params(
           "SELECT uuid::text, project_module, source_identifier, discovery_request_id::text, "
           "enabled, coalesce(discovery_signature, ''), "
           "coalesce(last_executed_discovery_signature, ''), coalesce(discovery_attempt, 1) "
           "FROM source_registry WHERE discovery_request_id IS NOT NULL AND NOT deleted "
           "AND (discovery_retry_at IS NULL OR discovery_retry_at <= now()) "
           "ORDER BY discovery_requested_at LIMIT $1",
           limit))
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                   row[3].as<std::string>(), row[4].as<bool>(), row[5].as<std::string>(),
                   row[6].as<std::string>(), row[7].as<int>()});
  return out;
}

int64_t outstanding_discovery_requests(pqxx::transaction_base& tx) {
  return tx
      .exec("SELECT count(*) FROM source_registry WHERE discovery_request_id IS NOT NULL")[0][0]
      .as<int64_t>();
}

batches_in_flight discovery_batches_in_flight(pqxx::transaction_base& tx,
                                              const std::string& project_module) {
  auto r = tx.exec_params(
      "SELECT count(DISTINCT discovery_claim_token), "
      "       count(DISTINCT discovery_claim_token) FILTER (WHERE project_module = $1) "
      "FROM source_registry WHERE discovery_request_id IS NOT NULL AND discovery_claim_token IS "
      "NOT NULL",
      project_module);
  return {r[0][0].as<int64_t>(), r[0][1].as<int64_t>()};
}

std::vector<discovery_candidate> discovery_candidates(pqxx::transaction_base& tx,
                                                      const std::string& project_module,
                                                      int claim_ttl_minutes) {
  std::vector<discovery_candidate> out;
  for (const auto& row : tx.exec_params(
           "SELECT source_identifier, enabled, to_json(created_at)#>>'{}', "
           "to_json(last_checked_at)#>>'{}', "
           "CASE WHEN discovery_request_id IS NULL THEN NULL ELSE "
           "  to_json(discovery_requested_at + make_interval(mins => $2::int))#>>'{}' END "
           "FROM source_registry WHERE project_module = $1 AND NOT deleted",
           project_module, claim_ttl_minutes))
    out.push_back({row[0].as<std::string>(), row[1].as<bool>(), row[2].as<std::string>(),
                   store::text_or_none(row[3]), store::text_or_none(row[4])});
  return out;
}

std::vector<pending_source> pending_for_execution(pqxx::transaction_base& tx,
                                                  const std::string& project_module) {
  std::vector<pending_source> out;
  std::map<std::string, size_t> by_uuid;
  for (const auto& row : tx.exec_params(
           "SELECT uuid::text, source_identifier, to_json(workflow_run_pending_at)#>>'{}', "
           "to_json(created_at)#>>'{}', "
           "coalesce(discovery_signature, ''), coalesce(last_executed_discovery_signature, ''), "
           "coalesce(discovery_request_id::text, ''), last_checked_at IS NOT NULL "
           "FROM source_registry WHERE project_module = $1 AND enabled AND workflow_run_pending "
           "AND NOT deleted AND (automation_retry_at IS NULL OR automation_retry_at <= now())",
           project_module)) {
    pending_source p;
    p.source_uuid = row[0].as<std::string>();
    p.source_identifier = row[1].as<std::string>();
    p.workflow_run_pending_at = store::text_or_none(row[2]);
    p.created_at = row[3].as<std::string>();
    p.readiness.enabled = true;
    p.readiness.discovery_signature = row[4].as<std::string>();
    p.readiness.last_executed_discovery_signature = row[5].as<std::string>();
    p.readiness.discovery_claim_token = row[6].as<std::string>();
    p.readiness.last_checked_at_set = row[7].as<bool>();
    by_uuid[p.source_uuid] = out.size();
    out.push_back(std::move(p));
  }
  // Every pending source's archive rows in one read (not one query per source); of each row
  // only what readiness looks at (its discovery flags), not the whole archive record.
  for (const auto& m : tx.exec_params(
           "SELECT m.source_uuid::text, m.sbid, jsonb_build_object('discovery_flags', "
           "m.metadata_json->'discovery_flags')::text FROM archive_metadata m "
           "JOIN source_registry s ON s.uuid = m.source_uuid WHERE s.project_module = $1 AND "
           "s.enabled AND s.workflow_run_pending AND NOT s.deleted",
           project_module))
    if (auto it = by_uuid.find(m[0].as<std::string>()); it != by_uuid.end())
      out[it->second].readiness.metadata_rows[m[1].as<std::string>()] =
          util::parse_stored(m[2].c_str());
  return out;
}

pending_backlog_row pending_backlog(pqxx::transaction_base& tx,
                                    const std::optional<std::string>& project_module) {
  auto r = tx.exec_params(
      "SELECT count(*), coalesce(extract(epoch FROM now() - min(workflow_run_pending_at)), 0)"
      " FROM source_registry WHERE enabled AND NOT deleted AND workflow_run_pending AND "
      "($1::text IS NULL OR project_module = $1)",
      project_module);
  return {r[0][0].as<int64_t>(), r[0][1].as<double>()};
}

std::optional<std::string> outstanding_request(pqxx::transaction_base& tx,
                                               const std::string& source_uuid) {
  auto r = tx.exec_params(
      "SELECT discovery_request_id::text FROM source_registry WHERE uuid = $1::uuid", source_uuid);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<std::string>();
}

namespace {

const char* kSourceRow =
    "SELECT json_build_object('uuid', uuid, 'project_module', project_module, 'source_identifier', "
    "source_identifier, 'enabled', enabled, 'created_at', created_at, 'updated_at', updated_at, "
    "'last_checked_at', last_checked_at, 'last_attempted_at', last_attempted_at, "
    "'stale_after_hours', stale_after_hours, 'discovery_signature', discovery_signature, "
    "'last_executed_discovery_signature', last_executed_discovery_signature, "
    "'discovery_claim_token', discovery_claim_token, "
    "'discovery_claim_expires_at', discovery_claim_expires_at, "
    "'workflow_run_pending', workflow_run_pending, "
    "'workflow_run_pending_at', workflow_run_pending_at, "
    "'workflow_claim_token', workflow_claim_token, 'workflow_claimed_at', workflow_claimed_at, "
    "'workflow_claim_expires_at', workflow_claim_expires_at, "
    "'discovery_request_id', discovery_request_id, 'last_discovery_error', last_discovery_error, "
    "'discovery_truncated', discovery_truncated, "
    "'execution_failures_in_row', coalesce(execution_failures_in_row, 0), "
    "'automation_retry_at', automation_retry_at)";

// never (not yet discovered), requested (a request is outstanding), checked (the last
// discovery succeeded), failed (the last attempt failed).
const std::map<std::string, std::string, std::less<>>& discovery_states() {
  static const std::map<std::string, std::string, std::less<>> states = {
      {"never",
       "discovery_request_id IS NULL AND last_checked_at IS NULL AND last_discovery_error IS NULL"},
      {"requested", "discovery_request_id IS NOT NULL"},
      {"checked",
       "discovery_request_id IS NULL AND last_checked_at IS NOT NULL AND last_discovery_error IS "
       "NULL"},
      {"failed", "discovery_request_id IS NULL AND last_discovery_error IS NOT NULL"}};
  return states;
}

std::vector<std::string> texts(const pqxx::result& r) {
  std::vector<std::string> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(row[0].as<std::string>());
  return out;
}

}  // namespace

std::optional<boost::json::object> find(pqxx::transaction_base& tx,
                                        const std::string& source_uuid) {
  std::string sql = kSourceRow;
  sql.append(" FROM source_registry WHERE uuid = $1::uuid AND NOT deleted");
  auto r = tx.exec_params(sql, source_uuid);
  return store::first_object(r);
}

std::map<std::string, boost::json::object> find_many(pqxx::transaction_base& tx,
                                                     const std::vector<std::string>& source_uuids) {
  std::string sql = kSourceRow;
  sql.append(", uuid::text FROM source_registry WHERE uuid = ANY($1::uuid[]) AND NOT deleted");
  std::map<std::string, boost::json::object> out;
  for (const auto& row : tx.exec_params(sql, store::pg_text_array(source_uuids)))
    out.emplace(row[1].as<std::string>(), util::parse_stored(row[0].c_str()).as_object());
  return out;
}

boost::json::object read_shape(pqxx::transaction_base& tx, const boost::json::object& columns) {
  std::string sql = kSourceRow;
  sql.append(" FROM jsonb_populate_record(NULL::source_registry, $1::jsonb) x");
  auto r = tx.exec_params(sql, boost::json::serialize(columns));
  return *store::first_object(r);
}

bool is_discovery_state(std::string_view state) { return discovery_states().count(state) > 0; }

store::page_rows list(pqxx::transaction_base& tx, const list_filter& f, int64_t limit,
                      int64_t offset) {
  std::string from =
      " FROM source_registry WHERE NOT deleted AND ($1 = '' OR project_module = $1) "
      "AND ($2 = '' OR enabled = ($2 = 'true')) AND ($3 = '' OR workflow_run_pending = ($3 = "
      "'true'))";
  if (auto it = discovery_states().find(f.discovery_state); it != discovery_states().end())
    from.append(" AND ").append(it->second);
  auto b = [](const std::optional<bool>& v) { return v ? (*v ? "true" : "false") : ""; };
  return store::read_page(tx, kSourceRow, from, "ORDER BY created_at DESC, uuid",
                          {f.project_module, b(f.enabled), b(f.pending)}, limit, offset);
}

std::vector<std::string> enabled_identifiers(pqxx::transaction_base& tx,
                                             const std::string& project_module) {
  return texts(tx.exec_params(
      "SELECT source_identifier FROM source_registry WHERE project_module = $1 AND enabled AND "
      "NOT deleted ORDER BY created_at",
      project_module));
}

std::vector<std::string> registered_identifiers(pqxx::transaction_base& tx,
                                                const std::string& project_module,
                                                const std::vector<std::string>& identifiers) {
  return texts(
      tx.exec_params("SELECT source_identifier FROM source_registry WHERE project_module = $1 AND "
                     "source_identifier = ANY($2::text[]) AND NOT deleted",
                     project_module, store::pg_text_array(identifiers)));
}

std::optional<int64_t> pending_for_seconds(pqxx::transaction_base& tx,
                                           const std::string& source_uuid) {
  auto r = tx.exec_params(
      "SELECT greatest(0, floor(extract(epoch FROM now() - workflow_run_pending_at)))::bigint "
      "FROM source_registry WHERE uuid = $1::uuid AND workflow_run_pending AND "
      "workflow_run_pending_at IS NOT NULL",
      source_uuid);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

boost::json::array discovery_state_counts(pqxx::transaction_base& tx) {
  auto r = tx.exec(
      "SELECT coalesce(json_agg(t), '[]') FROM ("
      "SELECT CASE WHEN NOT enabled THEN 'disabled' "
      "WHEN discovery_request_id IS NOT NULL AND discovery_retry_at IS NOT NULL THEN 'retrying' "
      "WHEN discovery_request_id IS NOT NULL THEN 'discovering' "
      "WHEN last_discovery_error IS NOT NULL THEN 'failed' "
      "WHEN last_checked_at IS NOT NULL THEN 'discovered' "
      "ELSE 'never_discovered' END AS state, count(*) AS n "
      "FROM source_registry GROUP BY 1) t");
  return util::parse_stored(r[0][0].c_str()).as_array();
}

int64_t pending_run_count(pqxx::transaction_base& tx) {
  return tx.exec("SELECT count(*) FROM source_registry WHERE workflow_run_pending")[0][0]
      .as<int64_t>();
}

}  // namespace beampipe::projections::source_registry

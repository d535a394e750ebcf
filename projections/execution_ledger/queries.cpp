#include "projections/execution_ledger/queries.hpp"

#include "domain/redaction.hpp"
#include "store/db.hpp"
#include "util/json.hpp"

namespace beampipe::projections::execution_ledger {
namespace json = boost::json;

namespace {

// ExecutionRead: the row less its bookkeeping, plus the run record at top level.
constexpr const char* kReadRow =
    "SELECT (to_jsonb(x) - 'stream_version') || jsonb_build_object('beampipe_run_record', "
    "x.workflow_manifest->'beampipe_run_record')";

void redact(json::value& v) {
  auto& row = v.as_object();
  for (const char* k : {"workflow_manifest", "beampipe_run_record", "last_error",
                        "scheduler_reason", "deployment_profile_snapshot"})
    if (auto it = row.find(k); it != row.end()) domain::redact_json(it->value());
}

store::page_rows redacted(store::page_rows page) {
  for (auto& r : page.rows) redact(r);
  return page;
}

}  // namespace

std::optional<json::object> find(pqxx::transaction_base& tx, const std::string& id) {
  static const std::string sql =
      std::string(kReadRow) + " FROM batch_execution_record x WHERE uuid = $1::uuid";
  auto r = store::exec_prepared_once(tx, "execution_ledger_find", sql, id);
  if (r.empty()) return std::nullopt;
  auto v = util::parse_stored(r[0][0].c_str());
  redact(v);
  return std::move(v.as_object());
}

json::object read_shape(pqxx::transaction_base& tx, const json::object& columns) {
  static const std::string sql =
      std::string(kReadRow) +
      " FROM jsonb_populate_record(NULL::batch_execution_record, $1::jsonb) x";
  auto r =
      store::exec_prepared_once(tx, "execution_ledger_read_shape", sql, json::serialize(columns));
  auto v = util::parse_stored(r[0][0].c_str());
  redact(v);
  return std::move(v.as_object());
}

store::page_rows list(pqxx::transaction_base& tx, const list_filter& f, int64_t limit,
                      int64_t offset) {
  return redacted(
      store::read_page(tx, kReadRow,
                       "FROM batch_execution_record x WHERE ($1 = '' OR project_module = $1) AND "
                       "($2 = '' OR status = $2) AND ($3 = '' OR scheduler_name = $3)",
                       "ORDER BY created_at DESC, uuid DESC",
                       {f.project_module, f.status, f.scheduler_name}, limit, offset));
}

store::page_rows list_for_source(pqxx::transaction_base& tx, const std::string& project_module,
                                 const std::string& source_identifier, int64_t limit,
                                 int64_t offset) {
  return redacted(store::read_page(
      tx, kReadRow,
      "FROM batch_execution_record x WHERE project_module = $1 AND sources @> "
      "jsonb_build_array(jsonb_build_object('source_identifier', $2::text))",
      "ORDER BY created_at DESC, uuid DESC", {project_module, source_identifier}, limit, offset));
}

std::optional<std::string> create_request_sha256(pqxx::transaction_base& tx,
                                                 const std::string& id) {
  auto r = tx.exec_params(
      "SELECT coalesce(create_request_sha256, '') FROM batch_execution_record "
      "WHERE uuid = $1::uuid",
      id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

std::optional<std::string> execute_job_id(pqxx::transaction_base& tx, const std::string& id) {
  auto r = tx.exec_params(
      "SELECT execute_request->>'job_id' FROM batch_execution_record WHERE uuid = $1::uuid", id);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<std::string>();
}

std::optional<double> duration_seconds(pqxx::transaction_base& tx, const std::string& id) {
  auto r = tx.exec_params(
      "SELECT extract(epoch FROM coalesce(completed_at, now()) - started_at)::float8 "
      "FROM batch_execution_record WHERE uuid = $1::uuid AND started_at IS NOT NULL",
      id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<double>();
}

json::array status_counts(pqxx::transaction_base& tx) {
  json::array out;
  for (const auto& r :
       tx.exec("SELECT status, count(*) FROM batch_execution_record GROUP BY 1 ORDER BY 1"))
    out.push_back(json::object{{"status", r[0].as<std::string>()}, {"n", r[1].as<int64_t>()}});
  return out;
}

json::array stuck_counts(pqxx::transaction_base& tx) {
  json::array out;
  for (const auto& r :
       tx.exec("SELECT status, reason, count(*) FROM execution_stuck GROUP BY 1, 2 ORDER BY 1, 2"))
    out.push_back(json::object{{"state", r[0].as<std::string>()},
                               {"reason", r[1].as<std::string>()},
                               {"n", r[2].as<int64_t>()}});
  return out;
}

store::page_rows slurm_runs(pqxx::transaction_base& tx, bool finished, int64_t limit,
                            int64_t offset) {
  return store::read_page(
      tx,
      "SELECT json_build_object('execution_id', uuid, 'project_module', project_module, "
      "'execution_status', status, 'scheduler_job_id', scheduler_job_id, 'scheduler_state', "
      "scheduler_state, 'scheduler_raw_state', scheduler_raw_state, 'scheduler_reason', "
      "scheduler_reason, 'daliuge_session_id', daliuge_session_id, 'remote_session_dir', "
      "remote_session_dir, 'created_at', created_at, 'last_reconciled_at', last_reconciled_at)",
      "FROM batch_execution_record WHERE scheduler_name = 'slurm' AND ($1 = 'true' OR "
      "execution_in_flight(status))",
      "ORDER BY created_at DESC, uuid DESC", {finished ? "true" : "false"}, limit, offset);
}

int64_t in_flight_count(pqxx::transaction_base& tx) {
  return tx
      .exec("SELECT count(*) FROM batch_execution_record WHERE execution_in_flight(status)")[0][0]
      .as<int64_t>();
}

json::array recent_failures(pqxx::transaction_base& tx, int64_t limit) {
  auto r = tx.exec_params(
      "SELECT coalesce(json_agg(t ORDER BY t.failed_at DESC), '[]')::text FROM (SELECT uuid AS "
      "execution_id, project_module, failure_class, last_error, updated_at AS failed_at FROM "
      "batch_execution_record WHERE status = 'failed' ORDER BY updated_at DESC LIMIT $1) t",
      limit);
  return util::parse_stored(r[0][0].c_str()).as_array();
}

int64_t stuck_count(pqxx::transaction_base& tx, const std::optional<std::string>& project_module) {
  return tx
      .exec_params(
          "SELECT count(*) FROM execution_stuck WHERE ($1::text IS NULL OR project_module = $1)",
          project_module)[0][0]
      .as<int64_t>();
}

// row_to_json, not to_jsonb: the same values (read by key), without building a jsonb of a row
// whose manifest is kilobytes; a quarter of the time.
std::optional<json::object> row(pqxx::transaction_base& tx, const std::string& id) {
  auto r = store::exec_prepared_once(
      tx, "execution_ledger_row",
      "SELECT row_to_json(x)::text, (extract(epoch FROM x.created_at) * 1000)::bigint "
      "FROM batch_execution_record x WHERE uuid = $1::uuid",
      id);
  if (r.empty()) return std::nullopt;
  auto out = util::parse_stored(r[0][0].c_str()).as_object();
  out["created_at_ms"] = r[0][1].as<int64_t>();
  return out;
}

std::vector<json::object> poll_rows(pqxx::transaction_base& tx,
                                    const std::vector<std::string>& ids) {
  std::string list = "{";
  for (size_t i = 0; i < ids.size(); ++i) list += (i ? "," : "") + ids[i];
  list += "}";
  std::vector<json::object> out;
  for (const auto& r : tx.exec_params(
           "SELECT jsonb_build_object('uuid', uuid, 'daliuge_session_id', daliuge_session_id, "
           "'scheduler_job_id', scheduler_job_id, 'remote_session_dir', remote_session_dir, "
           "'submission_intent_at', submission_intent_at, 'deployment_profile_snapshot', "
           "deployment_profile_snapshot)::text FROM batch_execution_record "
           "WHERE uuid = ANY($1::uuid[])",
           list))
    out.push_back(util::parse_stored(r[0].c_str()).as_object());
  return out;
}

std::vector<work_item> needing_work(pqxx::transaction_base& tx, int64_t limit) {
  std::vector<work_item> out;
  // The batch_execution_record_active index's predicate (the function inlines to it).
  for (const auto& row : tx.exec_params(
           "SELECT uuid::text, status, submission_state, coalesce(execution_phase, ''), "
           "coalesce(scheduler_job_id, ''), coalesce(execute_request->>'job_id', ''), "
           "execute_request IS NOT NULL, cancel_requested, stream_version, "
           "coalesce(backend_kind, ''), coalesce(execute_request->>'correlation_id', ''), "
           "coalesce(target_fingerprint, ''), coalesce(submission_node, ''), "
           "coalesce(submission_deadline_at < now(), false) "
           "FROM batch_execution_record WHERE execution_in_flight(status) OR NOT sources_finalized "
           "ORDER BY updated_at LIMIT $1",
           limit)) {
    work_item w;
    w.id = row[0].as<std::string>();
    w.status = row[1].as<std::string>();
    w.submission = row[2].as<std::string>();
    w.phase = row[3].as<std::string>();
    w.scheduler_job_id = row[4].as<std::string>();
    w.job_id = row[5].as<std::string>();
    w.execute_requested = row[6].as<bool>();
    w.cancel_requested = row[7].as<bool>();
    w.version = row[8].as<int64_t>();
    w.backend_kind = row[9].as<std::string>();
    w.correlation_id = row[10].as<std::string>();
    w.target = row[11].as<std::string>();
    w.submission_node = row[12].as<std::string>();
    w.submission_deadline_passed = row[13].as<bool>();
    out.push_back(std::move(w));
  }
  return out;
}

int64_t in_flight_for_profile(pqxx::transaction_base& tx, const std::string& profile_id) {
  return tx
      .exec_params(
          "SELECT count(*) FROM batch_execution_record WHERE deployment_profile_id = $1::uuid "
          "AND execution_in_flight(status)",
          profile_id)[0][0]
      .as<int64_t>();
}

int64_t queued_execute_requests(pqxx::transaction_base& tx) {
  return tx
      .exec(
          "SELECT count(*) FROM batch_execution_record WHERE execute_request IS NOT NULL "
          "AND submission_state = 'not_started' AND execution_in_flight(status)")[0][0]
      .as<int64_t>();
}

std::vector<in_flight_run> in_flight(pqxx::transaction_base& tx) {
  std::vector<in_flight_run> out;
  for (const auto& row :
       tx.exec("SELECT project_module, deployment_profile_id::text, status, sources::text "
               "FROM batch_execution_record WHERE execution_in_flight(status)")) {
    in_flight_run r;
    r.project_module = row[0].as<std::string>();
    if (!row[1].is_null()) r.deployment_profile_id = row[1].as<std::string>();
    r.status = row[2].as<std::string>();
    auto sources = util::parse_stored(row[3].c_str());
    for (const auto& s : sources.as_array())
      r.source_identifiers.emplace_back(s.as_object().at("source_identifier").as_string());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace beampipe::projections::execution_ledger

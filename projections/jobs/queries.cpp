#include "projections/jobs/queries.hpp"

#include <algorithm>

#include "util/json.hpp"

namespace beampipe::projections::jobs {
namespace json = boost::json;

namespace {

// The read model's row with the live lease folded in.
constexpr const char* kJobSelect =
    "SELECT to_jsonb(j) || jsonb_build_object("
    "  'status', job_status_now(j.status, l.state, l.expires_at), "
    "  'lease_owner', CASE WHEN l.state = 'held' THEN l.owner END, "
    "  'lease_token', CASE WHEN l.state = 'held' THEN l.token END, "
    "  'lease_expires_at', CASE WHEN l.state = 'held' THEN l.expires_at END, "
    "  'lease_recoveries', coalesce(l.recoveries, 0)) AS row "
    "FROM jobs j LEFT JOIN job_leases l ON l.job_id = j.id";

// Recurring ticks (per-target DIM and Slurm polls) have no events: their rows come from the
// lease each round is claimed under — running while a worker polls, else queued until
// next_run_at.
constexpr const char* kTickSelect =
    "SELECT jsonb_build_object('id', l.job_id, 'kind', l.kind, "
    "  'status', job_status_now('queued', l.state, l.expires_at), "
    "  'project_module', NULL, 'subject', l.subject, 'execution_id', NULL, "
    "  'attempt', l.attempt, 'claim_token', NULL, 'reason', 'recurring', 'last_error', NULL, "
    "  'created_at', l.claimed_at, 'updated_at', l.renewed_at, 'finished_at', NULL, "
    "  'next_run_at', l.next_run_at, 'failure_class', NULL, 'dead_lettered_at', NULL, "
    "  'lease_owner', CASE WHEN l.state = 'held' THEN l.owner END, "
    "  'lease_token', CASE WHEN l.state = 'held' THEN l.token END, "
    "  'lease_expires_at', CASE WHEN l.state = 'held' THEN l.expires_at END, "
    "  'lease_recoveries', l.recoveries) AS row "
    "FROM job_leases l WHERE l.kind LIKE '%\\_tick'";

std::optional<json::object> first_row(pqxx::transaction_base& tx, std::string sql,
                                      const std::string& id) {
  return store::first_object(tx.exec_params(sql, id));
}

}  // namespace

std::optional<json::object> find(pqxx::transaction_base& tx, const std::string& id) {
  auto row = first_row(tx, std::string(kJobSelect) + " WHERE j.id = $1::uuid", id);
  if (!row) row = first_row(tx, std::string(kTickSelect) + " AND l.job_id = $1::uuid", id);
  return row;
}

store::page_rows list(pqxx::transaction_base& tx, const list_filter& f, int64_t limit,
                      int64_t offset) {
  std::string from = "FROM (";
  from.append(kJobSelect)
      .append(" WHERE ($2 = '' OR j.kind = $2) AND ($3 = '' OR j.project_module = $3) UNION ALL ")
      .append(kTickSelect)
      .append(
          " AND ($2 = '' OR l.kind = $2) AND $3 = '') x WHERE ($1 = '' OR row->>'status' = $1)");
  return store::read_page(tx, "SELECT row", from,
                          "ORDER BY row->>'created_at' DESC, row->>'id' DESC",
                          {f.status, f.kind, f.project_module}, limit, offset);
}

store::page_rows held_leases(pqxx::transaction_base& tx, const std::string& worker_id,
                             int64_t limit, int64_t offset) {
  return store::read_page(
      tx, "SELECT row_to_json(x)::text",
      "FROM (SELECT l.job_id, l.kind, j.execution_id, l.owner AS worker_id, "
      "  l.token AS claim_id, coalesce(h.pool, 'default') AS pool, l.subject, "
      "  l.attempt AS attempts, l.recoveries, l.claimed_at, l.expires_at AS lease_expires_at, "
      "  l.renewed_at AS heartbeat_at "
      " FROM job_leases l LEFT JOIN jobs j ON j.id = l.job_id "
      " LEFT JOIN node_heartbeats h ON h.node_id = l.owner "
      " WHERE l.state = 'held' AND l.expires_at > clock_timestamp() "
      "   AND ($1 = '' OR l.owner = $1)) x",
      "ORDER BY x.lease_expires_at, x.job_id", {worker_id}, limit, offset);
}

queue_state queue(pqxx::transaction_base& tx) {
  auto row = tx.exec(
      "SELECT count(*) FILTER (WHERE s = 'queued'), count(*) FILTER (WHERE s = 'running') "
      "FROM (SELECT job_status_now(j.status, l.state, l.expires_at) AS s FROM jobs j LEFT "
      "JOIN job_leases l ON l.job_id = j.id WHERE j.status = 'queued') x")[0];
  return {row[0].as<int64_t>(), row[1].as<int64_t>()};
}

int64_t queued(pqxx::transaction_base& tx, const std::optional<std::string>& project_module) {
  return tx
      .exec_params(
          "SELECT count(*) FROM jobs j LEFT JOIN job_leases l ON l.job_id = j.id WHERE "
          "job_status_now(j.status, l.state, l.expires_at) = 'queued' AND "
          "($1::text IS NULL OR j.project_module = $1)",
          project_module)[0][0]
      .as<int64_t>();
}

gauges metrics(pqxx::transaction_base& tx) {
  gauges g;
  auto rows = tx.exec(
      "SELECT j.kind, job_status_now(j.status, l.state, l.expires_at) AS s, count(*), "
      "extract(epoch FROM now() - min(j.created_at))::float8 "
      "FROM jobs j LEFT JOIN job_leases l ON l.job_id = j.id GROUP BY 1, 2 ORDER BY 1, 2");
  for (const auto& r : rows) {
    auto status = r[1].as<std::string>();
    auto n = r[2].as<int64_t>();
    g.by_kind_and_status.push_back(
        json::object{{"kind", r[0].as<std::string>()}, {"status", status}, {"n", n}});
    if (status == "queued") {
      g.queued += n;
      g.oldest_queued_seconds = std::max(g.oldest_queued_seconds, r[3].as<double>());
    }
  }
  return g;
}

}  // namespace beampipe::projections::jobs

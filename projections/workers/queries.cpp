#include "projections/workers/queries.hpp"

namespace beampipe::projections::workers {
namespace json = boost::json;

namespace {

// $1: the seconds after which a worker without a beat is stale (three intervals).
constexpr const char* kWorkers =
    "(SELECT h.node_id AS id, h.instance_name, h.host, h.pid AS process_id, h.roles AS role, "
    "  h.pool, h.capabilities, h.labels, h.version, h.concurrency_limit, h.registered_by, "
    "  CASE WHEN h.stopped_at IS NOT NULL THEN 'stopped' "
    "       WHEN coalesce(d.draining, false) THEN 'draining' ELSE 'active' END AS status, "
    "  CASE WHEN h.stopped_at IS NOT NULL THEN 'stopped' "
    "       WHEN h.last_seen <= now() - make_interval(secs => $1::double precision) THEN 'stale' "
    "       WHEN coalesce(d.draining, false) THEN 'draining' ELSE 'healthy' END AS health, "
    "  (SELECT count(*) FROM job_leases l WHERE l.owner = h.node_id AND l.state = 'held' "
    "     AND l.expires_at > clock_timestamp()) AS active_leases, "
    "  round(extract(epoch FROM clock_timestamp() - h.last_seen)::numeric, 3) "
    "    AS heartbeat_age_seconds, "
    "  h.started_at, h.last_seen AS last_heartbeat_at, "
    "  CASE WHEN d.draining THEN d.draining_at END AS draining_at, "
    "  CASE WHEN d.draining THEN d.reason END AS drain_reason, "
    "  CASE WHEN d.draining THEN d.requested_by END AS drained_by, h.stopped_at "
    " FROM node_heartbeats h LEFT JOIN worker_drains d ON d.worker_id = h.node_id) w";

std::string stale_after(std::chrono::seconds every) { return std::to_string(3 * every.count()); }

}  // namespace

store::page_rows list(pqxx::transaction_base& tx, std::chrono::seconds every, const list_filter& f,
                      int64_t limit, int64_t offset) {
  std::string from = "FROM ";
  from.append(kWorkers).append(" WHERE ($2 = '' OR w.status = $2) AND ($3 = '' OR w.pool = $3)");
  return store::read_page(tx, "SELECT row_to_json(w)::text", from, "ORDER BY w.id",
                          {stale_after(every), f.status, f.pool}, limit, offset);
}

std::optional<json::object> find(pqxx::transaction_base& tx, std::chrono::seconds every,
                                 const std::string& id) {
  std::string sql = "SELECT row_to_json(w)::text FROM ";
  sql.append(kWorkers).append(" WHERE w.id = $2");
  return store::first_object(tx.exec_params(sql, stale_after(every), id));
}

store::page_rows pools(pqxx::transaction_base& tx, std::chrono::seconds every, int64_t limit,
                       int64_t offset) {
  std::string from =
      "FROM (SELECT w.pool, "
      "  count(*) FILTER (WHERE w.health = 'healthy') AS active_workers, "
      "  count(*) FILTER (WHERE w.health = 'draining') AS draining_workers, "
      "  count(*) FILTER (WHERE w.health = 'stale') AS unhealthy_workers, "
      "  coalesce(sum(w.concurrency_limit) FILTER (WHERE w.health = 'healthy'), 0) "
      "    AS concurrency_limit, "
      "  coalesce(sum(w.active_leases), 0) AS active_leases FROM ";
  from.append(kWorkers).append(" WHERE w.status <> 'stopped' GROUP BY w.pool) p");
  return store::read_page(tx, "SELECT row_to_json(p)::text", from, "ORDER BY p.pool",
                          {stale_after(every)}, limit, offset);
}

bool draining(pqxx::transaction_base& tx, const std::string& id) {
  return tx.exec_params1("SELECT worker_draining($1)", id)[0].as<bool>();
}

}  // namespace beampipe::projections::workers

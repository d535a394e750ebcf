#include "services/node_heartbeat.hpp"

#include <spdlog/spdlog.h>

#include "util/json.hpp"

namespace beampipe::services {
namespace json = boost::json;

namespace {

// One row per worker, refreshed by each beat; `by` is who keeps it: the node itself or the API.
void upsert(pqxx::transaction_base& tx, const node_identity& who, const char* by) {
  tx.exec_params(
      "INSERT INTO node_heartbeats (node_id, host, pid, roles, version, started_at, last_seen, "
      "instance_name, pool, capabilities, labels, concurrency_limit, registered_by) "
      "VALUES ($1, $2, $3, $4, $5, now(), now(), nullif($6, ''), $7, $8::jsonb, $9::jsonb, $10, "
      "$11) ON CONFLICT (node_id) DO UPDATE SET "
      "host = EXCLUDED.host, pid = EXCLUDED.pid, roles = EXCLUDED.roles, version = "
      "EXCLUDED.version, last_seen = now(), stopped_at = NULL, started_at = CASE WHEN "
      "node_heartbeats.pid = EXCLUDED.pid THEN node_heartbeats.started_at ELSE now() END, "
      "instance_name = EXCLUDED.instance_name, pool = EXCLUDED.pool, capabilities = "
      "EXCLUDED.capabilities, labels = EXCLUDED.labels, concurrency_limit = "
      "EXCLUDED.concurrency_limit, registered_by = EXCLUDED.registered_by",
      who.node_id, who.host, who.pid, who.roles, who.version, who.instance_name, who.pool,
      json::serialize(who.capabilities), json::serialize(who.labels), who.concurrency_limit, by);
}

}  // namespace

registration register_worker(pqxx::transaction_base& tx, const node_identity& who) {
  // Locks the row (if any) so two registrations of one id are decided one after the other.
  auto r = tx.exec_params(
      "SELECT registered_by = 'node' AND stopped_at IS NULL FROM node_heartbeats WHERE node_id = "
      "$1 FOR UPDATE",
      who.node_id);
  if (!r.empty() && r[0][0].as<bool>()) return registration::taken_by_node;
  upsert(tx, who, "api");
  return r.empty() ? registration::created : registration::refreshed;
}

std::optional<std::string> record_heartbeat(pqxx::transaction_base& tx, const std::string& id) {
  auto r = tx.exec_params(
      "UPDATE node_heartbeats SET last_seen = now(), stopped_at = NULL WHERE node_id = $1 AND "
      "registered_by = 'api' "
      "RETURNING to_json(last_seen)#>>'{}'",
      id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

node_heartbeat::node_heartbeat(store::database& db, node_identity who, std::chrono::seconds every)
    : pool_(db.pool(store::db_role::heartbeat)),
      who_(std::move(who)),
      every_(std::max(every, std::chrono::seconds(1))) {}

node_heartbeat::~node_heartbeat() { stop(); }

void node_heartbeat::beat() {
  store::with_connection(pool_, [this](pqxx::connection& c) {
    pqxx::work tx{c};
    tx.exec("SET LOCAL synchronous_commit = off");  // liveness, not record
    upsert(tx, who_, "node");
    // Rows of nodes gone for a day are forgotten.
    tx.exec("DELETE FROM node_heartbeats WHERE last_seen < now() - interval '1 day'");
    bool drained = tx.exec_params1("SELECT worker_draining($1)", who_.node_id)[0].as<bool>();
    tx.commit();
    if (drained != draining_.exchange(drained)) {
      if (drained)
        spdlog::info("node {} is drained: it claims no new work and finishes what it holds",
                     who_.node_id);
      else
        spdlog::info("node {} resumed: it claims work again", who_.node_id);
    }
  });
}

void node_heartbeat::start() {
  if (thread_.joinable()) return;
  beat();  // visible before the process says it is up
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, every_, [this] { return stopping_; })) {
      lock.unlock();
      try {
        beat();
      } catch (const std::exception& e) {
        spdlog::warn("heartbeat failed: {}", e.what());
      }
      lock.lock();
    }
  });
}

void node_heartbeat::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (!thread_.joinable()) return;
  thread_.join();
  try {
    store::with_connection(pool_, [this](pqxx::connection& c) {
      pqxx::work tx{c};
      tx.exec_params("UPDATE node_heartbeats SET stopped_at = now() WHERE node_id = $1",
                     who_.node_id);
      tx.commit();
    });
  } catch (const std::exception& e) {
    spdlog::warn("could not mark node {} stopped: {}", who_.node_id, e.what());
  }
}

node_census take_census(pqxx::transaction_base& tx, std::chrono::seconds every) {
  auto r = tx.exec_params1(
      "SELECT coalesce(json_agg(n ORDER BY n.node_id), '[]')::text, count(*) FILTER (WHERE "
      "n.alive AND n.roles LIKE '%workers%' AND NOT n.draining), count(*) FILTER (WHERE NOT "
      "n.alive AND NOT n.stopped), count(*) FILTER (WHERE n.alive AND n.draining) FROM (SELECT "
      "node_id, host, pid, roles, version, started_at, last_seen, stopped_at IS NULL AND "
      "last_seen > now() - make_interval(secs => $1) AS alive, stopped_at IS NOT NULL AS "
      "stopped, worker_draining(node_id) AS draining FROM node_heartbeats WHERE registered_by = "
      "'node') n",
      static_cast<double>(3 * every.count()));
  node_census out;
  out.nodes = util::parse_stored(r[0].c_str()).as_array();
  // `stopped` is how the census tells stale from stopped; the rows keep the listed fields.
  for (auto& n : out.nodes) n.as_object().erase("stopped");
  out.workers_alive = r[1].as<int64_t>();
  out.stale = r[2].as<int64_t>();
  out.draining = r[3].as<int64_t>();
  return out;
}

}  // namespace beampipe::services

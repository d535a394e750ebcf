#pragma once
// Tells the cluster this process is alive: its node_heartbeats row is refreshed every interval
// (BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS) and marked stopped on a clean shutdown. /ready
// and the metrics count a node alive while its last beat is within three intervals.
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "store/database.hpp"

namespace beampipe::services {

struct node_identity {
  std::string node_id, host, roles, version;
  int pid = 0;
  // What GET /workers shows of it: the work it claims (job kinds), its pool, labels, name.
  std::string instance_name, pool = "default";
  boost::json::array capabilities;
  boost::json::object labels;
  int64_t concurrency_limit = 1;
};

// A worker registered through the API (POST /workers) rather than by its own beats: new,
// refreshed (an API registration of the same id), or refused because a node beats under it.
enum class registration { created, refreshed, taken_by_node };
registration register_worker(pqxx::transaction_base& tx, const node_identity& who);
// A beat sent through the API (POST /workers/{id}/heartbeat) for a worker registered there:
// the time it was recorded at, or none when no such worker exists (a node beats on its own).
std::optional<std::string> record_heartbeat(pqxx::transaction_base& tx, const std::string& id);

// The cluster's processes by their heartbeats: alive while the last beat is within three
// intervals, stale when neither alive nor stopped (killed, hung, or cut off). Workers
// registered through the API are listed by GET /workers, but are no beampipe process.
struct node_census {
  // {node_id, host, pid, roles, version, started_at, last_seen, alive, draining}
  boost::json::array nodes;
  int64_t workers_alive = 0;  // alive nodes with the workers role that take work (not drained)
  int64_t stale = 0;
  int64_t draining = 0;  // alive nodes an operator drained
};
node_census take_census(pqxx::transaction_base& tx, std::chrono::seconds every);

class node_heartbeat {
 public:
  node_heartbeat(store::database& db, node_identity who, std::chrono::seconds every);
  ~node_heartbeat();
  void start();  // beats once before returning, then in the background
  void stop();   // marks the row stopped
  // Whether an operator drained this node (worker_draining), as of the last beat. Claims are
  // refused in the database as soon as the drain is applied; this is what /ready reports.
  bool draining() const { return draining_.load(); }

 private:
  void beat();
  store::connection_pool& pool_;
  node_identity who_;
  std::chrono::seconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> draining_{false};
  std::thread thread_;
};

}  // namespace beampipe::services

#pragma once
// Tells the cluster this process is alive: its node_heartbeats row is refreshed every interval
// (BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS) and marked stopped on a clean shutdown. /ready
// and the metrics count a node alive while its last beat is within three intervals.
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "store/database.hpp"

namespace beampipe::services {

struct node_identity {
  std::string node_id, host, roles, version;
  int pid = 0;
};

// The cluster's processes by their heartbeats: alive while the last beat is within three
// intervals, stale when neither alive nor stopped (killed, hung, or cut off).
struct node_census {
  boost::json::array nodes;   // {node_id, host, pid, roles, version, started_at, last_seen, alive}
  int64_t workers_alive = 0;  // alive nodes with the workers role
  int64_t stale = 0;
};
node_census take_census(pqxx::transaction_base& tx, std::chrono::seconds every);

class node_heartbeat {
 public:
  node_heartbeat(store::database& db, node_identity who, std::chrono::seconds every);
  ~node_heartbeat();
  void start();  // beats once before returning, then in the background
  void stop();   // marks the row stopped

 private:
  void beat();
  store::connection_pool& pool_;
  node_identity who_;
  std::chrono::seconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace beampipe::services

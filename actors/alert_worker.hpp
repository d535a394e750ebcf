#pragma once
// The alert worker (spec §3.9, issue #8). Every process with workers runs one; they share
// the work through the database:
//
//   immediate triggers  a failed execution (alert_triggers read model) is offered to every
//                       enabled execution_terminal rule in scope; the rule aggregate records
//                       AlertFired, or AlertSuppressed in its cooldown, once per trigger
//   periodic rules      one evaluator round per interval across the cluster (the round is
//                       claimed as the recurring job alert_evaluator_tick); each rule's
//                       condition is measured over its project (or all projects) and fires
//                       once it has held for for_minutes, outside its cooldown
//   deliveries          each pending delivery's next attempt is claimed with a lease, POSTed
//                       once, and its outcome recorded on the delivery's stream: sent, retry
//                       at a backed-off time, or failed after the last attempt
//
// What was fired and delivered lives in events, so a restart resumes retries and never fires
// a trigger twice. A webhook can still see an attempt twice if a process dies between the
// POST and its record; X-Beampipe-Delivery lets a receiver drop the repeat.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "actors/runtime.hpp"
#include "adapters/notifier.hpp"
#include "store/db.hpp"

namespace beampipe::actors {

struct alert_worker_options {
  std::chrono::milliseconds scan_every{1000};  // BEAMPIPE_ALERT_SCAN_MS
  std::chrono::seconds evaluate_every{60};     // BEAMPIPE_ALERT_EVALUATOR_INTERVAL_SECONDS
  std::chrono::seconds backoff{30};            // BEAMPIPE_ALERT_DELIVERY_BACKOFF_SECONDS
  std::chrono::seconds backoff_cap{3600};      // BEAMPIPE_ALERT_DELIVERY_BACKOFF_MAX_SECONDS
  std::chrono::hours trigger_lookback{24};     // BEAMPIPE_ALERT_TRIGGER_LOOKBACK_HOURS
  int max_attempts = 8;                        // BEAMPIPE_ALERT_DELIVERY_MAX_ATTEMPTS
  adapters::notify_options notify;  // timeout (BEAMPIPE_ALERT_WEBHOOK_TIMEOUT_MS), extra CA file
  std::chrono::milliseconds lock{60000};  // delivery and evaluator leases
  // Whether each probed dependency is up (dependency_down rules); several probes of one name
  // are down when any is.
  std::function<std::map<std::string, bool>()> dependencies;
  std::function<int64_t()> projection_lag;                      // projection_lag rules
  std::function<void(const std::string& outcome)> on_delivery;  // metrics
};

class alert_worker {
 public:
  alert_worker(runtime& rt, store::database& db, alert_worker_options opts);
  ~alert_worker();
  void start();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Delivers one alert payload to a channel now, as a test (POST /notification-channels/{id}/
// test): one attempt, recorded as a delivery of its own. Returns {delivery_id, status, error?}.
struct channel_test_result {
  std::string delivery_id;
  std::string status;  // sent | failed | missing (no such channel: nothing recorded)
  std::string error;
  int64_t position = 0;
};
channel_test_result test_channel(runtime& rt, store::connection_pool& pool,
                                 const std::string& channel_uuid, const std::string& actor,
                                 const adapters::notify_options& notify);

}  // namespace beampipe::actors

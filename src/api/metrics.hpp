#pragma once
// Process metrics in Prometheus text format (0.0.4). Counters and histograms are guarded by
// one mutex: updates are a few per request, far below contention levels that matter here.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace beampipe::api {

class metrics {
 public:
  void observe_request(const std::string& method, const std::string& route, int status,
                       double seconds);
  // One scheduler tick on this node: how long it took and the work it admitted.
  void observe_scheduler_tick(double seconds, uint64_t executions, uint64_t discoveries);
  // One alert delivery attempt on this node: sent, retry (failed, tried again later) or failed
  // (given up); any other outcome is not counted.
  void count_alert_delivery(const std::string& outcome);
  // Clustered nodes: renders beampipe_cluster_forward_seconds, the round trips of commands
  // forwarded to the member holding their shard (observe_forward).
  void track_forwards();
  void observe_forward(double seconds);
  // A request put off until its commands' replies arrive (+1), or resumed (-1).
  void command_wait(int delta) { command_waits_ += delta; }
  // Gauges computed at scrape time (appends, projection lag, live actors, ...).
  void add_collector(std::function<void(std::string&)> collector);
  std::string render() const;

 private:
  struct histogram {
    std::vector<uint64_t> buckets;  // cumulative at render time
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> requests_;    // labels -> count
  std::map<std::string, histogram> latencies_;  // labels -> histogram
  histogram ticks_;
  std::optional<histogram> forwards_;
  uint64_t admitted_executions_ = 0, admitted_discoveries_ = 0;
  std::map<std::string, uint64_t> alert_deliveries_{{"sent", 0}, {"retry", 0}, {"failed", 0}};
  std::vector<std::function<void(std::string&)>> collectors_;
  std::atomic<int64_t> command_waits_{0};
};

// Escapes a Prometheus label value.
std::string prom_label(const std::string& v);
// The method label of a request: GET HEAD POST PUT PATCH DELETE OPTIONS, else OTHER (a client
// chooses the token, so it must never become a label of its own).
std::string method_label(const std::string& method);

}  // namespace beampipe::api

#include "api/metrics.hpp"

#include <cstdio>

namespace beampipe::api {
namespace {
const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25,  0.5,    1,     2.5,  5,     10};
}

std::string prom_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string method_label(const std::string& method) {
  static const char* const kKnown[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (const char* m : kKnown)
    if (method == m) return m;
  return "OTHER";
}

namespace {
void add_sample(std::vector<uint64_t>& buckets, uint64_t& count, double& sum, double seconds) {
  if (buckets.empty()) buckets.assign(kBuckets.size(), 0);
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) buckets[i]++;
  count++;
  sum += seconds;
}

// An unlabelled histogram's series.
void render_histogram(std::string& out, const std::string& name, const std::vector<uint64_t>& b,
                      uint64_t count, double sum) {
  char buf[64];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%g", kBuckets[i]);
    out += name + "_bucket{le=\"" + buf + "\"} " + std::to_string(b.empty() ? 0 : b[i]) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  std::snprintf(buf, sizeof buf, "%.6f", sum);
  out += name + "_sum " + buf + "\n" + name + "_count " + std::to_string(count) + "\n";
}
}  // namespace

void metrics::track_forwards() {
  std::lock_guard lk(mu_);
  if (!forwards_) forwards_.emplace();
}

void metrics::observe_forward(double seconds) {
  std::lock_guard lk(mu_);
  if (forwards_) add_sample(forwards_->buckets, forwards_->count, forwards_->sum, seconds);
}

void metrics::observe_request(const std::string& method, const std::string& route, int status,
                              double seconds) {
  // Label values must come from fixed sets: the method token is the client's to choose, so
  // anything unusual is OTHER; route is the matched route's pattern or "unmatched", never the
  // requested path; status is a number.
  std::string labels =
      "method=\"" + method_label(method) + "\",route=\"" + prom_label(route) + "\"";
  std::lock_guard lk(mu_);
  requests_[labels + ",status=\"" + std::to_string(status) + "\""]++;
  auto& h = latencies_[labels];
  add_sample(h.buckets, h.count, h.sum, seconds);
}

void metrics::observe_scheduler_tick(double seconds, uint64_t executions, uint64_t discoveries) {
  std::lock_guard lk(mu_);
  add_sample(ticks_.buckets, ticks_.count, ticks_.sum, seconds);
  admitted_executions_ += executions;
  admitted_discoveries_ += discoveries;
}

void metrics::count_alert_delivery(const std::string& outcome) {
  std::lock_guard lk(mu_);
  // Only the three outcomes are series; anything else is a caller's bug, not a new label.
  auto it = alert_deliveries_.find(outcome);
  if (it != alert_deliveries_.end()) it->second++;
}

void metrics::add_collector(std::function<void(std::string&)> collector) {
  std::lock_guard lk(mu_);
  collectors_.push_back(std::move(collector));
}

std::string metrics::render() const {
  std::string out;
  std::vector<std::function<void(std::string&)>> collectors;
  {
    std::lock_guard lk(mu_);
    out += "# HELP beampipe_command_waits Requests put off until their commands' replies arrive.\n";
    out += "# TYPE beampipe_command_waits gauge\n";
    out += "beampipe_command_waits " + std::to_string(command_waits_.load()) + "\n";
    out +=
        "# HELP beampipe_api_requests_total API requests by route template, method and status.\n";
    out += "# TYPE beampipe_api_requests_total counter\n";
    for (const auto& [labels, n] : requests_)
      out += "beampipe_api_requests_total{" + labels + "} " + std::to_string(n) + "\n";
    out += "# HELP beampipe_api_request_duration_seconds API request latency.\n";
    out += "# TYPE beampipe_api_request_duration_seconds histogram\n";
    char buf[64];
    for (const auto& [labels, h] : latencies_) {
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%g", kBuckets[i]);
        out += "beampipe_api_request_duration_seconds_bucket{" + labels + ",le=\"" + buf + "\"} " +
               std::to_string(h.buckets[i]) + "\n";
      }
      out += "beampipe_api_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
             std::to_string(h.count) + "\n";
      std::snprintf(buf, sizeof buf, "%.6f", h.sum);
      out += "beampipe_api_request_duration_seconds_sum{" + labels + "} " + buf + "\n";
      out += "beampipe_api_request_duration_seconds_count{" + labels + "} " +
             std::to_string(h.count) + "\n";
    }
    out += "# HELP beampipe_scheduler_tick_duration_seconds Scheduler ticks run by this node.\n";
    out += "# TYPE beampipe_scheduler_tick_duration_seconds histogram\n";
    render_histogram(out, "beampipe_scheduler_tick_duration_seconds", ticks_.buckets, ticks_.count,
                     ticks_.sum);
    if (forwards_) {
      out +=
          "# HELP beampipe_cluster_forward_seconds Round trip of a command forwarded to the "
          "member holding its shard.\n# TYPE beampipe_cluster_forward_seconds histogram\n";
      render_histogram(out, "beampipe_cluster_forward_seconds", forwards_->buckets,
                       forwards_->count, forwards_->sum);
    }
    out += "# HELP beampipe_scheduler_admitted_total Work the scheduler admitted on this node.\n";
    out += "# TYPE beampipe_scheduler_admitted_total counter\n";
    out += "beampipe_scheduler_admitted_total{work=\"execution\"} " +
           std::to_string(admitted_executions_) + "\n";
    out += "beampipe_scheduler_admitted_total{work=\"discovery_batch\"} " +
           std::to_string(admitted_discoveries_) + "\n";
    out += "# HELP beampipe_alert_deliveries_total Alert delivery attempts by outcome.\n";
    out += "# TYPE beampipe_alert_deliveries_total counter\n";
    for (const auto& [outcome, n] : alert_deliveries_)
      out += "beampipe_alert_deliveries_total{outcome=\"" + prom_label(outcome) + "\"} " +
             std::to_string(n) + "\n";
    collectors = collectors_;
  }
  for (const auto& c : collectors) c(out);
  return out;
}

}  // namespace beampipe::api

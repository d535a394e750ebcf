#pragma once
// The scheduler: one active instance per deployment, elected through a PostgreSQL lease
// (store/leases.hpp). The leader ticks every interval (the first tick right after it wins)
// and records each tick, with what it admitted, on the scheduler stream under its lease
// token; the scheduler aggregate refuses a token older than the newest it has seen, so a
// leader that lost its lease cannot record anything. Other scheduler-enabled processes
// stand by and take over once the lease expires.
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "actors/runtime.hpp"

namespace beampipe::actors {

struct scheduler_options {
  std::chrono::milliseconds interval{
      std::chrono::seconds(60)};  // BEAMPIPE_SCHEDULER_INTERVAL_SECONDS
  std::chrono::milliseconds lease_ttl{
      std::chrono::seconds(30)};  // BEAMPIPE_SCHEDULER_LEASE_SECONDS
};

// One tick's work; returns {"discovery": {...}, "execution": {...}} summaries to record.
using tick_function = std::function<boost::json::object(int64_t lease_token)>;

class scheduler {
 public:
  scheduler(runtime& rt, store::database& db, scheduler_options opts, tick_function tick);
  ~scheduler();
  void start();
  void stop();
  bool leading() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::actors

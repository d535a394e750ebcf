#pragma once
// The scheduler: one active instance per deployment, elected through a PostgreSQL lease
// (store/leases.hpp). It is an event-based actor (scheduler_actor.cpp): timers are delayed
// messages, and the lease I/O and the tick run off CAF's threads, their results coming back
// as messages, so a renewal goes on while a long tick runs. The leader ticks every interval
// (the first tick right after it wins) and records each tick, with what it admitted, on the
// scheduler stream under its lease token; the scheduler aggregate refuses a token older than
// the newest it has seen, so a leader that lost its lease cannot record anything, and a
// refused record ("fenced") ends its leadership at once. Other scheduler-enabled processes
// stand by and take over once the lease expires.
#include <algorithm>
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
  // Waits for the record of a tick; past it the tick counts as not recorded.
  std::chrono::milliseconds record_timeout{std::chrono::seconds(30)};
  // Renew well inside the TTL so a healthy leader never lapses.
  std::chrono::milliseconds renew_every() const {
    return std::max(std::chrono::milliseconds(50), lease_ttl / 3);
  }
};

// One tick's work; returns {"discovery": {...}, "execution": {...}} summaries to record.
using tick_function = std::function<boost::json::object(int64_t lease_token)>;

// What the scheduler actor does outside itself. Each call blocks and is run through
// `run_blocking`, never on a CAF thread; the actor keeps at most one lease call and one tick
// in flight. Tests replace these to choose every interleaving.
struct scheduler_ports {
  // Takes or renews the lease: its token, or 0 while another node holds it. Throws when the
  // database cannot answer.
  std::function<int64_t()> hold_lease;
  std::function<void(int64_t token)> release_lease;
  tick_function tick;
  std::function<void(std::function<void()>)> run_blocking;
};

class scheduler {
 public:
  scheduler(runtime& rt, store::database& db, scheduler_options opts, tick_function tick);
  ~scheduler();
  void start();
  // Finishes a tick in flight and records it, hands the lease over, then returns (bounded).
  void stop();
  bool leading() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::actors

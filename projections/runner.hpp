#pragma once
// Runs the projection engine live: catch up, then wait for NOTIFY (or a short poll, since
// the read fence may hold events back until an unrelated transaction ends), repeat.
// Publishes checkpoints so API reads can wait for their own writes.
#include "projections/engine.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace beampipe::projections {

class projection_watch {
 public:
  enum class wait_result {
    reached,    // every projection's checkpoint is at or past the target
    timed_out,  // the deadline passed while the runner was working
    stalled,    // the runner is failing (database gone, ...): waiting would not help
    stopping,   // the process is shutting down
  };

  void publish(std::vector<checkpoint> cps, int64_t head);
  // Waits (bounded) for `target`; ends at once when the runner fails or on shutdown.
  wait_result wait_for(events::read_position target,
                       std::chrono::steady_clock::time_point deadline);
  // wait_for(...) == reached.
  bool wait_until(events::read_position target, std::chrono::steady_clock::time_point deadline);
  bool reached(events::read_position target) const;
  std::vector<checkpoint> checkpoints() const;
  // Names of the projections whose checkpoint is before `target`.
  std::vector<std::string> behind(events::read_position target) const;
  int64_t head() const;
  // Events the slowest projection still has to apply, by global position (approximate).
  int64_t lag() const;
  bool alive() const { return alive_.load(); }
  // The runner caught up (alive) or is idle; clears a reported failure.
  void set_alive(bool v);
  // The runner's last step failed with `error`; waiters give up at once.
  void report_failure(std::string error);
  // Why the runner is failing, or empty.
  std::string failure() const;
  // Shutdown: every wait returns `stopping`, now and later.
  void shutdown();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<checkpoint> cps_;
  int64_t head_ = 0;
  std::string failure_;
  bool stopping_ = false;
  std::atomic<bool> alive_{false};
};

class runner {
 public:
  runner(std::string conninfo, std::shared_ptr<engine> eng, projection_watch& watch, size_t batch_size = 1000);
  ~runner();
  void start();
  void stop();

 private:
  void run();
  struct fence_state {
    bool held = false;
    std::string stall;
  };
  static fence_state held_back(pqxx::connection& c, const std::vector<checkpoint>& cps);
  std::string conninfo_;
  std::shared_ptr<engine> engine_;
  projection_watch& watch_;
  size_t batch_size_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace beampipe::projections

#pragma once
// Runs the projection engine live: catch up, then wait for NOTIFY (or a short poll, since
// the read fence may hold events back until an unrelated transaction ends), repeat.
// Publishes checkpoints so API reads can wait for their own writes.
#include "projections/engine.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace beampipe::projections {

class projection_watch {
 public:
  void publish(std::vector<checkpoint> cps, int64_t head);
  // True once every projection's checkpoint is at or past `target`.
  bool wait_until(events::read_position target, std::chrono::steady_clock::time_point deadline);
  bool reached(events::read_position target) const;
  std::vector<checkpoint> checkpoints() const;
  int64_t head() const;
  // Events the slowest projection still has to apply, by global position (approximate).
  int64_t lag() const;
  bool alive() const { return alive_.load(); }
  void set_alive(bool v);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<checkpoint> cps_;
  int64_t head_ = 0;
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
  std::string conninfo_;
  std::shared_ptr<engine> engine_;
  projection_watch& watch_;
  size_t batch_size_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace beampipe::projections

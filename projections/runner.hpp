#pragma once
// Runs the projection engine live: catch up, then wait for NOTIFY (or a short poll, since
// the read fence may hold events back until an unrelated transaction ends), repeat.
// Publishes checkpoints so API reads can wait for their own writes.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "projections/engine.hpp"
#include "store/database.hpp"

namespace beampipe::projections {

// What the API and the workers know of the read models: each group's checkpoints, published by
// its own runner, and whether that runner is failing. A wait names the read models it needs
// (none: all of them), so a slow or failing group delays only the reads that use it.
class projection_watch {
 public:
  enum class wait_result {
    reached,    // every named projection's checkpoint is at or past the target
    timed_out,  // the deadline passed while the runners were working
    stalled,    // a runner a named projection depends on is failing: waiting would not help
    stopping,   // the process is shutting down
  };
  using names = std::vector<std::string>;

  // A runner announces its group and the projections in it before it publishes anything, so
  // a wait never counts a group that has not reported yet as caught up.
  void add_group(const std::string& group, const names& projections);
  // `applied_events`: the group just applied events, so a failure it reported is over. It is
  // cleared under the same lock that moves the checkpoints: a wait that sees the new position
  // never sees the old failure.
  void publish(const std::string& group, std::vector<checkpoint> cps, int64_t head,
               bool applied_events = false);
  // Waits (bounded) for `target`; ends at once when a runner it needs fails, or on shutdown.
  wait_result wait_for(events::read_position target, std::chrono::steady_clock::time_point deadline,
                       const names& only = {});
  // What a registered wait waits for: `target` applied by the named read models, or, while the
  // position a client named is not written yet, the head reaching `head_at_least`.
  struct interest {
    std::optional<events::read_position> target;
    int64_t head_at_least = 0;
    names only;
  };
  using wake_fn = std::function<void()>;
  // A wait that holds no thread (the API's deferred reads): `wake` runs once, on the thread
  // that changed the state (so it must only hand work off), when the interest is met, when a
  // runner a target needs fails, or on shutdown; at once (returning 0) when that is so already.
  // The caller owns the deadline and forget()s the registration when it passes.
  uint64_t notify_when(interest what, wake_fn wake);
  void forget(uint64_t id);
  size_t waiting() const;  // registrations not yet woken
  bool stopping() const;
  // Returns false at `deadline`, or true as soon as a read waits for the read models (a
  // wait_for in progress, a notify_when registered) or the watch shuts down: a runner spacing
  // its steps under a stream of commits steps at once for a reader (read-your-writes stays
  // prompt).
  bool until_awaited(std::chrono::steady_clock::time_point deadline);
  // wait_for(...) == reached.
  bool wait_until(events::read_position target, std::chrono::steady_clock::time_point deadline,
                  const names& only = {});
  bool reached(events::read_position target, const names& only = {}) const;
  std::vector<checkpoint> checkpoints() const;
  // The global position every named projection has applied (the earliest of their
  // checkpoints in commit order), or 0 when one has applied nothing or none is known.
  int64_t applied(const names& only = {}) const;
  // A batch of `group` is about to commit, moving these checkpoints.
  void committing(const std::string& group,
                  const std::map<std::string, events::read_position>& advancing);
  // The position a read of the named read models may have seen rows of: like applied(), but
  // counting batches that are committing or committed and not yet published. A client that
  // passes it on as min_position waits for those batches, so it never reads less than it saw.
  int64_t visible(const names& only = {}) const;
  // Names of the projections (among `only`) whose checkpoint is before `target`.
  std::vector<std::string> behind(events::read_position target, const names& only = {}) const;
  int64_t head() const;
  // Events the slowest projection still has to apply, by global position (approximate).
  int64_t lag() const;
  // Every runner caught up at least once and none is failing.
  bool alive() const;
  // The group's runner caught up (true) or stopped; true clears its reported failure.
  void set_alive(const std::string& group, bool v);
  // The group's last step failed with `error`; waiters needing it give up at once.
  void report_failure(const std::string& group, std::string error);
  // Why runners are failing ("group: why; ..."), or empty.
  std::string failure(const names& only = {}) const;
  // Shutdown: every wait returns `stopping`, now and later.
  void shutdown();
  // A counter that moves whenever the projection's tables may have changed: before each batch
  // of its group commits and when its checkpoints move (whichever process applied them). A
  // value read before a read-model query and unchanged after it means the answer is still
  // what the tables hold (api/read_cache.hpp). The reference stays valid for the watch's life.
  const std::atomic<uint64_t>& generation_of(const std::string& projection);

 private:
  struct group_state {
    names projections;
    std::vector<checkpoint> cps;
    // Per projection, the furthest checkpoint a batch moved to or is committing (never less
    // than cps; only grows, since an uncommitted batch is applied again and commits later).
    std::map<std::string, events::read_position> reaching;
    std::string failure;
    bool alive = false;
  };
  bool wanted(const std::string& projection, const names& only) const;
  void bump_locked(const group_state& g);
  bool reached_locked(events::read_position target, const names& only) const;
  bool failing_locked(const names& only) const;
  bool met_locked(const interest& what) const;
  int64_t low_locked(const names& only, bool reaching) const;
  // Takes the registrations whose interest is met (their wakes run after the lock is gone).
  std::vector<wake_fn> due_locked();
  void wake(std::vector<wake_fn> due);
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable demand_cv_;  // a read started waiting (until_awaited)
  size_t blocked_ = 0;                 // wait_for calls in progress
  std::map<std::string, group_state> groups_;
  int64_t head_ = 0;
  bool stopping_ = false;
  std::map<uint64_t, std::pair<interest, wake_fn>> waiters_;
  std::map<std::string, std::atomic<uint64_t>> generations_;  // by projection
  uint64_t next_waiter_ = 1;
};

class runner {
 public:
  // One runner per group of projections (engine::group_name()); each has its own connection,
  // loop and advisory lock.
  // `coalesce`: the least time between two steps of the group while commits keep coming (a
  // step after a quiet spell starts at once).
  runner(store::database& db, std::shared_ptr<engine> eng, projection_watch& watch,
         size_t batch_size = 1000,
         std::chrono::milliseconds coalesce = std::chrono::milliseconds(0));
  ~runner();
  void start();
  void stop();

 private:
  void run();
  struct fence_state {
    int64_t head = 0;
    bool held = false;
    std::string stall;
  };
  static fence_state fence_check(pqxx::connection& c, const std::vector<checkpoint>& cps, bool why);
  store::database& db_;
  std::shared_ptr<engine> engine_;
  std::string group_;
  projection_watch& watch_;
  size_t batch_size_;
  std::chrono::milliseconds coalesce_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace beampipe::projections

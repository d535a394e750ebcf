#pragma once
// Group commit: one writer thread drains every pending append (from many actors and
// streams) into a single transaction. With synchronous_commit on, the fsync per commit is
// the cost that matters; batching shares it. Each stream keeps its own version check.
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "store/database.hpp"
#include "store/event_store.hpp"

namespace beampipe::store {

// Histogram bounds: appends per group commit, and a group commit's duration.
inline constexpr std::array<uint64_t, 10> kBatchSizeBounds{1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
inline constexpr std::array<double, 12> kBatchSecondsBounds{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

struct append_stats {
  std::atomic<uint64_t> batches{0};
  // Per bucket (not cumulative); the last bucket is above every bound.
  std::array<std::atomic<uint64_t>, kBatchSizeBounds.size() + 1> batch_size_buckets{};
  std::array<std::atomic<uint64_t>, kBatchSecondsBounds.size() + 1> batch_seconds_buckets{};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> conflicts{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> latency_us_total{0};  // per batch
};

// Appends are sharded by stream over `writers` connections: while one writer waits for its
// commit to be flushed, another builds and sends the next batch. A stream always goes to the
// same writer, so its appends stay in order.
class group_appender {
 public:
  using callback = std::function<void(append_result)>;
  group_appender(database& db, size_t max_batch = 512, size_t writers = 2);
  ~group_appender();
  group_appender(const group_appender&) = delete;
  group_appender& operator=(const group_appender&) = delete;

  // Queues an append; cb runs on the writer thread after the transaction ends. Keep it short
  // (e.g. send a CAF message).
  void submit(append_request req, callback cb);
  // Blocking convenience for tools and tests.
  append_result append_sync(append_request req);
  void stop();
  const append_stats& stats() const { return stats_; }

 private:
  struct writer {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<append_request, callback>> queue;
    bool stopping = false;
    std::thread thread;
  };
  void run(writer& w);
  database& db_;
  size_t max_batch_;
  append_stats stats_;
  std::vector<std::unique_ptr<writer>> writers_;
  std::atomic<bool> stopped_{false};
};

}  // namespace beampipe::store

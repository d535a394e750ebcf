#include "store/group_appender.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

namespace beampipe::store {

group_appender::group_appender(database& db, size_t max_batch, size_t writers)
    : db_(db), max_batch_(max_batch) {
  for (size_t i = 0; i < std::max<size_t>(1, writers); ++i)
    writers_.push_back(std::make_unique<writer>());
  for (auto& w : writers_) w->thread = std::thread([this, wp = w.get()] { run(*wp); });
}

group_appender::~group_appender() { stop(); }

void group_appender::stop() {
  if (stopped_.exchange(true)) return;
  for (auto& w : writers_) {
    {
      std::lock_guard lk(w->mu);
      w->stopping = true;
    }
    w->cv.notify_all();
  }
  for (auto& w : writers_)
    if (w->thread.joinable()) w->thread.join();
}

void group_appender::submit(append_request req, callback cb) {
  auto& w = *writers_[std::hash<std::string>{}(req.stream_id) % writers_.size()];
  {
    std::lock_guard lk(w.mu);
    if (!w.stopping) {
      w.queue.emplace_back(std::move(req), std::move(cb));
      w.cv.notify_one();
      return;
    }
  }
  append_result r;
  r.status = append_status::error;
  r.error_code = store_errc::unavailable;
  r.message = "event store is shutting down";
  cb(std::move(r));
}

append_result group_appender::append_sync(append_request req) {
  std::promise<append_result> p;
  auto f = p.get_future();
  submit(std::move(req), [&p](append_result r) { p.set_value(std::move(r)); });
  return f.get();
}

void group_appender::run(writer& w) {
  database::dedicated conn;
  for (;;) {
    std::vector<std::pair<append_request, callback>> batch;
    {
      std::unique_lock lk(w.mu);
      w.cv.wait(lk, [&] { return w.stopping || !w.queue.empty(); });
      if (w.queue.empty() && w.stopping) return;
      while (!w.queue.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(w.queue.front()));
        w.queue.pop_front();
      }
    }
    std::vector<append_request> reqs;
    reqs.reserve(batch.size());
    for (auto& b : batch) reqs.push_back(std::move(b.first));
    std::vector<append_result> results;
    auto t0 = std::chrono::steady_clock::now();
    try {
      if (!conn || !conn->is_open()) {
        conn.reset();  // its slot first: a writer holds one connection of the appender budget
        conn = db_.connect(db_role::appender);
      }
      results = append_batch(*conn, reqs);
    } catch (const std::exception& e) {
      // Whole-batch failure (connection lost, ...). Nothing may have been written, or the
      // commit may be in doubt; callers retry with the same event ids, which is safe.
      conn.reset();
      spdlog::warn("append batch of {} failed: {}", reqs.size(), e.what());
      results.assign(reqs.size(), append_result{});
      for (auto& r : results) {
        r.status = append_status::error;
        r.error_code = store_errc::unavailable;
        r.message = e.what();
      }
    }
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    stats_.batches++;
    stats_.latency_us_total += static_cast<uint64_t>(us);
    size_t b = 0;
    while (b < kBatchSizeBounds.size() && batch.size() > kBatchSizeBounds[b]) ++b;
    stats_.batch_size_buckets[b]++;
    size_t t = 0;
    while (t < kBatchSecondsBounds.size() && us / 1e6 > kBatchSecondsBounds[t]) ++t;
    stats_.batch_seconds_buckets[t]++;
    for (size_t i = 0; i < batch.size(); ++i) {
      stats_.requests++;
      if (results[i].status == append_status::ok)
        stats_.events += reqs[i].events.size();
      else if (results[i].status == append_status::conflict)
        stats_.conflicts++;
      else
        stats_.errors++;
      batch[i].second(std::move(results[i]));
    }
  }
}

}  // namespace beampipe::store

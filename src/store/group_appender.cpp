#include "store/group_appender.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

namespace beampipe::store {

group_appender::group_appender(std::string conninfo, size_t max_batch)
    : conninfo_(std::move(conninfo)), max_batch_(max_batch), worker_([this] { run(); }) {}

group_appender::~group_appender() { stop(); }

void group_appender::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void group_appender::submit(append_request req, callback cb) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      queue_.emplace_back(std::move(req), std::move(cb));
      cv_.notify_one();
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

void group_appender::run() {
  std::unique_ptr<pqxx::connection> conn;
  for (;;) {
    std::vector<std::pair<append_request, callback>> batch;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<append_request> reqs;
    reqs.reserve(batch.size());
    for (auto& b : batch) reqs.push_back(std::move(b.first));
    std::vector<append_result> results;
    auto t0 = std::chrono::steady_clock::now();
    try {
      if (!conn || !conn->is_open()) conn = connect(conninfo_, "beampipe-appender");
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
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
                  .count();
    stats_.batches++;
    stats_.latency_us_total += static_cast<uint64_t>(us);
    for (size_t i = 0; i < batch.size(); ++i) {
      stats_.requests++;
      if (results[i].status == append_status::ok) stats_.events += reqs[i].events.size();
      else if (results[i].status == append_status::conflict) stats_.conflicts++;
      else stats_.errors++;
      batch[i].second(std::move(results[i]));
    }
  }
}

}  // namespace beampipe::store

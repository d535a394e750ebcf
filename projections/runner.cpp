#include "projections/runner.hpp"

#include "store/db.hpp"
#include "store/event_store.hpp"

#include <spdlog/spdlog.h>

namespace beampipe::projections {

void projection_watch::publish(std::vector<checkpoint> cps, int64_t head) {
  {
    std::lock_guard lk(mu_);
    cps_ = std::move(cps);
    head_ = head;
  }
  cv_.notify_all();
}

bool projection_watch::reached(events::read_position target) const {
  std::lock_guard lk(mu_);
  if (cps_.empty()) return false;
  for (const auto& c : cps_)
    if (c.at < target) return false;
  return true;
}

bool projection_watch::wait_until(events::read_position target, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lk(mu_);
  return cv_.wait_until(lk, deadline, [&] {
    if (cps_.empty()) return false;
    for (const auto& c : cps_)
      if (c.at < target) return false;
    return true;
  });
}

std::vector<checkpoint> projection_watch::checkpoints() const {
  std::lock_guard lk(mu_);
  return cps_;
}

int64_t projection_watch::head() const {
  std::lock_guard lk(mu_);
  return head_;
}

int64_t projection_watch::lag() const {
  std::lock_guard lk(mu_);
  int64_t lowest = head_;
  for (const auto& c : cps_) lowest = std::min(lowest, c.at.position);
  return std::max<int64_t>(0, head_ - lowest);
}

void projection_watch::set_alive(bool v) {
  alive_ = v;
  cv_.notify_all();
}

namespace {
struct wakeup : pqxx::notification_receiver {
  explicit wakeup(pqxx::connection_base& c) : pqxx::notification_receiver(c, store::kNotifyChannel) {}
  void operator()(const std::string&, int) override {}
};
}  // namespace

runner::runner(std::string conninfo, std::shared_ptr<engine> eng, projection_watch& watch, size_t batch_size)
    : conninfo_(std::move(conninfo)), engine_(std::move(eng)), watch_(watch), batch_size_(batch_size) {}

runner::~runner() { stop(); }

void runner::start() { thread_ = std::thread([this] { run(); }); }

void runner::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void runner::run() {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<wakeup> listener;
  while (!stop_) {
    try {
      if (!conn || !conn->is_open()) {
        listener.reset();
        conn = store::connect(conninfo_, "beampipe-projections");
        listener = std::make_unique<wakeup>(*conn);
      }
      while (!stop_ && engine_->step(*conn, batch_size_) > 0) {
        watch_.publish(engine_->checkpoints(*conn), store::head_position(*conn));
      }
      watch_.publish(engine_->checkpoints(*conn), store::head_position(*conn));
      watch_.set_alive(true);
      // A notification ends the wait early; the timeout covers events held behind the
      // read fence and notifications lost while reconnecting.
      conn->await_notification(0, 100000);
    } catch (const std::exception& e) {
      watch_.set_alive(false);
      spdlog::error("projection runner: {}", e.what());
      listener.reset();
      conn.reset();
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  watch_.set_alive(false);
}

}  // namespace beampipe::projections

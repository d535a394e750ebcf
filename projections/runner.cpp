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

projection_watch::wait_result projection_watch::wait_for(
    events::read_position target, std::chrono::steady_clock::time_point deadline) {
  auto reached_locked = [&] {
    if (cps_.empty()) return false;
    for (const auto& c : cps_)
      if (c.at < target) return false;
    return true;
  };
  std::unique_lock lk(mu_);
  cv_.wait_until(lk, deadline,
                 [&] { return reached_locked() || stopping_ || !failure_.empty(); });
  if (reached_locked()) return wait_result::reached;
  if (stopping_) return wait_result::stopping;
  if (!failure_.empty()) return wait_result::stalled;
  return wait_result::timed_out;
}

bool projection_watch::wait_until(events::read_position target,
                                  std::chrono::steady_clock::time_point deadline) {
  return wait_for(target, deadline) == wait_result::reached;
}

std::vector<std::string> projection_watch::behind(events::read_position target) const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& c : cps_)
    if (c.at < target) out.push_back(c.name);
  return out;
}

void projection_watch::report_failure(std::string error) {
  {
    std::lock_guard lk(mu_);
    failure_ = error.empty() ? "unknown error" : std::move(error);
  }
  alive_ = false;
  cv_.notify_all();
}

std::string projection_watch::failure() const {
  std::lock_guard lk(mu_);
  return failure_;
}

void projection_watch::shutdown() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
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
  {
    std::lock_guard lk(mu_);
    if (v) failure_.clear();
  }
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

// Committed events after the lowest checkpoint that the read fence still hides wait for an
// older transaction to end. `held` says whether there are any; `stall` says why waiting is
// pointless: the oldest open transaction sits idle (a stopped process, a forgotten session),
// as opposed to one still working.
runner::fence_state runner::held_back(pqxx::connection& c, const std::vector<checkpoint>& cps) {
  if (cps.empty()) return {};
  auto low = cps.front().at;
  for (const auto& cp : cps) low = std::min(low, cp.at);
  pqxx::read_transaction tx{c};
  auto r = tx.exec_params(
      "SELECT EXISTS (SELECT 1 FROM events WHERE (tx_id, position) > ($1::text::xid8, $2))",
      std::to_string(low.tx_id), low.position);
  if (!r[0][0].as<bool>()) return {};
  auto oldest = tx.exec(
      "SELECT pid, state, extract(epoch FROM now() - xact_start)::bigint FROM pg_stat_activity "
      "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND state LIKE 'idle in "
      "transaction%' AND state_change < now() - interval '1 second' ORDER BY xact_start LIMIT 1");
  if (oldest.empty()) return {true, ""};
  return {true, "committed events after position " + std::to_string(low.position) +
                    " are held back until the transaction of PostgreSQL backend " +
                    oldest[0][0].as<std::string>() + " (" + oldest[0][1].as<std::string>() +
                    ", open " + oldest[0][2].as<std::string>() + " s) ends"};
}

void runner::run() {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<wakeup> listener;
  // Since when committed events have been hidden by the read fence (epoch: they are not).
  std::chrono::steady_clock::time_point fenced_since{};
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
      auto cps = engine_->checkpoints(*conn);
      watch_.publish(cps, store::head_position(*conn));
      // Caught up with what the read fence lets through. Committed events it still hides
      // wait for an older transaction to end; if that lasts, waiting writers are told at once.
      auto fence = held_back(*conn, cps);
      auto now = std::chrono::steady_clock::now();
      if (!fence.held) {
        fenced_since = {};
        watch_.set_alive(true);
      } else if (fenced_since == std::chrono::steady_clock::time_point{}) {
        fenced_since = now;
      } else if (now - fenced_since > std::chrono::seconds(2) && !fence.stall.empty()) {
        watch_.report_failure(fence.stall);
      }
      // A notification ends the wait early; the timeout covers events held behind the
      // read fence and notifications lost while reconnecting.
      conn->await_notification(0, 100000);
    } catch (const pqxx::sql_error& e) {
      // 55P03: the projection lock stayed with another process past the lock timeout.
      std::string why = e.sqlstate() == "55P03"
                            ? "another beampipe process has held the projection lock for over "
                              "2 s (stopped, or stuck in a transaction)"
                            : e.what();
      watch_.report_failure(why);
      spdlog::error("projection runner: {}", why);
      listener.reset();
      conn.reset();
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } catch (const std::exception& e) {
      watch_.report_failure(e.what());
      spdlog::error("projection runner: {}", e.what());
      listener.reset();
      conn.reset();
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  watch_.set_alive(false);
}

}  // namespace beampipe::projections

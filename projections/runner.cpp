#include "projections/runner.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "store/db.hpp"
#include "store/event_store.hpp"

namespace beampipe::projections {

void projection_watch::add_group(const std::string& group, const names& projections) {
  std::lock_guard lk(mu_);
  auto& g = groups_[group];
  g.projections = projections;
  g.cps.clear();
  for (const auto& p : projections) g.cps.push_back({p, {}});
}

void projection_watch::publish(const std::string& group, std::vector<checkpoint> cps, int64_t head,
                               bool applied_events) {
  std::vector<wake_fn> due;
  {
    std::lock_guard lk(mu_);
    auto& g = groups_[group];
    if (applied_events || g.cps != cps) bump_locked(g);
    g.cps = std::move(cps);
    if (applied_events) g.failure.clear();
    head_ = std::max(head_, head);
    due = due_locked();
  }
  cv_.notify_all();
  wake(std::move(due));
}

void projection_watch::bump_locked(const group_state& g) {
  for (const auto& p : g.projections) generations_[p].fetch_add(1, std::memory_order_acq_rel);
}

const std::atomic<uint64_t>& projection_watch::generation_of(const std::string& projection) {
  std::lock_guard lk(mu_);
  return generations_[projection];
}

bool projection_watch::wanted(const std::string& projection, const names& only) const {
  return only.empty() || std::find(only.begin(), only.end(), projection) != only.end();
}

bool projection_watch::reached_locked(events::read_position target, const names& only) const {
  if (groups_.empty()) return false;
  size_t seen = 0;
  for (const auto& [name, g] : groups_)
    for (const auto& c : g.cps) {
      if (!wanted(c.name, only)) continue;
      ++seen;
      if (c.at < target) return false;
    }
  // A named read model no runner reports is never reached (a typo must not read stale data).
  return seen > 0 && (only.empty() || seen >= only.size());
}

bool projection_watch::failing_locked(const names& only) const {
  for (const auto& [name, g] : groups_) {
    if (g.failure.empty()) continue;
    for (const auto& p : g.projections)
      if (wanted(p, only)) return true;
  }
  return false;
}

bool projection_watch::reached(events::read_position target, const names& only) const {
  std::lock_guard lk(mu_);
  return reached_locked(target, only);
}

projection_watch::wait_result projection_watch::wait_for(
    events::read_position target, std::chrono::steady_clock::time_point deadline,
    const names& only) {
  std::unique_lock lk(mu_);
  if (!reached_locked(target, only)) {
    ++blocked_;
    demand_cv_.notify_all();
    cv_.wait_until(lk, deadline, [&] {
      return reached_locked(target, only) || stopping_ || failing_locked(only);
    });
    --blocked_;
  }
  if (reached_locked(target, only)) return wait_result::reached;
  if (stopping_) return wait_result::stopping;
  if (failing_locked(only)) return wait_result::stalled;
  return wait_result::timed_out;
}

bool projection_watch::wait_until(events::read_position target,
                                  std::chrono::steady_clock::time_point deadline,
                                  const names& only) {
  return wait_for(target, deadline, only) == wait_result::reached;
}

int64_t projection_watch::low_locked(const names& only, bool reaching) const {
  std::optional<events::read_position> low;
  size_t seen = 0;
  for (const auto& [name, g] : groups_)
    for (const auto& c : g.cps)
      if (wanted(c.name, only)) {
        ++seen;
        auto at = c.at;
        if (auto r = g.reaching.find(c.name); reaching && r != g.reaching.end() && at < r->second)
          at = r->second;
        if (!low || at < *low) low = at;
      }
  if (!low || (!only.empty() && seen < only.size())) return 0;
  return low->position;
}

int64_t projection_watch::applied(const names& only) const {
  std::lock_guard lk(mu_);
  return low_locked(only, false);
}

int64_t projection_watch::visible(const names& only) const {
  std::lock_guard lk(mu_);
  return low_locked(only, true);
}

void projection_watch::committing(const std::string& group,
                                  const std::map<std::string, events::read_position>& advancing) {
  std::lock_guard lk(mu_);
  bump_locked(groups_[group]);
  auto& reaching = groups_[group].reaching;
  for (const auto& [name, at] : advancing)
    if (auto [it, fresh] = reaching.emplace(name, at); !fresh && it->second < at) it->second = at;
}

std::vector<std::string> projection_watch::behind(events::read_position target,
                                                  const names& only) const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& [name, g] : groups_)
    for (const auto& c : g.cps)
      if (wanted(c.name, only) && c.at < target) out.push_back(c.name);
  return out;
}

void projection_watch::report_failure(const std::string& group, std::string error) {
  std::vector<wake_fn> due;
  {
    std::lock_guard lk(mu_);
    auto& g = groups_[group];
    g.failure = error.empty() ? "unknown error" : std::move(error);
    g.alive = false;
    due = due_locked();
  }
  cv_.notify_all();
  wake(std::move(due));
}

std::string projection_watch::failure(const names& only) const {
  std::lock_guard lk(mu_);
  std::string out;
  for (const auto& [name, g] : groups_) {
    if (g.failure.empty()) continue;
    bool relevant = false;
    for (const auto& p : g.projections) relevant = relevant || wanted(p, only);
    if (!relevant) continue;
    if (!out.empty()) out += "; ";
    // One group (the usual single runner of tools and tests) needs no name.
    out += groups_.size() == 1 ? g.failure : name + ": " + g.failure;
  }
  return out;
}

void projection_watch::shutdown() {
  std::vector<wake_fn> due;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    due = due_locked();
  }
  cv_.notify_all();
  demand_cv_.notify_all();
  wake(std::move(due));
}

bool projection_watch::stopping() const {
  std::lock_guard lk(mu_);
  return stopping_;
}

bool projection_watch::met_locked(const interest& what) const {
  if (stopping_) return true;
  // A position not written yet: only its arrival (or shutdown) helps. A failing runner does
  // not end this wait, as the read that follows would only wait again.
  if (!what.target) return head_ >= what.head_at_least;
  return reached_locked(*what.target, what.only) || failing_locked(what.only);
}

std::vector<projection_watch::wake_fn> projection_watch::due_locked() {
  std::vector<wake_fn> due;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (met_locked(it->second.first)) {
      due.push_back(std::move(it->second.second));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

void projection_watch::wake(std::vector<wake_fn> due) {
  for (auto& w : due) w();
}

uint64_t projection_watch::notify_when(interest what, wake_fn wake_up) {
  {
    std::lock_guard lk(mu_);
    if (!met_locked(what)) {
      auto id = next_waiter_++;
      waiters_.emplace(id, std::make_pair(std::move(what), std::move(wake_up)));
      demand_cv_.notify_all();
      return id;
    }
  }
  wake_up();
  return 0;
}

bool projection_watch::until_awaited(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lk(mu_);
  return demand_cv_.wait_until(lk, deadline,
                               [&] { return blocked_ > 0 || !waiters_.empty() || stopping_; });
}

size_t projection_watch::waiting() const {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

void projection_watch::forget(uint64_t id) {
  std::lock_guard lk(mu_);
  waiters_.erase(id);
}

std::vector<checkpoint> projection_watch::checkpoints() const {
  std::lock_guard lk(mu_);
  std::vector<checkpoint> out;
  for (const auto& [name, g] : groups_) out.insert(out.end(), g.cps.begin(), g.cps.end());
  return out;
}

int64_t projection_watch::head() const {
  std::lock_guard lk(mu_);
  return head_;
}

int64_t projection_watch::lag() const {
  std::lock_guard lk(mu_);
  int64_t lowest = head_;
  for (const auto& [name, g] : groups_)
    for (const auto& c : g.cps) lowest = std::min(lowest, c.at.position);
  return std::max<int64_t>(0, head_ - lowest);
}

bool projection_watch::alive() const {
  std::lock_guard lk(mu_);
  if (groups_.empty()) return false;
  for (const auto& [name, g] : groups_)
    if (!g.alive) return false;
  return true;
}

void projection_watch::set_alive(const std::string& group, bool v) {
  std::vector<wake_fn> due;
  {
    std::lock_guard lk(mu_);
    auto& g = groups_[group];
    if (v) g.failure.clear();
    g.alive = v;
    due = due_locked();
  }
  cv_.notify_all();
  wake(std::move(due));
}

namespace {
struct wakeup : pqxx::notification_receiver {
  explicit wakeup(pqxx::connection_base& c)
      : pqxx::notification_receiver(c, store::kNotifyChannel) {}
  void operator()(const std::string&, int) override {}
};
}  // namespace

runner::runner(store::database& db, std::shared_ptr<engine> eng, projection_watch& watch,
               size_t batch_size, std::chrono::milliseconds coalesce)
    : db_(db),
      engine_(std::move(eng)),
      group_(engine_->group_name()),
      watch_(watch),
      batch_size_(batch_size),
      coalesce_(coalesce) {
  std::vector<std::string> names;
  for (const auto& p : engine_->projections()) names.push_back(p->name());
  watch_.add_group(group_, names);
  engine_->committing = [this](const auto& advancing) { watch_.committing(group_, advancing); };
}

runner::~runner() { stop(); }

void runner::start() {
  thread_ = std::thread([this] { run(); });
}

void runner::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

// The store's head, and whether committed events after the lowest checkpoint are still hidden
// by the read fence (waiting for an older transaction to end). `stall` says why waiting is
// pointless: the oldest open transaction sits idle (a stopped process, a forgotten session), as
// opposed to one still working; it is looked up only when `why` (a scan of pg_stat_activity).
// One statement outside a transaction in the common case: this runs for every group after
// every commit, and most holds are other appends about to commit.
runner::fence_state runner::fence_check(pqxx::connection& c, const std::vector<checkpoint>& cps,
                                        bool why) {
  fence_state out;
  auto low = cps.empty() ? events::read_position{} : cps.front().at;
  for (const auto& cp : cps) low = std::min(low, cp.at);
  pqxx::nontransaction tx{c};
  // A scalar subquery, ordered and limited, rather than EXISTS: inside EXISTS the planner takes
  // a sequential scan of the whole event table for this row comparison.
  // Prepared on the runner's own connection: planned once, not after every commit.
  auto r = store::exec_prepared_once(
      tx, "runner_fence_check",
      "SELECT coalesce((SELECT max(position) FROM events), 0), "
      "(SELECT 1 FROM events WHERE (tx_id, position) > ($1::text::xid8, $2) "
      "ORDER BY tx_id, position LIMIT 1) IS NOT NULL",
      std::to_string(low.tx_id), low.position);
  out.head = r[0][0].as<int64_t>();
  out.held = !cps.empty() && r[0][1].as<bool>();
  if (!out.held || !why) return out;
  auto oldest = tx.exec(
      "SELECT pid, state, extract(epoch FROM now() - xact_start)::bigint FROM pg_stat_activity "
      "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND state LIKE 'idle in "
      "transaction%' AND state_change < now() - interval '1 second' ORDER BY xact_start LIMIT 1");
  if (oldest.empty()) return out;
  out.stall = "committed events after position " + std::to_string(low.position) +
              " are held back until the transaction of PostgreSQL backend " +
              oldest[0][0].as<std::string>() + " (" + oldest[0][1].as<std::string>() + ", open " +
              oldest[0][2].as<std::string>() + " s) ends";
  return out;
}

void runner::run() {
  store::database::dedicated conn;
  std::unique_ptr<wakeup> listener;
  // Since when committed events have been hidden by the read fence (epoch: they are not).
  std::chrono::steady_clock::time_point fenced_since{};
  std::chrono::steady_clock::time_point last_step{};
  while (!stop_) {
    try {
      // Every group stepping on every commit's NOTIFY cost PostgreSQL more statements than the
      // events themselves under load: while commits keep coming, one step per `coalesce_`
      // takes all of them; after a quiet spell, or once a read waits for the read models, the
      // step starts at once.
      auto next = last_step + coalesce_;
      while (!stop_ && std::chrono::steady_clock::now() < next)
        if (watch_.until_awaited(
                std::min(next, std::chrono::steady_clock::now() + std::chrono::milliseconds(10))))
          break;
      last_step = std::chrono::steady_clock::now();
      if (!conn || !conn->is_open()) {
        listener.reset();
        conn.reset();
        conn = db_.connect(store::db_role::projections, group_);
        listener = std::make_unique<wakeup>(*conn);
      }
      // A step that read less than a full batch took everything the read fence let through:
      // no second, empty step (its round trips, for each group on every commit, were a large
      // part of PostgreSQL's work under load). The checkpoints are the engine's own.
      while (!stop_) {
        auto n = engine_->step(*conn, batch_size_);
        if (n == 0) break;
        watch_.publish(group_, engine_->last_checkpoints(), 0, true);
        if (n < batch_size_) break;
      }
      auto cps = engine_->last_checkpoints();
      // Caught up with what the read fence lets through. Committed events it still hides
      // wait for an older transaction to end; if that lasts, waiting writers are told at once.
      auto now = std::chrono::steady_clock::now();
      bool long_held = fenced_since != std::chrono::steady_clock::time_point{} &&
                       now - fenced_since > std::chrono::seconds(2);
      auto fence = fence_check(*conn, cps, long_held);
      watch_.publish(group_, cps, fence.head);
      if (!fence.held) {
        fenced_since = {};
        watch_.set_alive(group_, true);
      } else if (fenced_since == std::chrono::steady_clock::time_point{}) {
        fenced_since = now;
      } else if (long_held && !fence.stall.empty()) {
        watch_.report_failure(group_, fence.stall);
      }
      // A notification ends the wait early; the timeout covers events held behind the
      // read fence and notifications lost while reconnecting.
      conn->await_notification(0, 100000);
    } catch (const pqxx::sql_error& e) {
      // 55P03: a lock the batch needs stayed taken past the lock timeout: the group's lock
      // (another process applying the same group) or one of its read-model tables.
      std::string why = e.sqlstate() == "55P03"
                            ? "a lock it needs was held for over 2 s (another beampipe process "
                              "applying the same read models, or a session holding one of "
                              "their tables; stopped, or stuck in a transaction)"
                            : e.what();
      watch_.report_failure(group_, why);
      spdlog::error("projection runner {}: {}", group_, why);
      listener.reset();
      conn.reset();
      for (int i = 0; i < 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } catch (const std::exception& e) {
      watch_.report_failure(group_, e.what());
      spdlog::error("projection runner {}: {}", group_, e.what());
      listener.reset();
      conn.reset();
      for (int i = 0; i < 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  watch_.set_alive(group_, false);
}

}  // namespace beampipe::projections

#include "services/job_lease_keeper.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <vector>

namespace beampipe::services {

namespace {
std::string lease_key(const store::job_claim& c) {
  return c.job_id + "#" + std::to_string(c.token);
}
}  // namespace

bool node_gone(const std::string& node, const std::string& self) {
  if (node.empty() || node == self) return false;
  auto dash = node.rfind('-');
  if (dash == std::string::npos) return false;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  if (node.substr(0, dash) != host) return false;
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(node.substr(dash + 1)));
  } catch (...) {
    return false;
  }
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

job_lease_keeper::job_lease_keeper(store::database& db, std::string owner,
                                   std::chrono::milliseconds lock)
    : pool_(db.pool(store::db_role::job_leases)), owner_(std::move(owner)), lock_(lock) {
  thread_ = std::thread([this] { loop(); });
}

job_lease_keeper::~job_lease_keeper() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<store::job_claim> job_lease_keeper::claim(const std::string& job_id,
                                                        const std::string& kind, int64_t attempt,
                                                        const std::string& subject,
                                                        const std::string& next_run_at) {
  std::optional<store::job_claim> c;
  store::with_connection(pool_, [&](pqxx::connection& conn) {
    c = store::claim_job(conn, job_id, kind, attempt, owner_, lock_, subject, next_run_at);
    if (c) return;
    auto held = store::read_job_lease(conn, job_id);
    if (held && held->live && node_gone(held->owner, owner_) &&
        store::expire_job_lease(conn, job_id, held->owner, held->token))
      c = store::claim_job(conn, job_id, kind, attempt, owner_, lock_, subject, next_run_at);
  });
  if (c) {
    std::lock_guard lk(mu_);
    held_[c->job_id] = *c;
    if (c->recovered)
      spdlog::warn("job {} ({} attempt {}): recovered from {} whose lease expired", job_id, kind,
                   attempt, c->previous_owner);
  }
  return c;
}

bool job_lease_keeper::held(const store::job_claim& c) const {
  std::lock_guard lk(mu_);
  return !lost_.count(lease_key(c));
}

bool job_lease_keeper::finish(const store::job_claim& c, bool done, const std::string& detail) {
  {
    std::lock_guard lk(mu_);
    if (auto it = held_.find(c.job_id); it != held_.end() && it->second.token == c.token)
      held_.erase(it);
    if (lost_.erase(lease_key(c))) return false;
  }
  bool ok = false;
  store::with_connection(pool_, [&](pqxx::connection& conn) {
    ok = store::finish_job_lease(conn, c, owner_, done, detail);
  });
  return ok;
}

void job_lease_keeper::renew_now() {
  std::vector<store::job_claim> held;
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, c] : held_) held.push_back(c);
  }
  if (held.empty()) return;
  std::vector<std::string> kept;
  store::with_connection(pool_, [&](pqxx::connection& conn) {
    kept = store::renew_job_leases(conn, owner_, held, lock_);
  });
  std::set<std::string> still(kept.begin(), kept.end());
  std::vector<store::job_claim> gone;
  {
    std::lock_guard lk(mu_);
    for (const auto& c : held) {
      if (still.count(c.job_id)) continue;
      auto it = held_.find(c.job_id);
      // Finished meanwhile: nothing was lost.
      if (it == held_.end() || it->second.token != c.token) continue;
      held_.erase(it);
      lost_.insert(lease_key(c));
      gone.push_back(c);
    }
  }
  for (const auto& c : gone) {
    spdlog::warn("job {} ({}): lease lost, its result will be dropped", c.job_id, c.kind);
    store::with_connection(
        pool_, [&](pqxx::connection& conn) { store::record_job_lease_lost(conn, c, owner_); });
  }
}

void job_lease_keeper::loop() {
  auto every = std::max(std::chrono::milliseconds(100), lock_ / 3);
  std::unique_lock lk(mu_);
  while (!stopping_) {
    cv_.wait_for(lk, every, [this] { return stopping_; });
    if (stopping_) break;
    lk.unlock();
    try {
      renew_now();
    } catch (const std::exception& e) {
      // The leases run out on their own if the database stays away; the next round retries.
      spdlog::warn("job lease renewal failed: {}", e.what());
    }
    lk.lock();
  }
}

}  // namespace beampipe::services

#include "services/shard_keeper.hpp"

#include <spdlog/spdlog.h>

#include "domain/cluster.hpp"
#include "store/shard_leases.hpp"
#include "util/time.hpp"

namespace beampipe::services {

shard_keeper::shard_keeper(store::database& db, shard_keeper_options o,
                           std::function<void(const cluster_view&)> after_round)
    : db_(db), o_(std::move(o)), after_round_(std::move(after_round)) {}

shard_keeper::~shard_keeper() { stop(); }

void shard_keeper::start() {
  if (thread_.joinable()) return;
  conn_ = db_.connect(store::db_role::cluster, "shard-keeper");
  store::ensure_shards(*conn_, o_.shards);
  join();
  round();
  thread_ = std::thread([this] { run(); });
}

void shard_keeper::stop() {
  {
    std::lock_guard lk(run_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<int, int64_t> held;
  {
    std::lock_guard lk(mu_);
    held.swap(view_.held);
    valid_until_ = {};
  }
  // A graceful leave: the shards are free at once, not after the lease runs out.
  if (!held.empty() && conn_) try {
      store::release_shards(*conn_, o_.node, held);
      spdlog::info("cluster: handed {} shards back", held.size());
    } catch (const std::exception& e) {
      spdlog::warn("cluster: shards not handed back ({}); they free up when the lease ends",
                   e.what());
    }
}

namespace {
constexpr std::chrono::milliseconds kJoinPoll{200};
}

void shard_keeper::join() {
  if (!o_.reach) return;
  // Long enough for a member that died just now to drop out of the list.
  auto deadline = std::chrono::steady_clock::now() + 2 * o_.lease + std::chrono::seconds(5);
  for (;;) {
    std::map<std::string, std::string> others;
    {
      pqxx::read_transaction tx{*conn_};
      for (auto& m : store::read_members(tx, o_.lease))
        if (m.node != o_.node) others.emplace(m.node, m.addr);
    }
    if (others.empty()) return;  // the first member: nobody to ask
    if (o_.reach(others) > 0) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string names;
      for (const auto& [node, addr] : others)
        names += (names.empty() ? "" : ", ") + node + " at " + addr;
      throw std::runtime_error(
          "cannot join the cluster: no live member could be reached over " +
          std::string(o_.tls ? "TLS" : "TCP") + " (" + names + ")" +
          (o_.tls ? "; this node's certificate must chain to the members' CA, and theirs to "
                    "BEAMPIPE_CLUSTER_TLS_CA"
                  : ""));
    }
    std::unique_lock lk(run_mu_);
    // Connections come up in the background: look again soon.
    if (cv_.wait_for(lk, std::min<std::chrono::milliseconds>(o_.lease / 3, kJoinPoll),
                     [this] { return stopping_; }))
      throw std::runtime_error("stopped before joining the cluster");
  }
}

void shard_keeper::run() {
  for (;;) {
    {
      std::unique_lock lk(run_mu_);
      if (cv_.wait_for(lk, o_.lease / 3, [this] { return stopping_; })) return;
    }
    round();
  }
}

void shard_keeper::round() {
  auto started = std::chrono::steady_clock::now();
  try {
    if (!conn_ || !conn_->is_open()) conn_ = db_.connect(store::db_role::cluster, "shard-keeper");
    store::renew_membership(*conn_, o_.node, o_.addr);
    std::map<int, int64_t> held;
    {
      std::lock_guard lk(mu_);
      held = view_.held;
    }
    auto renewed = store::renew_shards(*conn_, o_.node, held, o_.lease);
    int64_t lost = static_cast<int64_t>(held.size() - renewed.size());
    if (lost > 0) spdlog::warn("cluster: {} shards were taken over before this node renewed", lost);
    std::vector<store::member> members;
    std::vector<store::shard_lease> leases;
    {
      pqxx::read_transaction tx{*conn_};
      members = store::read_members(tx, o_.lease);
      leases = store::read_shards(tx);
    }
    std::map<int, std::string> owners;
    for (const auto& l : leases)
      if (l.live) owners[l.shard] = l.owner;
    std::vector<std::string> ids;
    for (const auto& m : members) ids.push_back(m.node);
    auto mv = domain::cluster::plan(o_.node, ids, o_.shards, owners);
    std::map<int, int64_t> released;
    for (int s : mv.release)
      if (auto it = renewed.find(s); it != renewed.end()) {
        released.insert(*it);
        renewed.erase(it);
        owners.erase(s);
      }
    // Stop using them first, then free them: no append leaves with a token being given up.
    {
      std::lock_guard lk(mu_);
      view_.held = renewed;
    }
    store::release_shards(*conn_, o_.node, released);
    auto taken = store::take_shards(*conn_, o_.node, mv.take, o_.lease);
    for (const auto& [s, t] : taken) {
      renewed[s] = t;
      owners[s] = o_.node;
    }
    std::unique_lock lk(mu_);
    view_.held = renewed;
    view_.owners = owners;
    view_.members.clear();
    for (const auto& m : members) {
      int n = 0;
      for (const auto& [s, owner] : owners) n += owner == m.node;
      view_.members.push_back({m.node, m.addr, m.last_seen, n});
    }
    ++view_.rounds;
    view_.taken += static_cast<int64_t>(taken.size());
    view_.released += static_cast<int64_t>(released.size());
    view_.lost += lost;
    if (!taken.empty() || !released.empty() || lost > 0) {
      view_.last_rebalance = util::now_rfc3339();
      spdlog::info("cluster: {} members; took {}, released {}, holding {} of {} shards",
                   members.size(), taken.size(), released.size(), renewed.size(), o_.shards);
    }
    view_.error.clear();
    // The leases run from before this round's first renewal, by the local clock.
    valid_until_ = started + o_.lease;
    auto seen = view_;
    lk.unlock();
    if (after_round_) after_round_(seen);
  } catch (const std::exception& e) {
    std::lock_guard lk(mu_);
    if (view_.error.empty()) spdlog::warn("cluster: shard round failed: {}", e.what());
    view_.error = e.what();
    conn_.reset();
  }
}

std::optional<store::shard_fence> shard_keeper::fence_for(const std::string& stream_id,
                                                          std::string& holder) const {
  int shard = domain::cluster::shard_of(stream_id, o_.shards);
  std::lock_guard lk(mu_);
  if (auto it = view_.held.find(shard);
      it != view_.held.end() && std::chrono::steady_clock::now() < valid_until_)
    return store::shard_fence{shard, o_.node, it->second};
  auto o = view_.owners.find(shard);
  holder = o == view_.owners.end() || o->second == o_.node ? std::string() : o->second;
  return std::nullopt;
}

cluster_view shard_keeper::view() const {
  std::lock_guard lk(mu_);
  return view_;
}

}  // namespace beampipe::services

#pragma once
// A clustered node's hold on its shards (issue #23): every lease period / 3 it renews its
// membership and the leases it holds, then gives up shards above its fair share and takes free
// ones up to it (domain/cluster.hpp), so shards spread evenly over live members and move when
// one joins or leaves. stop() hands every shard back at once (a graceful leave). Appends carry
// the token of their shard (fence_for); the store refuses a token that is no longer current.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/database.hpp"
#include "store/event_store.hpp"

namespace beampipe::services {

struct shard_keeper_options {
  std::string node, addr;  // this node and its cluster address
  int shards = 64;
  std::chrono::milliseconds lease{std::chrono::seconds(10)};
  // Before it holds anything, a node must reach a live member (when there is one) through this:
  // it connects to the members listed (node -> address) and answers how many it reached. Unset:
  // no such check.
  std::function<size_t(const std::map<std::string, std::string>&)> reach;
  bool tls = false;  // members talk over TLS (named in the refusal)
};

struct cluster_view;

// What this node knows of the cluster after its last round.
struct cluster_view {
  struct member {
    std::string node, addr, last_seen;
    int shards_held = 0;
  };
  std::vector<member> members;
  std::map<int, int64_t> held;        // this node's shards and tokens
  std::map<int, std::string> owners;  // every live lease: shard -> node
  std::string last_rebalance;         // RFC 3339 (local clock): when shards last moved here
  int64_t rounds = 0, taken = 0, released = 0, lost = 0;
  std::string error;  // the last round's failure, if it failed
};

class shard_keeper {
 public:
  // `after_round` sees the view after each successful round, on the keeper's thread; it must not
  // block for long (a round late past the lease loses the shards).
  shard_keeper(store::database& db, shard_keeper_options o,
               std::function<void(const cluster_view&)> after_round = nullptr);
  ~shard_keeper();
  shard_keeper(const shard_keeper&) = delete;
  shard_keeper& operator=(const shard_keeper&) = delete;
  // Joins (see `reach`; throws when no live member can be reached within twice the lease), runs
  // one round before returning, then rounds in the background.
  void start();
  void stop();  // releases every held shard

  // The fence for an append to this stream when this node holds its shard (and the lease has
  // not run out by the local clock); none otherwise, with the holder's id in `holder` (empty:
  // nobody holds it now).
  std::optional<store::shard_fence> fence_for(const std::string& stream_id,
                                              std::string& holder) const;
  cluster_view view() const;
  const shard_keeper_options& options() const { return o_; }

 private:
  void join();
  void round();
  void run();
  store::database& db_;
  shard_keeper_options o_;
  std::function<void(const cluster_view&)> after_round_;
  store::database::dedicated conn_;
  mutable std::mutex mu_;  // guards view_ and valid_until_
  cluster_view view_;
  std::chrono::steady_clock::time_point valid_until_{};
  std::mutex run_mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace beampipe::services

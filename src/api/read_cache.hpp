#pragma once
// Answers of one read model, kept while the read model has not moved since they were read
// (projection_watch::generation_of): a hit answers exactly what the tables would, without a
// round trip. The generation is read before the query, so an answer read while a batch
// committed is tagged with the older generation and never served after it. Bounded: a full
// shard starts over.
#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "projections/runner.hpp"

namespace beampipe::api {

// A request tried on an I/O thread first, where nothing may block: a read the cache cannot
// answer then throws needs_thread (no std::exception, so no handler's catch takes it), and the
// request goes to the handler pool as usual. Set only by the inline attempt (routes.cpp).
struct needs_thread {};
inline thread_local bool tls_inline_attempt = false;

template <class V>
class read_cache {
 public:
  // `projections`: every read model the answers come from.
  read_cache(projections::projection_watch& watch, const std::vector<std::string>& projections,
             size_t capacity = 65536)
      : per_shard_(capacity / kShards + 1) {
    for (const auto& p : projections) generations_.push_back(&watch.generation_of(p));
  }

  // The answer for `key`: cached, or `load()`'s (then cached).
  template <class Load>
  std::shared_ptr<const V> get(const std::string& key, Load&& load) {
    auto& shard = shards_[std::hash<std::string>{}(key) % kShards];
    auto gen = generation();
    {
      std::lock_guard lk(shard.mu);
      if (auto it = shard.entries.find(key); it != shard.entries.end() && it->second.gen == gen)
        return it->second.value;
    }
    if (tls_inline_attempt) throw needs_thread{};
    auto value = std::make_shared<const V>(load());
    std::lock_guard lk(shard.mu);
    if (shard.entries.size() >= per_shard_) shard.entries.clear();
    shard.entries.insert_or_assign(key, entry{gen, value});
    return value;
  }

 private:
  static constexpr size_t kShards = 16;
  struct entry {
    uint64_t gen;
    std::shared_ptr<const V> value;
  };
  struct shard {
    std::mutex mu;
    std::unordered_map<std::string, entry> entries;
  };
  // The counters only grow, so their sum moves whenever one does.
  uint64_t generation() const {
    uint64_t sum = 0;
    for (const auto* g : generations_) sum += g->load(std::memory_order_acquire);
    return sum;
  }
  std::vector<const std::atomic<uint64_t>*> generations_;
  size_t per_shard_;
  std::array<shard, kShards> shards_;
};

}  // namespace beampipe::api

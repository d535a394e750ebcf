#pragma once
// Placement in a clustered deployment (issue #23), pure: which shard a stream belongs to, each
// live member's fair share of the shards, and what one node should release or take to get there.
// The nodes hold shards under PostgreSQL leases (store/shard_leases.hpp); this decides, they do.
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::domain::cluster {

inline constexpr int kDefaultShards = 64;

// The shard of a stream: FNV-1a (64-bit) over the stream id's bytes, modulo `shards`. Fixed for
// good: another function would move every stream to another shard.
int shard_of(std::string_view stream_id, int shards);

// How many shards `node` should hold: members (any order) sorted by id share the shards evenly,
// the first shards % n of them one more. 0 when `node` is not a member.
int fair_share(std::vector<std::string> members, const std::string& node, int shards);

// What `node` should do this round, given the live leases (shard -> owner; a shard missing is
// free): release its shards above its share (its highest-numbered first) and take free ones up
// to its share (starting at its own part of the ring, so members rarely reach for the same).
struct moves {
  std::vector<int> release;
  std::vector<int> take;
};
moves plan(const std::string& node, const std::vector<std::string>& members, int shards,
           const std::map<int, std::string>& owners);

}  // namespace beampipe::domain::cluster

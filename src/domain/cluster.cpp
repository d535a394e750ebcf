#include "domain/cluster.hpp"

#include <algorithm>
#include <cstdint>

namespace beampipe::domain::cluster {

int shard_of(std::string_view stream_id, int shards) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char ch : stream_id) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return shards <= 0 ? 0 : static_cast<int>(h % static_cast<uint64_t>(shards));
}

int fair_share(std::vector<std::string> members, const std::string& node, int shards) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  auto it = std::find(members.begin(), members.end(), node);
  if (it == members.end() || shards <= 0) return 0;
  auto n = static_cast<int>(members.size());
  auto i = static_cast<int>(it - members.begin());
  return shards / n + (i < shards % n ? 1 : 0);
}

moves plan(const std::string& node, const std::vector<std::string>& members, int shards,
           const std::map<int, std::string>& owners) {
  moves m;
  int share = fair_share(members, node, shards);
  std::vector<int> mine, free;
  for (int s = 0; s < shards; ++s) {
    auto it = owners.find(s);
    if (it == owners.end())
      free.push_back(s);
    else if (it->second == node)
      mine.push_back(s);
  }
  auto held = static_cast<int>(mine.size());
  if (held > share) {
    m.release.assign(mine.end() - (held - share), mine.end());
    std::reverse(m.release.begin(), m.release.end());
    return m;
  }
  if (held == share || free.empty()) return m;
  // Start where this member's part of the ring starts.
  auto sorted = members;
  std::sort(sorted.begin(), sorted.end());
  auto idx = std::find(sorted.begin(), sorted.end(), node) - sorted.begin();
  int start =
      sorted.empty() ? 0 : static_cast<int>(idx * shards / static_cast<long>(sorted.size()));
  std::stable_partition(free.begin(), free.end(), [start](int s) { return s >= start; });
  free.resize(std::min(free.size(), static_cast<size_t>(share - held)));
  m.take = std::move(free);
  return m;
}

}  // namespace beampipe::domain::cluster

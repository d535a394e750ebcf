#pragma once
// Shard leases for the clustered deployment (issue #23, schema/0022). The database clock
// decides expiry; a take gives a new token, a renewal keeps it, a release expires it at once
// (a graceful hand-off). Appends carry their shard's token (append_request::fence) and the
// store refuses a token that is no longer current.
#include <chrono>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace beampipe::store {

struct shard_lease {
  int shard = 0;
  std::string owner;  // empty: never held
  int64_t token = 0;
  std::string expires_at;  // RFC 3339, database clock
  bool live = false;       // held and not expired
};

// Creates the rows of shards 0..shards-1 that are missing.
void ensure_shards(pqxx::connection& c, int shards);
std::vector<shard_lease> read_shards(pqxx::transaction_base& tx);
// Takes each of `shards` that is free (expired or never held) for `node`: new tokens.
std::map<int, int64_t> take_shards(pqxx::connection& c, const std::string& node,
                                   const std::vector<int>& shards, std::chrono::milliseconds ttl);
// Renews the shards `node` still holds with these tokens (not expired); answers those renewed.
std::map<int, int64_t> renew_shards(pqxx::connection& c, const std::string& node,
                                    const std::map<int, int64_t>& held,
                                    std::chrono::milliseconds ttl);
// Expires these shards now when `node` still holds them with these tokens.
void release_shards(pqxx::connection& c, const std::string& node,
                    const std::map<int, int64_t>& held);

// Membership: a clustered node's address, renewed each round; members are the nodes renewed
// within `ttl` that have not stopped.
void renew_membership(pqxx::connection& c, const std::string& node, const std::string& addr);
struct member {
  std::string node, addr, last_seen;
};
std::vector<member> read_members(pqxx::transaction_base& tx, std::chrono::milliseconds ttl);

}  // namespace beampipe::store

#include "store/shard_leases.hpp"

#include "store/db.hpp"

namespace beampipe::store {

namespace {

// The shards and their tokens as two array literals, in the same order.
std::pair<std::string, std::string> pairs(const std::map<int, int64_t>& held) {
  std::vector<int> shards;
  std::vector<int64_t> tokens;
  for (const auto& [s, t] : held) {
    shards.push_back(s);
    tokens.push_back(t);
  }
  return {pg_int_array(shards), pg_int_array(tokens)};
}

std::map<int, int64_t> shard_tokens(const pqxx::result& r) {
  std::map<int, int64_t> out;
  for (const auto& row : r) out[row[0].as<int>()] = row[1].as<int64_t>();
  return out;
}

constexpr const char* kTtl = "make_interval(secs => $3::double precision / 1000)";

}  // namespace

void ensure_shards(pqxx::connection& c, int shards) {
  pqxx::work tx{c};
  tx.exec_params(
      "INSERT INTO shard_leases (shard) SELECT generate_series(0, $1 - 1) ON CONFLICT DO NOTHING",
      shards);
  tx.commit();
}

std::vector<shard_lease> read_shards(pqxx::transaction_base& tx) {
  std::vector<shard_lease> out;
  for (const auto& r : tx.exec(
           "SELECT shard, owner, token, to_char(expires_at AT TIME ZONE 'UTC', "
           "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), owner <> '' AND expires_at > clock_timestamp() "
           "FROM shard_leases ORDER BY shard"))
    out.push_back({r[0].as<int>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                   r[3].as<std::string>(), r[4].as<bool>()});
  return out;
}

std::map<int, int64_t> take_shards(pqxx::connection& c, const std::string& node,
                                   const std::vector<int>& shards, std::chrono::milliseconds ttl) {
  if (shards.empty()) return {};
  pqxx::work tx{c};
  auto r = tx.exec_params(
      std::string("UPDATE shard_leases SET owner = $1, token = token + 1, acquired_at = "
                  "clock_timestamp(), expires_at = clock_timestamp() + ") +
          kTtl +
          " WHERE shard = ANY($2::int[]) AND (owner = '' OR expires_at <= clock_timestamp()) "
          "RETURNING shard, token",
      node, pg_int_array(shards), static_cast<double>(ttl.count()));
  tx.commit();
  return shard_tokens(r);
}

std::map<int, int64_t> renew_shards(pqxx::connection& c, const std::string& node,
                                    const std::map<int, int64_t>& held,
                                    std::chrono::milliseconds ttl) {
  if (held.empty()) return {};
  auto [shards, tokens] = pairs(held);
  pqxx::work tx{c};
  auto r = tx.exec_params(
      std::string("UPDATE shard_leases l SET expires_at = clock_timestamp() + ") + kTtl +
          " FROM unnest($2::int[], $4::bigint[]) AS h(shard, token) WHERE l.shard = h.shard AND "
          "l.token = h.token AND l.owner = $1 AND l.expires_at > clock_timestamp() "
          "RETURNING l.shard, l.token",
      node, shards, static_cast<double>(ttl.count()), tokens);
  tx.commit();
  return shard_tokens(r);
}

void release_shards(pqxx::connection& c, const std::string& node,
                    const std::map<int, int64_t>& held) {
  if (held.empty()) return;
  auto [shards, tokens] = pairs(held);
  pqxx::work tx{c};
  tx.exec_params(
      "UPDATE shard_leases l SET expires_at = clock_timestamp() FROM unnest($2::int[], "
      "$3::bigint[]) AS h(shard, token) WHERE l.shard = h.shard AND l.token = h.token AND "
      "l.owner = $1",
      node, shards, tokens);
  tx.commit();
}

void renew_membership(pqxx::connection& c, const std::string& node, const std::string& addr) {
  pqxx::work tx{c};
  tx.exec_params(
      "UPDATE node_heartbeats SET cluster_addr = $2, cluster_seen = clock_timestamp() "
      "WHERE node_id = $1",
      node, addr);
  tx.commit();
}

std::vector<member> read_members(pqxx::transaction_base& tx, std::chrono::milliseconds ttl) {
  std::vector<member> out;
  for (const auto& r : tx.exec_params(
           "SELECT node_id, cluster_addr, to_char(cluster_seen AT TIME ZONE 'UTC', "
           "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM node_heartbeats WHERE cluster_addr IS NOT "
           "NULL AND stopped_at IS NULL AND cluster_seen > clock_timestamp() - "
           "make_interval(secs => $1::double precision / 1000) ORDER BY node_id",
           static_cast<double>(ttl.count())))
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
  return out;
}

}  // namespace beampipe::store

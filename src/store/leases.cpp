#include "store/leases.hpp"

namespace beampipe::store {

namespace {

const char* kColumns =
    "name, owner, token, to_char(expires_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "expires_at <= clock_timestamp()";

lease_state row_to_lease(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
          r[3].as<std::string>(), r[4].as<bool>()};
}

}  // namespace

std::optional<lease_state> acquire_lease(pqxx::connection& c, const std::string& name,
                                         const std::string& owner, std::chrono::milliseconds ttl) {
  pqxx::work tx{c};
  // One statement: insert, or take over an expired lease (token + 1), or renew our own.
  auto r = tx.exec_params(
      std::string(
          "INSERT INTO leases AS l (name, owner, token, acquired_at, renewed_at, expires_at) "
          "VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp(), "
          "        clock_timestamp() + make_interval(secs => $3::double precision / 1000)) "
          "ON CONFLICT (name) DO UPDATE SET "
          "  token = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > clock_timestamp() "
          "               THEN l.token ELSE l.token + 1 END, "
          "  acquired_at = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > clock_timestamp() "
          "               THEN l.acquired_at ELSE clock_timestamp() END, "
          "  owner = EXCLUDED.owner, renewed_at = clock_timestamp(), expires_at = "
          "EXCLUDED.expires_at "
          "WHERE l.owner = EXCLUDED.owner OR l.expires_at <= clock_timestamp() "
          "RETURNING ") +
          kColumns,
      name, owner, static_cast<double>(ttl.count()));
  tx.commit();
  if (r.empty()) return std::nullopt;
  return row_to_lease(r[0]);
}

bool renew_lease(pqxx::connection& c, const std::string& name, const std::string& owner,
                 int64_t token, std::chrono::milliseconds ttl) {
  pqxx::work tx{c};
  auto r = tx.exec_params(
      "UPDATE leases SET renewed_at = clock_timestamp(), "
      "  expires_at = clock_timestamp() + make_interval(secs => $4::double precision / 1000) "
      "WHERE name = $1 AND owner = $2 AND token = $3 AND expires_at > clock_timestamp()",
      name, owner, token, static_cast<double>(ttl.count()));
  tx.commit();
  return r.affected_rows() == 1;
}

void release_lease(pqxx::connection& c, const std::string& name, const std::string& owner,
                   int64_t token) {
  pqxx::work tx{c};
  tx.exec_params(
      "UPDATE leases SET expires_at = clock_timestamp() WHERE name = $1 AND owner = $2 AND token = "
      "$3",
      name, owner, token);
  tx.commit();
}

std::optional<lease_state> read_lease(pqxx::connection& c, const std::string& name) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec_params(std::string("SELECT ") + kColumns + " FROM leases WHERE name = $1", name);
  if (r.empty()) return std::nullopt;
  return row_to_lease(r[0]);
}

}  // namespace beampipe::store

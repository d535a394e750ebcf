#pragma once
// Leases on PostgreSQL for roles only one node may play at a time (the scheduler). The
// database clock decides expiry, so nodes with skewed clocks still agree. Every change of
// owner increments the fencing token; whatever a leader writes carries its token, and the
// receiving aggregate refuses tokens older than the newest it has seen, so a former leader
// that wakes up late cannot write.
#include <chrono>
#include <optional>
#include <pqxx/pqxx>
#include <string>

namespace beampipe::store {

struct lease_state {
  std::string name;
  std::string owner;
  int64_t token = 0;
  std::string expires_at;  // RFC 3339, database clock
  bool expired = false;
};

// Takes the lease when it is free or expired (new token), or renews it when `owner` holds it
// (same token). Returns the lease when `owner` holds it afterwards, else nullopt.
std::optional<lease_state> acquire_lease(pqxx::connection& c, const std::string& name,
                                         const std::string& owner, std::chrono::milliseconds ttl);
// Renews only when `owner` still holds `token` and it has not expired; false = lease lost.
bool renew_lease(pqxx::connection& c, const std::string& name, const std::string& owner,
                 int64_t token, std::chrono::milliseconds ttl);
// Gives the lease up (expires it now) when `owner` still holds `token`.
void release_lease(pqxx::connection& c, const std::string& name, const std::string& owner,
                   int64_t token);
std::optional<lease_state> read_lease(pqxx::connection& c, const std::string& name);

}  // namespace beampipe::store

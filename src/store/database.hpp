#pragma once
// The process's one database (issue #19). Every connection a node opens comes from here: named
// for its role (application_name `beampipe-<role>`, what pg_stat_activity shows) and bounded by
// the role's budget, so what a node may open is known before it starts and a part that leaks
// or loops on connections is refused instead of exhausting the server. A role is either pooled
// (short statements, connections reused) or dedicated (a connection held for its session
// state: LISTEN, a session advisory lock, a writer's prepared statements).
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace beampipe::store {

enum class db_role : uint8_t {
  // pooled
  api,             // API reads
  aggregates,      // aggregate loads and snapshots
  discovery,       // discovery jobs
  executions,      // execution steps
  alert_senders,   // alert deliveries
  admission_tick,  // the scheduler tick's admission work
  job_leases,      // job lease renewals of every worker
  heartbeat,       // the node heartbeat
  // dedicated
  prober,       // the dependency probe: a new connection each time (is PostgreSQL accepting?)
  appender,     // one per group-commit writer
  projections,  // one per projection group
  admission,    // the admission gate's session lock
  scheduler,    // the scheduler lease
  alerts,       // the alert worker's rule evaluation
  maintenance,  // start-up (migrations, the signing secret, the first superuser, the demo);
                // audit checkpoints
  cluster,      // the shard keeper's leases and membership (clustered nodes)
};
inline constexpr size_t kDbRoles = static_cast<size_t>(db_role::cluster) + 1;
const char* to_string(db_role r);
bool is_pooled(db_role r);

struct db_role_usage {
  db_role role;
  size_t budget;
  size_t open;
};

// Connections each role may hold. The defaults suit a tool or a test; a node sizes each from
// its settings (app::node).
struct db_budgets {
  std::array<size_t, kDbRoles> of = {10, 5, 5, 5, 4, 5, 4, 1, 1, 2, 12, 1, 1, 1, 2, 1};
  db_budgets& set(db_role r, size_t connections) {
    of[static_cast<size_t>(r)] = connections < 1 ? 1 : connections;
    return *this;
  }
};

class database {
  struct counter {
    std::atomic<size_t> open{0};
  };

 public:
  // Closes a dedicated connection and gives its slot back (also after the database is gone).
  struct closer {
    std::shared_ptr<counter> slots;
    void operator()(pqxx::connection* c) const noexcept;
  };
  using dedicated = std::unique_ptr<pqxx::connection, closer>;

  explicit database(std::string conninfo, db_budgets budgets = {});
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // The role's pool, shared by every part in that role. Throws std::logic_error for a
  // dedicated role.
  connection_pool& pool(db_role r);
  // A connection held by one part. Throws store_error(unavailable) when the role already holds
  // its budget (the caller backs off and retries, as for a refused connection), and
  // std::logic_error for a pooled role.
  // `detail` names the holder in application_name (`beampipe-projections-<group>`).
  dedicated connect(db_role r, const std::string& detail = "");

  size_t budget(db_role r) const;
  std::vector<db_role_usage> usage() const;
  size_t total_budget() const;

 private:
  std::string conninfo_;
  mutable std::mutex mu_;
  const std::array<size_t, kDbRoles> budgets_;
  std::array<std::unique_ptr<connection_pool>, kDbRoles> pools_;
  std::array<std::shared_ptr<counter>, kDbRoles> dedicated_;
};

}  // namespace beampipe::store

#include "store/migrations.hpp"

#include <stdexcept>

#include "store/event_chain.hpp"
#include "util/hash.hpp"

namespace beampipe::store {
namespace {
constexpr const char* kLock = "SELECT pg_advisory_lock(hashtextextended('beampipe:migrations', 0))";
constexpr const char* kUnlock =
    "SELECT pg_advisory_unlock(hashtextextended('beampipe:migrations', 0))";
}  // namespace

std::vector<std::string> migrate(pqxx::connection& c) {
  std::vector<std::string> applied;
  {
    pqxx::nontransaction nt{c};
    nt.exec(kLock);
  }
  try {
    {
      pqxx::work tx{c};
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text "
          "NOT "
          "NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
      tx.commit();
    }
    for (const auto& m : embedded_migrations()) {
      pqxx::work tx{c};
      auto r = tx.exec_params("SELECT sha256 FROM schema_migrations WHERE version = $1", m.version);
      auto sha = util::sha256_hex(m.sql);
      if (!r.empty()) {
        // An applied migration must never change: the history it produced depends on it.
        if (r[0][0].as<std::string>() != sha)
          throw std::runtime_error("migration " + m.name + " was changed after it was applied");
        continue;
      }
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                     m.version, m.name, sha);
      tx.commit();
      applied.push_back(m.name);
    }
    // Events from before the chain (or imported without it) are chained now, before any node
    // appends after them.
    pqxx::work tx{c};
    chain_unhashed(tx);
    tx.commit();
  } catch (...) {
    pqxx::nontransaction nt{c};
    nt.exec(kUnlock);
    throw;
  }
  pqxx::nontransaction nt{c};
  nt.exec(kUnlock);
  return applied;
}

migration_status check_migrations(pqxx::connection& c) {
  migration_status s;
  for (const auto& m : embedded_migrations()) s.latest = std::max(s.latest, m.version);
  pqxx::nontransaction nt{c};
  auto exists = nt.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return s;
  auto r = nt.exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
  s.applied = r[0][0].as<int>();
  return s;
}

}  // namespace beampipe::store

#pragma once
#include <pqxx/pqxx>

#include <string>
#include <vector>

namespace beampipe::store {

struct migration {
  int version;
  std::string name;
  std::string sql;
};

// Generated at build time from schema/*.sql (cmake/embed_schema.cmake).
const std::vector<migration>& embedded_migrations();

struct migration_status {
  int applied = 0;   // highest applied version
  int latest = 0;    // highest version this binary knows
  bool current() const { return applied >= latest; }
};

// Applies every migration not yet recorded in schema_migrations, each in its own
// transaction, serialised across processes by an advisory lock. Re-running is a no-op.
// Returns the names applied.
std::vector<std::string> migrate(pqxx::connection& c);
migration_status check_migrations(pqxx::connection& c);

}  // namespace beampipe::store

#pragma once
// Each PostgreSQL test gets a database of its own in the private test cluster that
// scripts/test-pg started (BEAMPIPE_TEST_PG_DIR), migrated to the current schema.
#include "store/db.hpp"
#include "store/migrations.hpp"
#include "util/ids.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace beampipe::test {

inline std::string cluster_conninfo() {
  const char* dir = std::getenv("BEAMPIPE_TEST_PG_DIR");
  if (!dir) throw std::runtime_error("BEAMPIPE_TEST_PG_DIR is not set: run the tests through ctest");
  std::ifstream f(std::string(dir) + "/conninfo");
  std::string ci;
  std::getline(f, ci);
  if (ci.empty()) throw std::runtime_error(std::string("no conninfo in ") + dir);
  return ci;
}

inline std::string with_dbname(const std::string& ci, const std::string& db) {
  auto pos = ci.find("dbname=");
  auto end = ci.find(' ', pos);
  return ci.substr(0, pos) + "dbname=" + db + (end == std::string::npos ? "" : ci.substr(end));
}

// Creates an empty, migrated database and returns its conninfo.
inline std::string fresh_database() {
  auto admin = store::connect(cluster_conninfo(), "beampipe-test");
  auto id = util::uuid_v7();
  std::string name = "t_";
  for (char c : id)
    if (c != '-') name.push_back(c);
  {
    pqxx::nontransaction nt{*admin};
    nt.exec("CREATE DATABASE " + name);
  }
  auto ci = with_dbname(cluster_conninfo(), name);
  auto c = store::connect(ci, "beampipe-test");
  store::migrate(*c);
  return ci;
}

}  // namespace beampipe::test

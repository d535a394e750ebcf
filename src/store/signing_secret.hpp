#pragma once
// The token signing key kept in the database when none is configured (issue #16): beampipe
// never signs with a constant. Made once per database, so every API node of it verifies the
// tokens any other node issued, and a restart keeps sessions valid.
#include <string>

#include "store/db.hpp"

namespace beampipe::store {

struct signing_secret {
  std::string secret;  // 64 hex characters
  bool generated_now = false;
};

signing_secret ensure_signing_secret(pqxx::connection& c);

}  // namespace beampipe::store

#pragma once
// The identity read models' queries (spec §9.1): the only SQL against users and auth_sessions
// outside their projections.
#include <boost/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "store/paging.hpp"

namespace beampipe::projections::users {

// An enabled user by name (case-insensitive), and whether the token family is a live session
// of theirs: what every authenticated request checks.
struct signed_in_user {
  std::string uuid, username;
  bool is_superuser = false;
  bool session_live = false;
};
std::optional<signed_in_user> signed_in(pqxx::transaction_base& tx, const std::string& username,
                                        const std::string& token_family);

// An enabled user by name with their password hash (the store's user_credentials: never in
// an event, never answered): what a login verifies.
struct login_candidate {
  std::string uuid, username, password_hash;
};
std::optional<login_candidate> login_candidate_for(pqxx::transaction_base& tx,
                                                   const std::string& username);

// A token family after a refresh: its current refresh token id, whether it is revoked, and
// whether its user is still enabled.
struct session_state {
  std::string refresh_jti;
  bool revoked = false;
  bool user_active = false;
};
std::optional<session_state> session(pqxx::transaction_base& tx, const std::string& family);

// An enabled user as GET /me answers it (UserRead).
std::optional<boost::json::object> find(pqxx::transaction_base& tx, const std::string& user_uuid);

// Every enabled user as GET /users answers it (UserRow), by username.
store::page_rows list(pqxx::transaction_base& tx, int64_t limit, int64_t offset);

// The user's sessions not revoked.
std::vector<std::string> live_sessions(pqxx::transaction_base& tx, const std::string& user_uuid);

}  // namespace beampipe::projections::users

#include "projections/users/queries.hpp"

#include "store/db.hpp"
#include "store/paging.hpp"
#include "util/json.hpp"

namespace beampipe::projections::users {
namespace json = boost::json;

std::optional<signed_in_user> signed_in(pqxx::transaction_base& tx, const std::string& username,
                                        const std::string& token_family) {
  auto r = store::exec_prepared_once(
      tx, "users_signed_in",
      "SELECT u.uuid::text, u.username, u.is_superuser, s.family IS NOT NULL AND s.revoked_at "
      "IS NULL AND s.user_uuid = u.uuid FROM users u LEFT JOIN auth_sessions s ON s.family = "
      "$2::uuid WHERE lower(u.username) = lower($1) AND NOT u.disabled",
      username, token_family);
  if (r.empty()) return std::nullopt;
  return signed_in_user{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<bool>(),
                        r[0][3].as<bool>()};
}

std::optional<login_candidate> login_candidate_for(pqxx::transaction_base& tx,
                                                   const std::string& username) {
  auto r = tx.exec_params(
      "SELECT u.uuid::text, u.username, c.password_hash FROM users u JOIN user_credentials c ON "
      "c.user_uuid = u.uuid WHERE lower(u.username) = lower($1) AND NOT u.disabled",
      username);
  if (r.empty()) return std::nullopt;
  return login_candidate{r[0][0].as<std::string>(), r[0][1].as<std::string>(),
                         r[0][2].as<std::string>()};
}

std::optional<session_state> session(pqxx::transaction_base& tx, const std::string& family) {
  auto r = tx.exec_params(
      "SELECT coalesce(s.refresh_jti, ''), s.revoked_at IS NOT NULL, u.uuid IS NOT NULL FROM "
      "auth_sessions s LEFT JOIN users u ON u.uuid = s.user_uuid AND NOT u.disabled WHERE "
      "s.family = $1::uuid",
      family);
  if (r.empty()) return std::nullopt;
  return session_state{r[0][0].as<std::string>(), r[0][1].as<bool>(), r[0][2].as<bool>()};
}

std::optional<json::object> find(pqxx::transaction_base& tx, const std::string& user_uuid) {
  auto r = tx.exec_params(
      "SELECT json_build_object('uuid', uuid, 'username', username, 'email', email, 'name', "
      "name, 'profile_image_url', NULL, 'is_superuser', is_superuser, 'created_at', created_at, "
      "'updated_at', updated_at)::text FROM users WHERE uuid = $1::uuid AND NOT disabled",
      user_uuid);
  return store::first_object(r);
}

store::page_rows list(pqxx::transaction_base& tx, int64_t limit, int64_t offset) {
  return store::read_page(
      tx,
      "SELECT json_build_object('uuid', uuid, 'username', username, 'email', email, 'name', "
      "name, 'profile_image_url', NULL, 'is_superuser', is_superuser, 'created_at', created_at, "
      "'updated_at', updated_at)::text",
      "FROM users WHERE NOT disabled", "ORDER BY lower(username), uuid", {}, limit, offset);
}

std::vector<std::string> live_sessions(pqxx::transaction_base& tx, const std::string& user_uuid) {
  std::vector<std::string> out;
  for (const auto& row : tx.exec_params(
           "SELECT family::text FROM auth_sessions WHERE user_uuid = $1::uuid AND revoked_at IS "
           "NULL",
           user_uuid))
    out.push_back(row[0].as<std::string>());
  return out;
}

}  // namespace beampipe::projections::users

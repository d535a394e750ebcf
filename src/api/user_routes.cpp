// Sign-in (issue #7, first part): POST /login with a JSON or form body answers an access token
// (JWT HS256, BEAMPIPE_JWT_SECRET, BEAMPIPE_ACCESS_TOKEN_EXPIRE_MINUTES); GET /user/me answers
// the signed-in user, never a credential. Enforcement on the other routes, refresh and
// logout come next.
#include <chrono>

#include "api/app.hpp"
#include "api/auth_tokens.hpp"
#include "api/handler_support.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace {

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Verified against when the username is unknown, so both failures take the same time.
const std::string& decoy_hash() {
  static const std::string h = hash_password("beampipe-decoy-password");
  return h;
}

response login(app_context& ctx, request& req) {
  std::string username, password;
  auto type = req.header("content-type");
  if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
    auto body = req.body;
    for (auto& ch : body)
      if (ch == '+') ch = ' ';
    std::string path;
    std::map<std::string, std::string> form;
    if (!parse_target("/?" + body, path, form))
      fail(400, "invalid_body", "malformed form body", "body");
    username = form.count("username") ? form.at("username") : "";
    password = form.count("password") ? form.at("password") : "";
  } else {
    auto body = parse_body(req);
    for (const auto& kv : body)
      if (kv.key() != "username" && kv.key() != "password")
        fail(400, "unknown_field", "unknown field '" + std::string(kv.key()) + "'",
             std::string(kv.key()));
    for (const char* k : {"username", "password"}) {
      auto it = body.find(k);
      if (it == body.end() || !it->value().is_string())
        fail(400, "invalid_field", std::string(k) + " is required", k);
      (std::string(k) == "username" ? username : password) = std::string(it->value().as_string());
    }
  }
  if (username.empty()) fail(400, "invalid_field", "username is required", "username");
  if (password.empty()) fail(400, "invalid_field", "password is required", "password");
  auto row = query_row(ctx,
                       "SELECT json_build_object('uuid', u.uuid, 'hash', c.password_hash) FROM "
                       "users u JOIN user_credentials c ON c.user_uuid = u.uuid "
                       "WHERE lower(u.username) = lower($1) AND NOT u.disabled",
                       username);
  bool ok = row ? verify_password(std::string(row->at("hash").as_string()), password)
                : (verify_password(decoy_hash(), password), false);
  if (!ok) fail(401, "invalid_credentials", "incorrect username or password");
  auto token = issue_access_token(ctx.jwt_secret, std::string(row->at("uuid").as_string()),
                                  ctx.access_token_ttl, now_seconds());
  return json_response(200, json::object{{"access_token", token},
                                         {"token_type", "bearer"},
                                         {"expires_in", ctx.access_token_ttl.count()}});
}

response current_user(app_context& ctx, request& req) {
  auto auth = req.header("authorization");
  if (auth.size() < 8 || (auth.compare(0, 7, "Bearer ") != 0 && auth.compare(0, 7, "bearer ") != 0))
    fail(401, "not_authenticated", "a bearer token is required");
  auto claims = verify_access_token(ctx.jwt_secret, auth.substr(7), now_seconds());
  if (!claims) fail(401, "invalid_token", "the token is invalid or expired");
  auto row = query_row(ctx,
                       "SELECT json_build_object('uuid', uuid, 'username', username, 'email', "
                       "email, 'name', name, 'is_superuser', is_superuser, 'created_at', "
                       "created_at) FROM users WHERE uuid = $1::uuid AND NOT disabled",
                       claims->subject);
  if (!row) fail(401, "invalid_token", "the token's user no longer exists or is disabled");
  return json_response(200, *row);
}

}  // namespace

void add_user_routes(router& r, app_context& ctx) {
  auto bind = [&ctx](response (*fn)(app_context&, request&)) { return bound(ctx, fn); };
  const auto& v2 = kApiV2;
  r.add("POST", v2 + "/login", auth_level::open, bind(login));
  r.add("GET", v2 + "/user/me", auth_level::open, bind(current_user));
}

}  // namespace beampipe::api

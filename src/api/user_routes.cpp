// Sign-in (issue #7, spec §9.2 [HEAD]). POST /login (JSON or form body) starts a sign-in
// session and answers an access token and a refresh token of one family; POST /refresh rotates
// the pair (a reused refresh token revokes the family); POST /logout revokes the families of
// the tokens it is given; GET /user/me answers the signed-in user, never a credential.
#include <chrono>

#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/auth_tokens.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "projections/read_model_names.hpp"
#include "projections/users/queries.hpp"
#include "util/ids.hpp"
#include "util/input_rules.hpp"
#include "util/time.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace {

std::string rfc3339(int64_t epoch_seconds) {
  return util::to_rfc3339(util::clock::time_point(std::chrono::seconds(epoch_seconds)));
}

// Verified against when the username is unknown, so both failures take the same time.
const std::string& decoy_hash() {
  static const std::string h = hash_password("beampipe-decoy-password");
  return h;
}

// A JSON body of string fields, none of them unknown.
json::object string_fields(const request& req, std::initializer_list<const char*> allowed) {
  auto body = parse_body(req);
  for (const auto& kv : body) {
    bool known = false;
    for (const char* k : allowed) known |= kv.key() == k;
    if (!known)
      fail(400, "unknown_field", "unknown field '" + std::string(kv.key()) + "'",
           std::string(kv.key()));
    if (!kv.value().is_string() && !kv.value().is_null())
      fail(400, "invalid_field", std::string(kv.key()) + " must be a string",
           std::string(kv.key()));
  }
  return body;
}

std::string field_or_empty(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

json::object token_pair(const app_context& ctx, const issued_token& access,
                        const issued_token& refresh) {
  return json::object{{"access_token", access.token},
                      {"refresh_token", refresh.token},
                      {"token_type", "bearer"},
                      {"expires_in", ctx.access_token_ttl.count()}};
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
    for (const auto& [field, value] : {std::pair{"username", &username}, {"password", &password}})
      if (auto p = util::text_problem(*value, util::text_kind::name))
        fail(400, "invalid_field", std::string(field) + " " + *p, field);
  } else {
    auto body = string_fields(req, {"username", "password"});
    username = field_or_empty(body, "username");
    password = field_or_empty(body, "password");
  }
  if (username.empty()) fail(400, "invalid_field", "username is required", "username");
  if (password.empty()) fail(400, "invalid_field", "password is required", "password");
  auto row = read_model(
      ctx, [&](auto& tx) { return projections::users::login_candidate_for(tx, username); });
  bool ok = row ? verify_password(row->password_hash, password)
                : (verify_password(decoy_hash(), password), false);
  if (!ok) fail(401, "invalid_credentials", "incorrect username or password");
  auto name = row->username;
  auto family = util::uuid_v7();
  auto now = now_seconds();
  auto access =
      issue_token(ctx.jwt_secret, token_type::access, name, family, ctx.access_token_ttl, now);
  auto refresh =
      issue_token(ctx.jwt_secret, token_type::refresh, name, family, ctx.refresh_token_ttl, now);
  return after_recorded(ctx, req, domain::auth_session_stream_id(family), "start",
                        json::object{{"user_uuid", row->uuid},
                                     {"username", name},
                                     {"refresh_jti", refresh.claims.jti},
                                     {"refresh_expires_at", rfc3339(refresh.claims.expires_at)}},
                        [&ctx, access, refresh](const actors::command_reply&) -> response {
                          return json_response(200, token_pair(ctx, access, refresh));
                        });
}

response refresh(app_context& ctx, request& req) {
  auto body = string_fields(req, {"refresh_token"});
  auto presented = field_or_empty(body, "refresh_token");
  if (presented.empty()) fail(400, "invalid_field", "refresh_token is required", "refresh_token");
  auto now = now_seconds();
  auto claims = verify_token(ctx.jwt_secret, presented, token_type::refresh, now);
  if (!claims) fail(401, "invalid_token", "the refresh token is invalid or expired");
  auto access = issue_token(ctx.jwt_secret, token_type::access, claims->subject, claims->family,
                            ctx.access_token_ttl, now);
  auto next = issue_token(ctx.jwt_secret, token_type::refresh, claims->subject, claims->family,
                          ctx.refresh_token_ttl, now);
  return after_recorded(
      ctx, req, domain::auth_session_stream_id(claims->family), "rotate",
      json::object{{"presented_jti", claims->jti},
                   {"refresh_jti", next.claims.jti},
                   {"refresh_expires_at", rfc3339(next.claims.expires_at)}},
      [&ctx, access, next, family = claims->family](const actors::command_reply&) -> response {
        // The session decides between rotation and reuse; its read model says which happened.
        auto row =
            read_model(ctx, [&](auto& tx) { return projections::users::session(tx, family); });
        if (!row || row->revoked || row->refresh_jti != next.claims.jti)
          fail(
              401, "token_revoked",
              "token revoked: the refresh token was already used, so every token of its sign-in is "
              "revoked");
        if (!row->user_active)
          fail(401, "invalid_token", "the token's user no longer exists or is disabled");
        return json_response(200, token_pair(ctx, access, next));
      });
}

response logout(app_context& ctx, request& req) {
  auto body = string_fields(req, {"access_token", "refresh_token"});
  auto now = now_seconds();
  std::vector<std::string> families;
  for (auto [field, type] : {std::pair{"access_token", token_type::access},
                             std::pair{"refresh_token", token_type::refresh}}) {
    auto token = field_or_empty(body, field);
    if (token.empty()) continue;
    auto claims = verify_token(ctx.jwt_secret, token, type, now);
    if (!claims) fail(401, "invalid_token", std::string(field) + " is invalid or expired", field);
    if (std::find(families.begin(), families.end(), claims->family) == families.end())
      families.push_back(claims->family);
  }
  if (families.empty())
    fail(400, "invalid_field", "access_token or refresh_token is required", "refresh_token");
  std::vector<actors::command_request> revokes;
  for (const auto& family : families)
    revokes.push_back(command_for(req, domain::auth_session_stream_id(family), "revoke",
                                  json::object{{"reason", "logout"}}));
  return after_replies(ctx, req, std::move(revokes),
                       [&ctx, &req](std::vector<actors::command_reply> replies) {
                         int64_t last = 0;
                         for (const auto& r : replies) {
                           if (!r.ok()) fail_with(r);
                           last = std::max(last, r.position);
                         }
                         // Revoked everywhere before the answer: a token used after logout must
                         // fail.
                         return after_applied(ctx, req, last, []() -> response {
                           response res;
                           res.status = 204;
                           res.content_type.clear();
                           return res;
                         });
                       });
}

response current_user(app_context& ctx, request& req) {
  auto row =
      read_model(ctx, [&](auto& tx) { return projections::users::find(tx, req.user.user_uuid); });
  if (!row) fail(401, "not_authenticated", "the token's user no longer exists or is disabled");
  return json_response(200, *row);
}

// GET /users: every enabled account (superusers only; accounts are made with `beampipe admin`).
response list_users(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::users});
  auto page = page_params(req, 100, 500);
  return page_response(read_model(
      ctx, [&](auto& tx) { return projections::users::list(tx, page.limit, page.offset); }));
}

}  // namespace

void add_user_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  r.add("POST", v2 + "/login", auth_level::open, bind(login), doc_login());
  r.add("POST", v2 + "/refresh", auth_level::open, bind(refresh), doc_refresh());
  r.add("POST", v2 + "/logout", auth_level::open, bind(logout), doc_logout());
  r.add("GET", v2 + "/user/me", auth_level::user, bind(current_user), doc_current_user());
  r.add("GET", v2 + "/users", auth_level::superuser, bind(list_users),
        operation("list_users", "List users", "auth",
                  "Enabled accounts by username (superusers only; `beampipe admin create-user` "
                  "makes them).")
            .returns_list("UserRow")
            .paged(100, 500)
            .read());
}

}  // namespace beampipe::api

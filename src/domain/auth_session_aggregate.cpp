// The sign-in session (issue #7, spec §9.2 [HEAD]): one stream per login, named by the token
// family every token of that login carries. Refresh rotates the current refresh token; a
// refresh token that is not the current one is a reuse (a stolen or replayed token), and the
// whole family is revoked. Logout revokes the family too. Events carry token ids (jti), never
// a token: a jti cannot be turned back into a credential.
#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/envelope.hpp"
#include "events/types.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;
using namespace cmd;

namespace {

json::object session_initial() { return json::object{{"exists", false}}; }

void session_apply(json::object& s, std::string_view type, const json::object& d,
                   std::string_view) {
  if (type == et::session_started) {
    s["exists"] = true;
    s["user_uuid"] = d.at("user_uuid");
    s["refresh_jti"] = d.at("refresh_jti");
    s["revoked"] = false;
  } else if (type == et::session_refreshed) {
    s["refresh_jti"] = d.at("refresh_jti");
  } else if (type == et::session_revoked) {
    s["revoked"] = true;
  }
}

command_error unauthorized(std::string code, std::string message) {
  return {error_kind::unauthenticated, std::move(code), std::move(message), ""};
}

decision session_decide(const json::object& s, std::string_view stream_id, const command& c) {
  decision d;
  auto family = events::stream_key_of_view(stream_id);
  if (c.name == "start") {
    if (flag(s, "exists"))
      return {{}, conflict("session_exists", "the sign-in session already exists")};
    std::string user, username, jti;
    if (auto e = required_text(c.body, "user_uuid", 36, user)) return {{}, *e};
    if (auto e = required_text(c.body, "username", 20, username)) return {{}, *e};
    if (auto e = required_text(c.body, "refresh_jti", 64, jti)) return {{}, *e};
    d.events.push_back({et::session_started,
                        {{"family", family},
                         {"user_uuid", user},
                         {"username", username},
                         {"refresh_jti", jti},
                         {"refresh_expires_at", str(c.body, "refresh_expires_at")}}});
    return d;
  }
  if (!flag(s, "exists")) return {{}, unauthorized("invalid_token", "unknown sign-in session")};
  if (c.name == "rotate") {
    if (flag(s, "revoked")) return {{}, unauthorized("token_revoked", "token revoked")};
    auto presented = str(c.body, "presented_jti");
    std::string next;
    if (auto e = required_text(c.body, "refresh_jti", 64, next)) return {{}, *e};
    if (presented != str(s, "refresh_jti")) {
      // Not the current refresh token: it was already used once. Whoever holds the family's
      // tokens now is not to be trusted, so all of them stop working.
      d.events.push_back(
          {et::session_revoked,
           {{"family", family}, {"reason", "refresh_token_reuse"}, {"jti", presented}}});
      return d;
    }
    d.events.push_back({et::session_refreshed,
                        {{"family", family},
                         {"from_jti", presented},
                         {"refresh_jti", next},
                         {"refresh_expires_at", str(c.body, "refresh_expires_at")}}});
    return d;
  }
  if (c.name == "revoke") {
    if (flag(s, "revoked")) return d;  // already revoked: nothing more to record
    auto reason = str(c.body, "reason");
    if (reason.empty()) return {{}, bad("reason", "reason is required")};
    d.events.push_back({et::session_revoked, {{"family", family}, {"reason", reason}}});
    return d;
  }
  return {{},
          command_error{error_kind::invalid, "unknown_command", "unknown session command " + c.name,
                        ""}};
}

}  // namespace

const aggregate_kind& auth_session_aggregate() {
  static const aggregate_kind k{events::stream::session, session_initial, session_apply,
                                session_decide};
  return k;
}

std::string auth_session_stream_id(std::string_view family) {
  return "session-" + std::string(family);
}

}  // namespace beampipe::domain

// The sign-in session (issue #7, spec §9.2 [HEAD]): one stream per login, named by the token
// family every token of that login carries. Refresh rotates the current refresh token; a
// refresh token that is not the current one is a reuse (a stolen or replayed token), and the
// whole family is revoked. Logout revokes the family too. Events carry token ids (jti), never
// a token: a jti cannot be turned back into a credential. Typed like the source aggregate.
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/envelope.hpp"
#include "events/users.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace ev = beampipe::events;
using namespace cmd;

namespace {

// 2: the typed state (issue #18). Version-1 snapshots are ignored and rebuilt from events.
constexpr int kStateVersion = 2;

struct session_state {
  bool exists = false;
  bool revoked = false;
  std::string user_uuid;
  std::string refresh_jti;
};
BOOST_DESCRIBE_STRUCT(session_state, (), (exists, revoked, user_uuid, refresh_jti))

struct start_session {
  std::string user_uuid, username, refresh_jti, refresh_expires_at;
};
struct rotate_session {
  std::string presented_jti, refresh_jti, refresh_expires_at;
};
struct revoke_session {
  std::string reason;
};
using session_command = std::variant<start_session, rotate_session, revoke_session>;

session_command decode(const command& c) {
  const auto& b = c.body;
  if (c.name == "start")
    return start_session{required(b, "user_uuid", 36), required(b, "username", 20),
                         required(b, "refresh_jti", 64), str(b, "refresh_expires_at")};
  if (c.name == "rotate")
    return rotate_session{str(b, "presented_jti"), required(b, "refresh_jti", 64),
                          str(b, "refresh_expires_at")};
  if (c.name == "revoke") {
    auto reason = str(b, "reason");
    if (reason.empty()) throw refusal{bad("reason", "reason is required")};
    return revoke_session{reason};
  }
  throw refusal{{error_kind::invalid, "unknown_command", "unknown session command " + c.name, ""}};
}

command_error unauthorized(std::string code, std::string message) {
  return {error_kind::unauthenticated, std::move(code), std::move(message), ""};
}

using events_out = std::vector<pending_event>;

struct decider {
  const session_state& s;
  std::string family;

  events_out operator()(const start_session& c) const {
    if (s.exists) throw refusal{conflict("session_exists", "the sign-in session already exists")};
    return {ev::make(
        ev::session_started{family, c.user_uuid, c.username, c.refresh_jti, c.refresh_expires_at})};
  }
  events_out operator()(const rotate_session& c) const {
    if (s.revoked) throw refusal{unauthorized("token_revoked", "token revoked")};
    if (c.presented_jti != s.refresh_jti) {
      // Not the current refresh token: it was already used once. Whoever holds the family's
      // tokens now is not to be trusted, so all of them stop working.
      ev::session_revoked e{family, "refresh_token_reuse", {}};
      e.jti = c.presented_jti;
      return {ev::make(e)};
    }
    return {ev::make(
        ev::session_refreshed{family, c.presented_jti, c.refresh_jti, c.refresh_expires_at})};
  }
  events_out operator()(const revoke_session& c) const {
    if (s.revoked) return {};  // already revoked: nothing more to record
    return {ev::make(ev::session_revoked{family, c.reason, {}})};
  }
};

decision session_decide(const session_state& s, std::string_view stream_id, const command& c) {
  try {
    auto command = decode(c);
    if (!std::holds_alternative<start_session>(command) && !s.exists)
      throw refusal{unauthorized("invalid_token", "unknown sign-in session")};
    return {std::visit(decider{s, std::string(ev::stream_key_of_view(stream_id))}, command),
            std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void evolve(session_state& s, std::string_view type, const json::object& d) {
  if (type == ev::type::session_started) {
    auto e = ev::decode_as<ev::session_started>(d);
    s.exists = true;
    s.user_uuid = e.user_uuid;
    s.refresh_jti = e.refresh_jti;
    s.revoked = false;
  } else if (type == ev::type::session_refreshed) {
    s.refresh_jti = ev::decode_as<ev::session_refreshed>(d).refresh_jti;
  } else if (type == ev::type::session_revoked) {
    s.revoked = true;
  }
}

}  // namespace

const aggregate_kind& auth_session_aggregate() {
  static const aggregate_kind k =
      typed_aggregate<session_state, evolve, session_decide>(ev::stream::session, kStateVersion);
  return k;
}

std::string auth_session_stream_id(std::string_view family) {
  return "session-" + std::string(family);
}

}  // namespace beampipe::domain

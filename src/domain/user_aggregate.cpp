// The user aggregate (issue #7, spec §1.7): created, password changed, disabled. The stream id
// derives from the lower-cased username, so a second create of the same name meets the
// existing stream and is refused. Credentials never enter the events. Typed like the source
// aggregate: a state struct, a command variant decoded once (refusals name their field), one
// decide overload per command.
#include <cctype>
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/users.hpp"
#include "util/ids.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace ev = beampipe::events;
using namespace cmd;

namespace {

constexpr const char* kUserNamespace = "c4a1e7d2-6b3f-4e85-9a10-2f7d8c5b3e91";
// 2: the typed state (issue #18). Version-1 snapshots are ignored and rebuilt from events.
constexpr int kStateVersion = 2;

struct user_state {
  bool exists = false;
  bool disabled = false;
  std::string uuid;
  std::string username;
};
BOOST_DESCRIBE_STRUCT(user_state, (), (exists, disabled, uuid, username))

struct create_user {
  std::string username, email, name;
  bool is_superuser = false;
};
struct change_password {};
struct disable_user {};
using user_command = std::variant<create_user, change_password, disable_user>;

bool valid_username(const std::string& u) {
  if (u.empty() || u.size() > 20) return false;
  for (unsigned char c : u)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

user_command decode(const command& c) {
  const auto& b = c.body;
  if (c.name == "create") {
    create_user u{str(b, "username"), str(b, "email"), str(b, "name"), flag(b, "is_superuser")};
    if (!valid_username(u.username))
      throw refusal{bad("username", "username must be 1 to 20 letters, digits, '_', '.' or '-'")};
    if (u.email.size() > 50 || u.email.find('@') == std::string::npos || u.email.front() == '@' ||
        u.email.back() == '@')
      throw refusal{bad("email", "email must be an address of at most 50 characters")};
    if (u.name.size() > 30) throw refusal{bad("name", "name must be at most 30 characters")};
    return u;
  }
  if (c.name == "password_changed") return change_password{};
  if (c.name == "disable") return disable_user{};
  throw refusal{{error_kind::invalid, "unknown_command", "unknown user command " + c.name, ""}};
}

using events_out = std::vector<pending_event>;

struct decider {
  const user_state& s;
  std::string_view stream_id;

  events_out operator()(const create_user& c) const {
    if (user_stream_id(user_uuid(c.username)) != stream_id)
      throw refusal{
          {error_kind::invalid, "wrong_stream", "command routed to the wrong user stream", ""}};
    if (s.exists)
      throw refusal{{error_kind::conflict, "username_taken", "username is taken", "username"}};
    ev::user_created e;
    e.uuid = user_uuid(c.username);
    e.username = c.username;
    e.email = c.email;
    e.name = c.name.empty() ? c.username : c.name;
    e.is_superuser = c.is_superuser;
    return {ev::make(e)};
  }
  events_out operator()(const change_password&) const {
    return {ev::make(ev::user_password_changed{s.uuid})};
  }
  events_out operator()(const disable_user&) const {
    if (s.disabled) return {};
    return {ev::make(ev::user_disabled{s.uuid})};
  }
};

decision user_decide(const user_state& s, std::string_view stream_id, const command& c) {
  try {
    auto command = decode(c);
    if (!std::holds_alternative<create_user>(command) && !s.exists)
      throw refusal{{error_kind::not_found, "not_found", "user not found", ""}};
    return {std::visit(decider{s, stream_id}, command), std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void evolve(user_state& s, std::string_view type, const json::object& d) {
  if (type == ev::type::user_created) {
    auto e = ev::decode_as<ev::user_created>(d);
    s.exists = true;
    s.uuid = e.uuid;
    s.username = e.username;
    s.disabled = false;
  } else if (type == ev::type::user_disabled) {
    s.disabled = true;
  }
}

}  // namespace

const aggregate_kind& user_aggregate() {
  static const aggregate_kind k =
      typed_aggregate<user_state, evolve, user_decide>(ev::stream::user, kStateVersion);
  return k;
}

std::string user_uuid(std::string_view username) {
  std::string lower(username);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return util::uuid_v5(kUserNamespace, lower);
}

std::string user_stream_id(std::string_view uuid) { return "user-" + std::string(uuid); }

}  // namespace beampipe::domain

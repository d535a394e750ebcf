// The user aggregate (issue #7, spec §1.7): created, password changed, disabled. The stream id
// derives from the lower-cased username, so a second create of the same name meets the
// existing stream and is refused. Credentials never enter the events.
#include <cctype>

#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/types.hpp"
#include "util/ids.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;
using namespace cmd;

namespace {

constexpr const char* kUserNamespace = "c4a1e7d2-6b3f-4e85-9a10-2f7d8c5b3e91";

json::object user_initial() { return json::object{{"exists", false}}; }

void user_apply(json::object& s, std::string_view type, const json::object& d, std::string_view) {
  if (type == et::user_created) {
    s["exists"] = true;
    s["uuid"] = d.at("uuid");
    s["username"] = d.at("username");
    s["disabled"] = false;
  } else if (type == et::user_disabled) {
    s["disabled"] = true;
  }
}

bool valid_username(const std::string& u) {
  if (u.empty() || u.size() > 20) return false;
  for (unsigned char c : u)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

decision user_decide(const json::object& s, std::string_view stream_id, const command& c) {
  decision d;
  if (c.name == "create") {
    auto username = str(c.body, "username");
    if (!valid_username(username))
      return {{}, bad("username", "username must be 1 to 20 letters, digits, '_', '.' or '-'")};
    if (user_stream_id(user_uuid(username)) != stream_id)
      return {{},
              command_error{error_kind::invalid, "wrong_stream",
                            "command routed to the wrong user stream", ""}};
    if (flag(s, "exists"))
      return {
          {},
          command_error{error_kind::conflict, "username_taken", "username is taken", "username"}};
    auto email = str(c.body, "email");
    if (email.size() > 50 || email.find('@') == std::string::npos || email.front() == '@' ||
        email.back() == '@')
      return {{}, bad("email", "email must be an address of at most 50 characters")};
    auto name = str(c.body, "name");
    if (name.size() > 30) return {{}, bad("name", "name must be at most 30 characters")};
    d.events.push_back({et::user_created,
                        {{"uuid", user_uuid(username)},
                         {"username", username},
                         {"email", email},
                         {"name", name.empty() ? json::value(username) : json::value(name)},
                         {"is_superuser", flag(c.body, "is_superuser")}}});
    return d;
  }
  if (!flag(s, "exists"))
    return {{}, command_error{error_kind::not_found, "not_found", "user not found", ""}};
  if (c.name == "password_changed") {
    d.events.push_back({et::user_password_changed, {{"uuid", s.at("uuid")}}});
    return d;
  }
  if (c.name == "disable") {
    if (flag(s, "disabled")) return d;
    d.events.push_back({et::user_disabled, {{"uuid", s.at("uuid")}}});
    return d;
  }
  return {
      {},
      command_error{error_kind::invalid, "unknown_command", "unknown user command " + c.name, ""}};
}

}  // namespace

const aggregate_kind& user_aggregate() {
  static const aggregate_kind k{events::stream::user, user_initial, user_apply, user_decide};
  return k;
}

std::string user_uuid(std::string_view username) {
  std::string lower(username);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return util::uuid_v5(kUserNamespace, lower);
}

std::string user_stream_id(std::string_view uuid) { return "user-" + std::string(uuid); }

}  // namespace beampipe::domain

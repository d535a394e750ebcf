// Every value comes from the event (timestamps are the event's recorded_at), so a rebuild
// reproduces the same rows byte for byte.
#include "projections/users/projection.hpp"

#include "events/catalog.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::projections::users {
namespace et = beampipe::events::type;
using util::at_or_null;

namespace {

// users: who may sign in (never a credential: those are not in the events).
class users_projection : public projection {
 public:
  std::string name() const override { return model::users; }
  std::string group() const override { return "users"; }
  std::vector<table_spec> tables() const override { return {{"users", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::user_created || t == et::user_password_changed || t == et::user_disabled;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("users", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = events::stream_key_of(e.stream_id);
    if (e.type == et::user_created) {
      rows.put("users", key,
               json::object{{"uuid", key},
                            {"username", d.at("username")},
                            {"email", d.at("email")},
                            {"name", d.at("name")},
                            {"is_superuser", d.at("is_superuser")},
                            {"disabled", false},
                            {"created_at", e.recorded_at},
                            {"updated_at", e.recorded_at},
                            {"stream_version", e.stream_version}});
      return;
    }
    auto* row = rows.edit("users", key);
    if (!row) return;
    if (e.type == et::user_disabled) (*row)["disabled"] = true;
    (*row)["updated_at"] = e.recorded_at;
    (*row)["stream_version"] = e.stream_version;
    rows.mark_dirty("users", key);
  }
};

// auth_sessions: which token families are live, and each one's current refresh token id.
class auth_sessions_projection : public projection {
 public:
  std::string name() const override { return model::auth_sessions; }
  std::string group() const override { return "users"; }
  std::vector<table_spec> tables() const override { return {{"auth_sessions", "family", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::session_started || t == et::session_refreshed || t == et::session_revoked;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("auth_sessions", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = events::stream_key_of(e.stream_id);
    auto expiry = [&](const json::object& data) -> json::value {
      const auto& v = at_or_null(data, "refresh_expires_at");
      return v.is_string() && !v.as_string().empty() ? v : json::value(nullptr);
    };
    if (e.type == et::session_started) {
      rows.put("auth_sessions", key,
               json::object{{"family", key},
                            {"user_uuid", d.at("user_uuid")},
                            {"username", d.at("username")},
                            {"refresh_jti", d.at("refresh_jti")},
                            {"refresh_expires_at", expiry(d)},
                            {"started_at", e.recorded_at},
                            {"refreshed_at", nullptr},
                            {"revoked_at", nullptr},
                            {"revoked_reason", nullptr},
                            {"stream_version", e.stream_version}});
      return;
    }
    auto* row = rows.edit("auth_sessions", key);
    if (!row) return;
    if (e.type == et::session_refreshed) {
      (*row)["refresh_jti"] = d.at("refresh_jti");
      (*row)["refresh_expires_at"] = expiry(d);
      (*row)["refreshed_at"] = e.recorded_at;
    } else {
      (*row)["revoked_at"] = e.recorded_at;
      (*row)["revoked_reason"] = d.at("reason");
    }
    (*row)["stream_version"] = e.stream_version;
    rows.mark_dirty("auth_sessions", key);
  }
};

}  // namespace

std::vector<std::shared_ptr<const projection>> make_projections() {
  return {std::make_shared<users_projection>(), std::make_shared<auth_sessions_projection>()};
}

}  // namespace beampipe::projections::users

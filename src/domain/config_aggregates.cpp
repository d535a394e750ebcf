// Project-config and deployment-profile aggregates (spec §1.3, §1.4, §10, §12.6), typed like
// the source aggregate: state structs, command variants decoded once, decide overloads that
// write the event structs.
#include <algorithm>
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/command_support.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/project_config.hpp"
#include "events/project.hpp"
#include "events/types.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;
using cmd::no_new_id;
using cmd::refusal;

namespace {

json::array diagnostics_json(const std::vector<Diagnostic>& ds) {
  json::array a;
  for (const auto& d : ds) a.push_back(to_json(d));
  return a;
}

command_error invalid(std::string message, const std::vector<Diagnostic>& ds) {
  command_error e{error_kind::invalid_document, "invalid_config", std::move(message), "",
                  diagnostics_json(ds)};
  for (const auto& d : ds)
    if (d.severity == Severity::error) {
      e.field = d.path;
      break;
    }
  return e;
}

// ---------------------------------------------------------------- project configs

// 2: the typed states (issue #18). Version-1 snapshots are ignored and rebuilt from events.
constexpr int kStateVersion = 2;

struct project_state {
  bool exists = false;
  std::string project_id;
  int64_t versions = 0;
  std::optional<std::string> active_uuid;
  std::string active_sha256;
  std::optional<json::object> active_spec;
  std::vector<std::string> wasm;  // digests of the stored hook modules
};
BOOST_DESCRIBE_STRUCT(project_state, (),
                      (exists, project_id, versions, active_uuid, active_sha256, active_spec, wasm))

struct upload_config {
  std::string text;
};
struct attach_wasm {
  std::string wasm_sha256;
  int64_t size_bytes = 0;
};
using project_command = std::variant<upload_config, attach_wasm>;

project_command decode_project(const command& cmd) {
  const auto& b = cmd.body;
  if (cmd.name == "upload") {
    auto it = b.find("text");
    if (it == b.end() || !it->value().is_string())
      throw refusal{{error_kind::invalid, "invalid_field", "config text is required", "body"}};
    return upload_config{std::string(it->value().as_string())};
  }
  if (cmd.name == "attach_wasm") {
    attach_wasm w;
    w.wasm_sha256 = cmd::str(b, "wasm_sha256");
    if (!is_lower_sha256_hex(w.wasm_sha256))
      throw refusal{{error_kind::invalid, "invalid_field",
                     "wasm_sha256 must be 64 lower-case hex digits", "wasm_sha256"}};
    w.size_bytes = cmd::int_or(b, "size_bytes", 0);
    return w;
  }
  throw refusal{
      {error_kind::invalid, "unknown_command", "unknown project command " + cmd.name, ""}};
}

using events_out = std::vector<pending_event>;

struct project_decider {
  const project_state& s;
  std::string_view stream_id;
  const command& cmd;

  events_out operator()(const upload_config& u) const {
    auto report = validate_project_config_text(u.text);
    if (!report.valid || !report.config)
      throw refusal{invalid("project config is invalid", report.errors)};
    if (project_stream_id(report.project_id) != stream_id)
      throw refusal{
          {error_kind::invalid, "wrong_stream", "command routed to the wrong project stream", ""}};
    // An identical re-upload of the active revision records nothing.
    if (s.active_uuid && s.active_sha256 == report.spec_sha256) return {};
    std::vector<Diagnostic> warnings = report.warnings;
    if (s.active_spec) {
      auto parsed = parse_project_config(json::value(*s.active_spec));
      if (parsed.config)
        for (auto& w : compare_with_previous(*parsed.config, *report.config)) warnings.push_back(w);
    }
    if (cmd.new_id.empty()) throw refusal{no_new_id()};
    auto spec = to_json(*report.config).as_object();
    events::project_config_uploaded up{cmd.new_id, report.project_id,  s.versions + 1,
                                       spec,       report.spec_sha256, diagnostics_json(warnings)};
    events::project_config_activated act{cmd.new_id,         report.project_id, s.versions + 1,
                                         report.spec_sha256, std::move(spec),   s.active_uuid};
    return {events::make(up), events::make(act)};
  }

  // A WASM module for the project's hooks (§5.9). Modules belong to the project, not to one
  // config revision (⚠ Q2: attaching to the active config uuid silently detached them on the
  // next upload); project_config_id records which revision was active at upload.
  events_out operator()(const attach_wasm& w) const {
    if (!s.active_uuid)
      throw refusal{
          {error_kind::not_found, "no_active_config", "the project has no active config", "id"}};
    if (std::find(s.wasm.begin(), s.wasm.end(), w.wasm_sha256) != s.wasm.end())
      return {};  // already stored: an upload is an upsert
    return {events::make(
        events::project_wasm_uploaded{s.project_id, *s.active_uuid, w.wasm_sha256, w.size_bytes})};
  }
};

decision project_decide(const project_state& s, std::string_view stream_id, const command& cmd) {
  try {
    return {std::visit(project_decider{s, stream_id, cmd}, decode_project(cmd)), std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void project_evolve(project_state& s, std::string_view type, const json::object& d) {
  if (type == et::project_config_uploaded) {
    auto e = events::decode_as<events::project_config_uploaded>(d);
    s.exists = true;
    s.project_id = e.project_id;
    s.versions = e.version;
  } else if (type == et::project_wasm_uploaded) {
    s.wasm.push_back(events::decode_as<events::project_wasm_uploaded>(d).wasm_sha256);
  } else if (type == et::project_config_activated) {
    auto e = events::decode_as<events::project_config_activated>(d);
    s.active_uuid = e.uuid;
    s.active_sha256 = e.spec_sha256;
    s.active_spec = std::move(e.spec);
  }
}

// ---------------------------------------------------------------- deployment profiles

struct profile_entry {
  std::string uuid;
  json::object profile;
  int64_t revision = 1;
};
BOOST_DESCRIBE_STRUCT(profile_entry, (), (uuid, profile, revision))

// The registry: every profile, in the order they were created.
struct registry_state {
  std::vector<profile_entry> profiles;
};
BOOST_DESCRIBE_STRUCT(registry_state, (), (profiles))

struct create_profile {
  json::value profile;
  std::optional<std::string> uuid;  // else the command's new id
};
struct update_profile {
  std::string uuid;
  json::object patch;
};
struct make_default {
  std::string uuid;
};
struct delete_profile {
  std::string uuid;
};
using profile_command = std::variant<create_profile, update_profile, make_default, delete_profile>;

profile_command decode_profile(const command& cmd) {
  const auto& b = cmd.body;
  auto target = [&] { return cmd::str(b, "uuid"); };
  if (cmd.name == "create") {
    auto it = b.find("profile");
    if (it == b.end())
      throw refusal{{error_kind::invalid, "invalid_body", "profile is required", "body"}};
    create_profile c{it->value(), std::nullopt};
    if (!target().empty()) c.uuid = target();
    return c;
  }
  if (cmd.name == "update") {
    auto it = b.find("patch");
    if (it == b.end() || !it->value().is_object())
      throw refusal{
          {error_kind::invalid, "invalid_body", "request body must be a JSON object", "body"}};
    return update_profile{target(), it->value().as_object()};
  }
  if (cmd.name == "make_default") return make_default{target()};
  if (cmd.name == "delete") return delete_profile{target()};
  throw refusal{
      {error_kind::invalid, "unknown_command", "unknown profile command " + cmd.name, ""}};
}

// RFC 7396 JSON merge patch: objects merge recursively, null removes, anything else replaces.
json::value merge_patch(json::value target, const json::value& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = json::object{};
  auto& t = target.as_object();
  for (const auto& kv : patch.as_object()) {
    if (kv.value().is_null())
      t.erase(kv.key());
    else
      t[kv.key()] =
          merge_patch(t.contains(kv.key()) ? t.at(kv.key()) : json::value(nullptr), kv.value());
  }
  return target;
}

std::string scope_of(const json::object& p) {
  auto it = p.find("project_module");
  return it == p.end() || it->value().is_null() ? std::string()
                                                : std::string(it->value().as_string());
}

bool is_default(const json::object& p) {
  auto it = p.find("is_default");
  return it != p.end() && it->value().is_bool() && it->value().as_bool();
}

// Cross-profile rules: unique names, at most one default per scope.
void check_registry(const registry_state& s, std::string_view self, const json::object& p) {
  auto name = p.at("name").as_string();
  for (const auto& other_entry : s.profiles) {
    if (other_entry.uuid == self) continue;
    const auto& other = other_entry.profile;
    if (other.at("name").as_string() == name)
      throw refusal{{error_kind::conflict, "duplicate_name",
                     "a deployment profile named '" + std::string(name) + "' already exists",
                     "name"}};
    if (is_default(p) && is_default(other) && scope_of(other) == scope_of(p)) {
      auto scope = scope_of(p).empty() ? std::string("the global scope") : scope_of(p);
      throw refusal{{error_kind::conflict, "default_exists",
                     "deployment profile '" + std::string(other.at("name").as_string()) +
                         "' is already the default for " + scope,
                     "is_default"}};
    }
  }
}

json::object validated(const json::value& body) {
  auto v = validate_deployment_profile_body(body);
  if (!v.valid()) throw refusal{invalid("deployment profile is invalid", v.diagnostics)};
  return to_json(*v.profile).as_object();
}

template <class Event>
Event profile_event(std::string uuid, const json::object& profile, int64_t revision) {
  auto parsed = parse_deployment_profile(json::value(profile));
  Event e;
  e.uuid = std::move(uuid);
  e.profile = profile;
  e.revision = revision;
  e.spec_sha256 = parsed.profile ? profile_spec_sha256(*parsed.profile) : std::string();
  return e;
}

struct profile_decider {
  const registry_state& s;
  const command& cmd;

  const profile_entry& existing(const std::string& uuid) const {
    for (const auto& p : s.profiles)
      if (p.uuid == uuid) return p;
    throw refusal{{error_kind::not_found, "not_found", "deployment profile not found", "id"}};
  }

  events_out operator()(const create_profile& c) const {
    auto p = validated(c.profile);
    if (!c.uuid && cmd.new_id.empty()) throw refusal{no_new_id()};
    auto uuid = c.uuid ? *c.uuid : cmd.new_id;
    check_registry(s, uuid, p);
    return {events::make(profile_event<events::profile_created>(uuid, p, 1))};
  }
  events_out operator()(const update_profile& u) const {
    const auto& current = existing(u.uuid);
    // PATCH changes only the fields sent (merge patch), then the whole profile is re-validated.
    auto p = validated(merge_patch(current.profile, u.patch));
    if (p == current.profile) return {};  // nothing changed
    check_registry(s, u.uuid, p);
    return {events::make(profile_event<events::profile_updated>(u.uuid, p, current.revision + 1))};
  }
  // Default switching: demote the scope's current default and promote this one atomically.
  events_out operator()(const make_default& m) const {
    const auto& current = existing(m.uuid);
    auto p = current.profile;
    if (is_default(p)) return {};
    events_out out;
    for (const auto& other : s.profiles)
      if (other.uuid != m.uuid && is_default(other.profile) &&
          scope_of(other.profile) == scope_of(p)) {
        auto demoted = other.profile;
        demoted["is_default"] = false;
        out.push_back(events::make(
            profile_event<events::profile_updated>(other.uuid, demoted, other.revision + 1)));
      }
    p["is_default"] = true;
    out.push_back(
        events::make(profile_event<events::profile_updated>(m.uuid, p, current.revision + 1)));
    return out;
  }
  events_out operator()(const delete_profile& d) const {
    const auto& current = existing(d.uuid);
    return {events::make(
        events::profile_deleted{d.uuid, std::string(current.profile.at("name").as_string())})};
  }
};

decision registry_decide(const registry_state& s, std::string_view, const command& cmd) {
  try {
    return {std::visit(profile_decider{s, cmd}, decode_profile(cmd)), std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void registry_evolve(registry_state& s, std::string_view type, const json::object& d) {
  auto find = [&](const std::string& uuid) {
    return std::find_if(s.profiles.begin(), s.profiles.end(),
                        [&](const profile_entry& p) { return p.uuid == uuid; });
  };
  if (type == et::profile_created || type == et::profile_updated) {
    auto e = events::decode_as<events::profile_revision>(d);
    if (auto it = find(e.uuid); it != s.profiles.end())
      *it = {e.uuid, std::move(e.profile), e.revision};
    else
      s.profiles.push_back({e.uuid, std::move(e.profile), e.revision});
  } else if (type == et::profile_deleted) {
    auto uuid = events::decode_as<events::profile_deleted>(d).uuid;
    if (auto it = find(uuid); it != s.profiles.end()) s.profiles.erase(it);
  }
}

}  // namespace

const aggregate_kind& project_aggregate() {
  static const aggregate_kind k = typed_aggregate<project_state, project_evolve, project_decide>(
      events::stream::project, kStateVersion);
  return k;
}

const aggregate_kind& profile_registry_aggregate() {
  static const aggregate_kind k = typed_aggregate<registry_state, registry_evolve, registry_decide>(
      events::stream::profiles, kStateVersion);
  return k;
}

}  // namespace beampipe::domain

// Project-config and deployment-profile aggregates (spec §1.3, §1.4, §10, §12.6).
#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/project_config.hpp"
#include "events/types.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;
using cmd::no_new_id;

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

json::object project_initial() { return json::object{{"exists", false}, {"versions", 0}}; }

void project_apply(json::object& s, std::string_view type, const json::object& d,
                   std::string_view) {
  if (type == et::project_config_uploaded) {
    s["exists"] = true;
    s["project_id"] = d.at("project_id");
    s["versions"] = d.at("version");
  } else if (type == et::project_wasm_uploaded) {
    if (!s["wasm"].is_object()) s["wasm"] = json::object{};
    s["wasm"].as_object()[d.at("wasm_sha256").as_string()] = true;
  } else if (type == et::project_config_activated) {
    s["active_uuid"] = d.at("uuid");
    s["active_version"] = d.at("version");
    s["active_sha256"] = d.at("spec_sha256");
    s["active_spec"] = d.at("spec");
  }
}

bool sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// A WASM module for the project's hooks (§5.9). Modules belong to the project, not to one
// config revision (⚠ Q2: attaching to the active config uuid silently detached them on the next
// upload); project_config_id records which revision was active at upload.
decision attach_wasm(const json::object& s, const command& cmd) {
  if (!s.contains("active_uuid"))
    return {{},
            command_error{error_kind::not_found, "no_active_config",
                          "the project has no active config", "id"}};
  auto sha = std::string(cmd.body.contains("wasm_sha256") && cmd.body.at("wasm_sha256").is_string()
                             ? std::string_view(cmd.body.at("wasm_sha256").as_string())
                             : std::string_view());
  if (!sha256_hex(sha))
    return {{},
            command_error{error_kind::invalid, "invalid_field",
                          "wasm_sha256 must be 64 lower-case hex digits", "wasm_sha256"}};
  if (auto w = s.find("wasm"); w != s.end() && w->value().as_object().contains(sha))
    return {};  // already stored: an upload is an upsert
  auto size = cmd.body.contains("size_bytes") ? cmd.body.at("size_bytes") : json::value(0);
  decision d;
  d.events.push_back({et::project_wasm_uploaded,
                      {{"project_id", s.at("project_id")},
                       {"project_config_id", s.at("active_uuid")},
                       {"wasm_sha256", sha},
                       {"size_bytes", size}}});
  return d;
}

decision project_decide(const json::object& s, std::string_view stream_id, const command& cmd) {
  if (cmd.name == "attach_wasm") return attach_wasm(s, cmd);
  if (cmd.name != "upload")
    return {{},
            command_error{error_kind::invalid, "unknown_command",
                          "unknown project command " + cmd.name, ""}};
  auto it = cmd.body.find("text");
  if (it == cmd.body.end() || !it->value().is_string())
    return {{},
            command_error{error_kind::invalid, "invalid_field", "config text is required", "body"}};
  auto report = validate_project_config_text(std::string_view(it->value().as_string()));
  if (!report.valid || !report.config)
    return {{}, invalid("project config is invalid", report.errors)};
  if (project_stream_id(report.project_id) != stream_id)
    return {{},
            command_error{error_kind::invalid, "wrong_stream",
                          "command routed to the wrong project stream", ""}};
  // An identical re-upload of the active revision records nothing.
  if (auto a = s.find("active_sha256");
      a != s.end() && a->value().as_string() == report.spec_sha256)
    return {};
  std::vector<Diagnostic> warnings = report.warnings;
  if (auto prev = s.find("active_spec"); prev != s.end()) {
    auto parsed = parse_project_config(prev->value());
    if (parsed.config)
      for (auto& w : compare_with_previous(*parsed.config, *report.config)) warnings.push_back(w);
  }
  auto version = (s.at("versions").is_int64() ? s.at("versions").as_int64() : 0) + 1;
  if (cmd.new_id.empty()) return {{}, no_new_id()};
  const auto& uuid = cmd.new_id;
  auto spec = to_json(*report.config);
  json::object uploaded{{"uuid", uuid},
                        {"project_id", report.project_id},
                        {"version", version},
                        {"spec", spec},
                        {"spec_sha256", report.spec_sha256},
                        {"warnings", diagnostics_json(warnings)}};
  json::object activated{
      {"uuid", uuid},
      {"project_id", report.project_id},
      {"version", version},
      {"spec_sha256", report.spec_sha256},
      {"spec", spec},
      {"previous_uuid", s.contains("active_uuid") ? s.at("active_uuid") : json::value(nullptr)}};
  decision d;
  d.events.push_back({et::project_config_uploaded, std::move(uploaded)});
  d.events.push_back({et::project_config_activated, std::move(activated)});
  return d;
}

// ---------------------------------------------------------------- deployment profiles

json::object registry_initial() { return json::object{{"profiles", json::object{}}}; }

void registry_apply(json::object& s, std::string_view type, const json::object& d,
                    std::string_view) {
  auto& profiles = s["profiles"].as_object();
  auto uuid = d.at("uuid").as_string();
  if (type == et::profile_created || type == et::profile_updated) {
    profiles[uuid] = json::object{{"profile", d.at("profile")}, {"revision", d.at("revision")}};
  } else if (type == et::profile_deleted) {
    profiles.erase(uuid);
  }
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
std::optional<command_error> check_registry(const json::object& profiles, std::string_view self,
                                            const json::object& p) {
  auto name = p.at("name").as_string();
  for (const auto& kv : profiles) {
    if (kv.key() == self) continue;
    const auto& other = kv.value().as_object().at("profile").as_object();
    if (other.at("name").as_string() == name)
      return command_error{error_kind::conflict, "duplicate_name",
                           "a deployment profile named '" + std::string(name) + "' already exists",
                           "name"};
    if (is_default(p) && is_default(other) && scope_of(other) == scope_of(p)) {
      auto scope = scope_of(p).empty() ? std::string("the global scope") : scope_of(p);
      return command_error{error_kind::conflict, "default_exists",
                           "deployment profile '" + std::string(other.at("name").as_string()) +
                               "' is already the default for " + scope,
                           "is_default"};
    }
  }
  return std::nullopt;
}

std::optional<command_error> validated(const json::value& body, json::object& out) {
  auto v = validate_deployment_profile_body(body);
  if (!v.valid()) return invalid("deployment profile is invalid", v.diagnostics);
  out = to_json(*v.profile).as_object();
  return std::nullopt;
}

json::object profile_event(std::string_view uuid, const json::object& profile, int64_t revision) {
  auto parsed = parse_deployment_profile(json::value(profile));
  return {{"uuid", uuid},
          {"profile", profile},
          {"revision", revision},
          {"spec_sha256", parsed.profile ? profile_spec_sha256(*parsed.profile) : std::string()}};
}

decision registry_decide(const json::object& s, std::string_view, const command& cmd) {
  const auto& profiles = s.at("profiles").as_object();
  decision d;
  auto target_uuid = [&]() -> std::string {
    auto it = cmd.body.find("uuid");
    return it != cmd.body.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                           : std::string();
  };
  if (cmd.name == "create") {
    auto it = cmd.body.find("profile");
    if (it == cmd.body.end())
      return {{},
              command_error{error_kind::invalid, "invalid_body", "profile is required", "body"}};
    json::object p;
    if (auto e = validated(it->value(), p)) return {{}, e};
    if (target_uuid().empty() && cmd.new_id.empty()) return {{}, no_new_id()};
    auto uuid = target_uuid().empty() ? cmd.new_id : target_uuid();
    if (auto e = check_registry(profiles, uuid, p)) return {{}, e};
    d.events.push_back({et::profile_created, profile_event(uuid, p, 1)});
    return d;
  }
  auto uuid = target_uuid();
  auto cur = profiles.find(uuid);
  if (cur == profiles.end())
    return {
        {},
        command_error{error_kind::not_found, "not_found", "deployment profile not found", "id"}};
  const auto& current = cur->value().as_object();
  auto revision = current.at("revision").as_int64();
  if (cmd.name == "update") {
    auto it = cmd.body.find("patch");
    if (it == cmd.body.end() || !it->value().is_object())
      return {{},
              command_error{error_kind::invalid, "invalid_body",
                            "request body must be a JSON object", "body"}};
    // PATCH changes only the fields sent (merge patch), then the whole profile is re-validated.
    auto merged = merge_patch(current.at("profile"), it->value());
    json::object p;
    if (auto e = validated(merged, p)) return {{}, e};
    if (p == current.at("profile").as_object()) return d;  // nothing changed
    if (auto e = check_registry(profiles, uuid, p)) return {{}, e};
    d.events.push_back({et::profile_updated, profile_event(uuid, p, revision + 1)});
    return d;
  }
  if (cmd.name == "make_default") {
    // Default switching: demote the scope's current default and promote this one atomically.
    auto p = current.at("profile").as_object();
    if (is_default(p)) return d;
    for (const auto& kv : profiles) {
      auto other = kv.value().as_object().at("profile").as_object();
      if (kv.key() != uuid && is_default(other) && scope_of(other) == scope_of(p)) {
        other["is_default"] = false;
        d.events.push_back(
            {et::profile_updated,
             profile_event(kv.key(), other, kv.value().as_object().at("revision").as_int64() + 1)});
      }
    }
    p["is_default"] = true;
    d.events.push_back({et::profile_updated, profile_event(uuid, p, revision + 1)});
    return d;
  }
  if (cmd.name == "delete") {
    d.events.push_back({et::profile_deleted,
                        {{"uuid", uuid}, {"name", current.at("profile").as_object().at("name")}}});
    return d;
  }
  return {{},
          command_error{error_kind::invalid, "unknown_command",
                        "unknown profile command " + cmd.name, ""}};
}

}  // namespace

const aggregate_kind& project_aggregate() {
  static const aggregate_kind k{events::stream::project, project_initial, project_apply,
                                project_decide};
  return k;
}

const aggregate_kind& profile_registry_aggregate() {
  static const aggregate_kind k{events::stream::profiles, registry_initial, registry_apply,
                                registry_decide};
  return k;
}

}  // namespace beampipe::domain

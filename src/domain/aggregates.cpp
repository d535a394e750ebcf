#include "domain/aggregates.hpp"

#include "domain/execution_fsm.hpp"

#include <algorithm>
#include "events/envelope.hpp"
#include "events/types.hpp"
#include "util/ids.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;

namespace {

// Namespace for name-based source ids (a fixed, random UUID: changing it re-keys every source).
constexpr const char* kSourceNamespace = "8f3c2b1e-5d4a-4e7b-9c6d-2a1b0e9f8d7c";

command_error bad(std::string field, std::string message, std::string code = "invalid_field") {
  return {400, std::move(code), std::move(message), std::move(field)};
}

bool has_control_chars(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

// Reads a required, trimmed, non-empty string of at most max_len bytes.
std::optional<command_error> required_text(const json::object& body, const char* field,
                                           size_t max_len, std::string& out) {
  auto it = body.find(field);
  if (it == body.end() || it->value().is_null()) return bad(field, std::string(field) + " is required");
  if (!it->value().is_string()) return bad(field, std::string(field) + " must be a string");
  out = trim(it->value().as_string());
  if (out.empty()) return bad(field, std::string(field) + " must not be empty");
  if (out.size() > max_len)
    return bad(field, std::string(field) + " must be at most " + std::to_string(max_len) + " bytes");
  if (has_control_chars(out)) return bad(field, std::string(field) + " must not contain control characters");
  return std::nullopt;
}

std::optional<command_error> optional_bool(const json::object& body, const char* field,
                                           std::optional<bool>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_bool()) return bad(field, std::string(field) + " must be a boolean");
  out = it->value().as_bool();
  return std::nullopt;
}

bool flag(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

std::string str(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

// ---------------------------------------------------------------- source

json::object source_initial() { return json::object{{"exists", false}}; }

void source_apply(json::object& s, std::string_view type, const json::object& d, std::string_view) {
  if (type == et::source_registered) {
    s["exists"] = true;
    s["deleted"] = false;
    s["uuid"] = d.at("uuid");
    s["project_module"] = d.at("project_module");
    s["source_identifier"] = d.at("source_identifier");
    s["enabled"] = d.at("enabled");
    s["stale_after_hours"] = nullptr;
  } else if (type == et::source_enabled_changed) {
    s["enabled"] = d.at("enabled");
  } else if (type == et::source_stale_after_changed) {
    s["stale_after_hours"] = d.at("stale_after_hours");
  } else if (type == et::source_deleted) {
    s["deleted"] = true;
    s["discovery_request"] = nullptr;
  } else if (type == et::discovery_requested) {
    s["discovery_request"] = d.at("request_id");
  } else if (type == et::discovery_completed) {
    s["discovery_request"] = nullptr;
    s["discovery_signature"] = d.at("signature");
    if (flag(d, "pending")) s["workflow_run_pending"] = true;
  } else if (type == et::discovery_failed) {
    s["discovery_request"] = nullptr;
  }
}

json::object source_identity(const json::object& s) {
  return {{"uuid", s.at("uuid")},
          {"project_module", s.at("project_module")},
          {"source_identifier", s.at("source_identifier")}};
}

decision source_decide(const json::object& s, std::string_view stream_id, const command& cmd) {
  decision d;
  bool live = flag(s, "exists") && !flag(s, "deleted");
  if (cmd.name == "register") {
    std::string module, ident;
    std::optional<bool> enabled;
    if (auto e = parse_source_key(cmd.body, module, ident)) return {{}, e};
    for (const auto& kv : cmd.body)
      if (kv.key() != "project_module" && kv.key() != "source_identifier" && kv.key() != "enabled")
        return {{}, bad(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'", "unknown_field")};
    if (auto e = optional_bool(cmd.body, "enabled", enabled)) return {{}, e};
    auto uuid = source_uuid(module, ident);
    if (source_stream_id(uuid) != stream_id)
      return {{}, command_error{400, "wrong_stream", "command routed to the wrong source stream", ""}};
    if (!live) {
      d.events.push_back({et::source_registered,
                          {{"uuid", uuid},
                           {"project_module", module},
                           {"source_identifier", ident},
                           {"enabled", enabled.value_or(false)}}});
    } else if (enabled.value_or(false) != flag(s, "enabled")) {
      // Registering an existing source is an upsert that only changes `enabled` (§1.1).
      auto data = source_identity(s);
      data["enabled"] = enabled.value_or(false);
      d.events.push_back({et::source_enabled_changed, std::move(data)});
    }
    return d;
  }
  if (!live) return {{}, command_error{404, "not_found", "source not found", ""}};
  if (cmd.name == "update") {
    std::optional<bool> enabled;
    if (auto e = optional_bool(cmd.body, "enabled", enabled)) return {{}, e};
    for (const auto& kv : cmd.body)
      if (kv.key() != "enabled" && kv.key() != "stale_after_hours")
        return {{}, bad(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'", "unknown_field")};
    if (auto it = cmd.body.find("stale_after_hours"); it != cmd.body.end()) {
      const auto& v = it->value();
      json::value hours = nullptr;
      if (v.is_int64() || v.is_uint64()) {
        auto h = v.is_int64() ? v.as_int64() : static_cast<int64_t>(v.as_uint64());
        if (h < 1 || h > 24 * 365 * 10)
          return {{}, bad("stale_after_hours", "stale_after_hours must be between 1 and 87600")};
        hours = h;
      } else if (!v.is_null()) {
        return {{}, bad("stale_after_hours", "stale_after_hours must be an integer or null")};
      }
      if (hours != s.at("stale_after_hours")) {
        auto data = source_identity(s);
        data["stale_after_hours"] = hours;
        d.events.push_back({et::source_stale_after_changed, std::move(data)});
      }
    }
    if (enabled && *enabled != flag(s, "enabled")) {
      auto data = source_identity(s);
      data["enabled"] = *enabled;
      d.events.push_back({et::source_enabled_changed, std::move(data)});
    }
    return d;
  }
  if (cmd.name == "delete") {
    d.events.push_back({et::source_deleted, source_identity(s)});
    return d;
  }
  auto pending = s.find("discovery_request");
  bool has_pending = pending != s.end() && pending->value().is_string();
  if (cmd.name == "request_discovery") {
    if (!flag(s, "enabled"))
      return {{}, command_error{409, "source_disabled", "source is disabled; enable it before discovery", "enabled"}};
    if (has_pending) return d;  // one outstanding request at a time: asking again changes nothing
    auto data = source_identity(s);
    data["request_id"] = cmd.body.contains("request_id") ? cmd.body.at("request_id") : json::value(util::uuid_v7());
    data["reason"] = cmd.body.contains("reason") ? cmd.body.at("reason") : json::value("manual");
    d.events.push_back({et::discovery_requested, std::move(data)});
    return d;
  }
  if (cmd.name == "complete_discovery" || cmd.name == "fail_discovery") {
    // Only the outstanding request may be answered, and only once: a second worker (or a
    // retry after a crash) that finishes the same request is refused, so each request gets
    // exactly one outcome.
    auto req = cmd.body.find("request_id");
    if (!has_pending || req == cmd.body.end() || req->value() != pending->value())
      return {{}, command_error{409, "stale_discovery", "no outstanding discovery request with that id", "request_id"}};
    auto data = source_identity(s);
    data["request_id"] = req->value();
    if (cmd.name == "fail_discovery") {
      data["error"] = cmd.body.contains("error") ? cmd.body.at("error") : json::value("discovery failed");
      data["retryable"] = flag(cmd.body, "retryable");
      d.events.push_back({et::discovery_failed, std::move(data)});
      return d;
    }
    auto outcome = str(cmd.body, "outcome");
    if (outcome != "changed" && outcome != "unchanged" && outcome != "no_datasets")
      return {{}, bad("outcome", "outcome must be changed, unchanged or no_datasets")};
    for (const char* k : {"signature", "datasets", "truncated", "warnings"})
      data[k] = cmd.body.contains(k) ? cmd.body.at(k) : json::value(nullptr);
    data["outcome"] = outcome;
    if (outcome != "unchanged") {
      data["rows"] = cmd.body.contains("rows") ? cmd.body.at("rows") : json::value(json::object{});
      data["delete_sbids"] = cmd.body.contains("delete_sbids") ? cmd.body.at("delete_sbids") : json::value(json::array{});
      data["flags"] = cmd.body.contains("flags") ? cmd.body.at("flags") : json::value(json::object{});
    }
    // A changed signature whose source is ready needs an execution; unchanged never does.
    data["pending"] = outcome == "changed" && flag(cmd.body, "ready");
    d.events.push_back({et::discovery_completed, std::move(data)});
    return d;
  }
  return {{}, command_error{400, "unknown_command", "unknown source command " + cmd.name, ""}};
}

// ---------------------------------------------------------------- execution

json::object execution_initial() { return json::object{{"exists", false}}; }

ledger_fields ledger_of(const json::object& s) {
  ledger_fields f;
  f.status = parse_execution_status(str(s, "status")).value_or(execution_status::pending);
  if (auto it = s.find("retry_count"); it != s.end() && it->value().is_int64())
    f.retry_count = static_cast<int>(it->value().as_int64());
  if (auto it = s.find("last_error"); it != s.end() && it->value().is_string())
    f.last_error = std::string(it->value().as_string());
  if (auto it = s.find("execution_phase"); it != s.end() && it->value().is_string())
    f.execution_phase = std::string(it->value().as_string());
  f.has_started = flag(s, "has_started");
  f.has_completed = flag(s, "has_completed");
  return f;
}

void execution_apply(json::object& s, std::string_view type, const json::object& d, std::string_view) {
  if (type == et::execution_created) {
    s["exists"] = true;
    s["uuid"] = d.at("uuid");
    s["project_module"] = d.at("project_module");
    s["status"] = "pending";
    s["retry_count"] = 0;
    s["last_error"] = nullptr;
    s["execution_phase"] = nullptr;
    s["has_started"] = false;
    s["has_completed"] = false;
  } else if (type == et::execution_status_changed) {
    s["status"] = d.at("to");
    s["retry_count"] = d.at("retry_count");
    s["last_error"] = d.at("last_error");
    s["execution_phase"] = d.at("execution_phase");
    if (flag(d, "set_started")) s["has_started"] = true;
    if (flag(d, "set_completed")) s["has_completed"] = true;
  } else if (type == et::execution_cancelled) {
    s["status"] = "cancelled";
    s["execution_phase"] = nullptr;
    s["has_completed"] = true;
  }
}

std::optional<command_error> validate_sources(const json::object& body, json::array& out) {
  auto it = body.find("sources");
  if (it == body.end() || !it->value().is_array())
    return bad("sources", "sources must be a non-empty array");
  const auto& arr = it->value().as_array();
  if (arr.empty()) return bad("sources", "sources must be a non-empty array");
  std::vector<std::string> seen;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string path = "sources[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) return bad(path, path + " must be an object");
    const auto& src = arr[i].as_object();
    std::string ident;
    if (auto e = required_text(src, "source_identifier", 100, ident)) {
      e->field = path + "." + e->field;
      return e;
    }
    for (auto& s : seen)
      if (s == ident) return bad(path + ".source_identifier", "duplicate source '" + ident + "'");
    seen.push_back(ident);
    json::object sel{{"source_identifier", ident}};
    if (auto sb = src.find("sbids"); sb != src.end() && !sb->value().is_null()) {
      if (!sb->value().is_array()) return bad(path + ".sbids", path + ".sbids must be an array of strings");
      json::array sbids;
      for (const auto& v : sb->value().as_array()) {
        if (!v.is_string() || trim(v.as_string()).empty())
          return bad(path + ".sbids", path + ".sbids must contain non-empty strings");
        auto t = trim(v.as_string());
        for (const auto& prev : sbids)
          if (prev.as_string() == t) return bad(path + ".sbids", "duplicate sbid '" + t + "'");
        sbids.push_back(json::value(t));
      }
      sel["sbids"] = std::move(sbids);
    }
    for (const auto& kv : src)
      if (kv.key() != "source_identifier" && kv.key() != "sbids")
        return bad(path + "." + std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'",
                   "unknown_field");
    out.push_back(std::move(sel));
  }
  return std::nullopt;
}

json::object execution_identity(const json::object& s) {
  return {{"uuid", s.at("uuid")}, {"project_module", s.at("project_module")}};
}

decision execution_decide(const json::object& s, std::string_view stream_id, const command& cmd) {
  decision d;
  bool exists = flag(s, "exists");
  if (cmd.name == "create") {
    if (exists) return {{}, command_error{409, "already_exists", "execution already exists", ""}};
    std::string module, archive;
    if (auto e = required_text(cmd.body, "project_module", 50, module)) return {{}, e};
    if (auto e = required_text(cmd.body, "archive_name", 50, archive)) return {{}, e};
    json::array sources;
    if (auto e = validate_sources(cmd.body, sources)) return {{}, e};
    json::object data{{"uuid", events::stream_key_of_view(stream_id)},
                      {"project_module", module},
                      {"archive_name", archive},
                      {"sources", std::move(sources)},
                      {"created_by", cmd.actor}};
    for (const char* opt : {"deployment_profile_id", "project_config_id"}) {
      auto it = cmd.body.find(opt);
      if (it == cmd.body.end() || it->value().is_null()) {
        data[opt] = nullptr;
      } else if (!it->value().is_string() || !util::is_uuid(it->value().as_string())) {
        return {{}, bad(opt, std::string(opt) + " must be a UUID")};
      } else {
        data[opt] = it->value();
      }
    }
    for (const auto& kv : cmd.body) {
      static const std::vector<std::string_view> known{
          "project_module", "archive_name", "sources", "deployment_profile_id",
          "deployment_profile_name", "project_config_id"};
      if (std::find(known.begin(), known.end(), kv.key()) == known.end())
        return {{}, bad(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'", "unknown_field")};
    }
    d.events.push_back({et::execution_created, std::move(data)});
    return d;
  }
  if (!exists) return {{}, command_error{404, "not_found", "execution not found", ""}};
  auto ledger = ledger_of(s);
  if (cmd.name == "cancel") {
    if (is_terminal(ledger.status))
      return {{}, command_error{409, "invalid_transition",
                                "execution is " + std::string(to_string(ledger.status)) +
                                    "; a terminal execution cannot be cancelled",
                                "status"}};
    auto data = execution_identity(s);
    data["from"] = to_string(ledger.status);
    data["reason"] = cmd.body.contains("reason") && cmd.body.at("reason").is_string()
                         ? cmd.body.at("reason")
                         : json::value(nullptr);
    data["actor"] = cmd.actor;
    d.events.push_back({et::execution_cancelled, std::move(data)});
    return d;
  }
  if (cmd.name == "transition") {
    auto to_text = str(cmd.body, "status");
    auto to = parse_execution_status(to_text);
    if (!to) return {{}, bad("status", "unknown status '" + to_text + "'")};
    if (is_locked_terminal(ledger.status) && *to != ledger.status)
      return {{}, command_error{409, "invalid_transition",
                                "execution is " + std::string(to_string(ledger.status)) +
                                    "; its status is locked",
                                "status"}};
    if (!allows(ledger.status, *to))
      return {{}, command_error{409, "invalid_transition",
                                "invalid status transition from " + std::string(to_string(ledger.status)) +
                                    " to " + std::string(to_string(*to)),
                                "status"}};
    status_patch p{*to, std::nullopt, flag(cmd.body, "clear_error")};
    if (auto it = cmd.body.find("error"); it != cmd.body.end() && it->value().is_string())
      p.error = std::string(it->value().as_string());
    auto out = apply_status_patch(ledger, p);
    if (!out.changed && out.after.last_error == ledger.last_error) return d;  // no-op
    auto data = execution_identity(s);
    data["from"] = to_string(ledger.status);
    data["to"] = to_string(out.after.status);
    data["retry_count"] = out.after.retry_count;
    data["last_error"] = out.after.last_error ? json::value(*out.after.last_error) : json::value(nullptr);
    data["execution_phase"] =
        out.after.execution_phase ? json::value(*out.after.execution_phase) : json::value(nullptr);
    data["set_started"] = out.set_started;
    data["set_completed"] = out.set_completed;
    d.events.push_back({et::execution_status_changed, std::move(data)});
    return d;
  }
  return {{}, command_error{400, "unknown_command", "unknown execution command " + cmd.name, ""}};
}

}  // namespace

std::optional<command_error> parse_source_key(const json::object& body, std::string& project_module,
                                              std::string& source_identifier) {
  if (auto e = required_text(body, "project_module", 50, project_module)) return e;
  return required_text(body, "source_identifier", 100, source_identifier);
}

const aggregate_kind& source_aggregate() {
  static const aggregate_kind k{events::stream::source, source_initial, source_apply, source_decide};
  return k;
}

const aggregate_kind& execution_aggregate() {
  static const aggregate_kind k{events::stream::execution, execution_initial, execution_apply,
                                execution_decide};
  return k;
}

const aggregate_kind* aggregate_for_stream_type(std::string_view t) {
  if (t == events::stream::source) return &source_aggregate();
  if (t == events::stream::execution) return &execution_aggregate();
  if (t == events::stream::project) return &project_aggregate();
  if (t == events::stream::profiles) return &profile_registry_aggregate();
  return nullptr;
}

std::string source_uuid(std::string_view project_module, std::string_view source_identifier) {
  std::string name(project_module);
  name.push_back('\x1f');  // unit separator: cannot occur in either part (control chars refused)
  name.append(source_identifier);
  return util::uuid_v5(kSourceNamespace, name);
}

std::string source_stream_id(std::string_view uuid) { return "source-" + std::string(uuid); }
std::string execution_stream_id(std::string_view uuid) { return "execution-" + std::string(uuid); }
std::string project_stream_id(std::string_view project_id) { return "project-" + std::string(project_id); }

}  // namespace beampipe::domain

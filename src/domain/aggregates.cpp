#include "domain/aggregates.hpp"

#include <algorithm>

#include "domain/command_support.hpp"
#include "domain/redaction.hpp"
#include "events/envelope.hpp"
#include "events/types.hpp"
#include "util/ids.hpp"
#include "util/time.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;

using namespace cmd;

namespace {

// Namespace for name-based source ids (a fixed, random UUID: changing it re-keys every source).
constexpr const char* kSourceNamespace = "8f3c2b1e-5d4a-4e7b-9c6d-2a1b0e9f8d7c";

// ---------------------------------------------------------------- source

// The archive's error as the event records it: redacted and bounded (issue #16).
json::value discovery_error(const json::object& body) {
  auto it = body.find("error");
  if (it == body.end() || !it->value().is_string()) return json::value("discovery failed");
  return json::value(recorded_text(it->value().as_string()));
}

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
    s["discovery_attempt"] = 1;
    s["discovery_round_start"] = 1;
    s["closed_request"] = nullptr;
  } else if (type == et::discovery_attempt_failed) {
    s["discovery_attempt"] = d.at("attempt").to_number<int64_t>() + 1;
  } else if (type == et::discovery_requeued) {
    s["discovery_request"] = d.at("request_id");
    s["discovery_attempt"] = d.at("attempt");
    s["discovery_round_start"] = d.at("attempt");
    s["closed_request"] = nullptr;
  } else if (type == et::discovery_completed) {
    s["discovery_request"] = nullptr;
    s["closed_request"] = nullptr;
    s["discovery_signature"] = d.at("signature");
    if (flag(d, "pending")) s["workflow_run_pending"] = true;
  } else if (type == et::discovery_failed) {
    // A failed or dead-lettered request may be requeued by an operator.
    s["closed_request"] = s["discovery_request"];
    s["closed_attempt"] = s.contains("discovery_attempt") ? s["discovery_attempt"] : json::value(1);
    s["discovery_request"] = nullptr;
  } else if (type == et::source_pending_cleared) {
    s["workflow_run_pending"] = false;
  } else if (type == et::source_execution_finished) {
    s["workflow_run_pending"] = d.at("pending");
    s["last_finished_execution"] = d.at("execution_id");
    if (auto it = d.find("failures_in_row"); it != d.end())
      s["execution_failures_in_row"] = it->value();
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
        return {{},
                bad(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'",
                    "unknown_field")};
    if (auto e = optional_bool(cmd.body, "enabled", enabled)) return {{}, e};
    auto uuid = source_uuid(module, ident);
    if (source_stream_id(uuid) != stream_id)
      return {{},
              command_error{400, "wrong_stream", "command routed to the wrong source stream", ""}};
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
        return {{},
                bad(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'",
                    "unknown_field")};
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
      return {{},
              command_error{409, "source_disabled",
                            "source is disabled; enable it before discovery", "enabled"}};
    if (has_pending) return d;  // one outstanding request at a time: asking again changes nothing
    auto data = source_identity(s);
    data["request_id"] =
        cmd.body.contains("request_id") ? cmd.body.at("request_id") : json::value(util::uuid_v7());
    data["reason"] = cmd.body.contains("reason") ? cmd.body.at("reason") : json::value("manual");
    // The scheduler admits sources in batches; the batch token counts in-flight batches.
    if (auto t = cmd.body.find("claim_token"); t != cmd.body.end() && t->value().is_string())
      data["claim_token"] = t->value();
    d.events.push_back({et::discovery_requested, std::move(data)});
    return d;
  }
  if (cmd.name == "requeue_discovery") {
    // §2.4 [HEAD]: an operator puts a failed or dead-lettered request back in the queue, as
    // the next attempt of the same request.
    auto req = cmd.body.find("request_id");
    auto closed = s.find("closed_request");
    if (req == cmd.body.end() || closed == s.end() || !closed->value().is_string() ||
        req->value() != closed->value())
      return {{},
              command_error{409, "not_requeueable",
                            "only the source's last failed or dead-lettered discovery request can "
                            "be requeued",
                            "request_id"}};
    if (has_pending)
      return {{},
              command_error{409, "discovery_pending",
                            "the source has a newer discovery request outstanding", "request_id"}};
    if (!flag(s, "enabled"))
      return {{},
              command_error{409, "source_disabled",
                            "source is disabled; enable it before discovery", "enabled"}};
    auto data = source_identity(s);
    data["request_id"] = req->value();
    data["attempt"] = int_or(s, "closed_attempt", 1) + 1;
    data["reason"] = cmd.body.contains("reason") ? cmd.body.at("reason") : json::value("requeue");
    d.events.push_back({et::discovery_requeued, std::move(data)});
    return d;
  }
  if (cmd.name == "complete_discovery" || cmd.name == "fail_discovery" ||
      cmd.name == "fail_discovery_attempt") {
    // Only the outstanding request may be answered, only for its current attempt, and only
    // once: a second worker, a worker whose lease was taken over, or a retry after a crash is
    // refused, so each request gets exactly one outcome.
    auto req = cmd.body.find("request_id");
    if (!has_pending || req == cmd.body.end() || req->value() != pending->value())
      return {{},
              command_error{409, "stale_discovery", "no outstanding discovery request with that id",
                            "request_id"}};
    auto attempt = int_or(s, "discovery_attempt", 1);
    if (auto a = cmd.body.find("attempt");
        (a != cmd.body.end() && (!a->value().is_int64() || a->value().as_int64() != attempt)) ||
        (a == cmd.body.end() && cmd.name == "fail_discovery_attempt"))
      return {
          {},
          command_error{409, "stale_discovery",
                        "attempt " + std::to_string(attempt) + " is the current one", "attempt"}};
    auto data = source_identity(s);
    data["request_id"] = req->value();
    data["attempt"] = attempt;
    if (cmd.name == "fail_discovery_attempt") {
      // Retryable: the next attempt runs at retry_at, unless this round has used all its
      // attempts, which sends the request to the dead letter (closed, requeueable).
      auto max_attempts = int_or(cmd.body, "max_attempts", 3);
      data["error"] = discovery_error(cmd.body);
      data["failure_class"] =
          cmd.body.contains("failure_class") ? cmd.body.at("failure_class") : json::value(nullptr);
      data["lease_lost"] = flag(cmd.body, "lease_lost");
      if (attempt - int_or(s, "discovery_round_start", 1) + 1 >= max_attempts) {
        data["retryable"] = true;
        data["dead_letter"] = true;
        d.events.push_back({et::discovery_failed, std::move(data)});
        return d;
      }
      data["retry_at"] =
          cmd.body.contains("retry_at") ? cmd.body.at("retry_at") : json::value(nullptr);
      d.events.push_back({et::discovery_attempt_failed, std::move(data)});
      return d;
    }
    if (cmd.name == "fail_discovery") {
      data["error"] = discovery_error(cmd.body);
      data["retryable"] = flag(cmd.body, "retryable");
      data["dead_letter"] = false;
      data["failure_class"] =
          cmd.body.contains("failure_class") ? cmd.body.at("failure_class") : json::value(nullptr);
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
      data["delete_sbids"] = cmd.body.contains("delete_sbids") ? cmd.body.at("delete_sbids")
                                                               : json::value(json::array{});
      data["flags"] =
          cmd.body.contains("flags") ? cmd.body.at("flags") : json::value(json::object{});
    }
    // A changed signature whose source is ready needs an execution; unchanged never does.
    data["pending"] = outcome == "changed" && flag(cmd.body, "ready");
    d.events.push_back({et::discovery_completed, std::move(data)});
    return d;
  }
  if (cmd.name == "clear_pending") {
    // §4.3 step 10: automation admitted the source (or found it already executed).
    if (!flag(s, "exists")) return {{}, command_error{404, "not_found", "source not found", ""}};
    if (!flag(s, "workflow_run_pending")) return d;
    auto data = source_identity(s);
    data["reason"] = cmd.body.contains("reason") ? cmd.body.at("reason") : json::value("admitted");
    data["execution_id"] =
        cmd.body.contains("execution_id") ? cmd.body.at("execution_id") : json::value(nullptr);
    d.events.push_back({et::source_pending_cleared, std::move(data)});
    return d;
  }
  if (cmd.name == "execution_finished") {
    // §3.6 finalisation: completed (or a dry run) consumes the signature it ran on, a failure
    // re-marks the source pending, a cancel clears it. Idempotent per execution.
    if (!flag(s, "exists")) return {{}, command_error{404, "not_found", "source not found", ""}};
    auto exec = str(cmd.body, "execution_id");
    if (exec.empty()) return {{}, bad("execution_id", "execution_id is required")};
    if (str(s, "last_finished_execution") == exec) return d;
    auto outcome = str(cmd.body, "outcome");
    auto ran_on = str(cmd.body, "signature");
    auto data = source_identity(s);
    data["execution_id"] = exec;
    data["outcome"] = outcome;
    bool consumed = (outcome == "completed" || outcome == "not_submitted") && !ran_on.empty() &&
                    ran_on == str(s, "discovery_signature");
    // [HEAD] §12.6: a newer discovery than the one executed stays pending.
    data["last_executed_discovery_signature"] =
        consumed ? json::value(ran_on) : json::value(nullptr);
    data["pending"] = outcome == "failed" ||
                      ((outcome == "completed" || outcome == "not_submitted") && !consumed);
    // Issue #17: each failure in a row holds the source back from automated admission for
    // longer (5 min, doubling, at most 6 h) counted from when the worker saw the run end;
    // anything else clears it. Operators can still start a run at once.
    int64_t failures = 0;
    if (outcome == "failed") {
      const auto& prior = at_or_null(s, "execution_failures_in_row");
      failures = (prior.is_int64() ? prior.as_int64() : 0) + 1;
    }
    data["failures_in_row"] = failures;
    data["automation_retry_at"] = nullptr;
    if (auto at = util::parse_rfc3339(str(cmd.body, "finished_at")); at && failures > 0) {
      auto hold = std::min<int64_t>(int64_t{300} << std::min<int64_t>(failures - 1, 20), 21600);
      data["automation_retry_at"] = util::to_rfc3339(*at + std::chrono::seconds(hold));
    }
    d.events.push_back({et::source_execution_finished, std::move(data)});
    return d;
  }
  return {{}, command_error{400, "unknown_command", "unknown source command " + cmd.name, ""}};
}

}  // namespace

std::optional<command_error> parse_source_key(const json::object& body, std::string& project_module,
                                              std::string& source_identifier) {
  if (auto e = required_text(body, "project_module", 50, project_module)) return e;
  return required_text(body, "source_identifier", 100, source_identifier);
}

const aggregate_kind& source_aggregate() {
  static const aggregate_kind k{events::stream::source, source_initial, source_apply,
                                source_decide};
  return k;
}

const aggregate_kind* aggregate_for_stream_type(std::string_view t) {
  if (t == events::stream::source) return &source_aggregate();
  if (t == events::stream::execution) return &execution_aggregate();
  if (t == events::stream::project) return &project_aggregate();
  if (t == events::stream::profiles) return &profile_registry_aggregate();
  if (t == events::stream::scheduler) return &scheduler_aggregate();
  if (t == events::stream::user) return &user_aggregate();
  if (t == events::stream::session) return &auth_session_aggregate();
  if (t == events::stream::channels) return &channel_registry_aggregate();
  if (t == events::stream::alert_rule) return &alert_rule_aggregate();
  if (t == events::stream::delivery) return &alert_delivery_aggregate();
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
std::string project_stream_id(std::string_view project_id) {
  return "project-" + std::string(project_id);
}

}  // namespace beampipe::domain

// Alerting aggregates (spec §1.8, §3.9): the notification-channel registry, one alert rule
// per stream, one delivery per stream.
//
// A rule decides whether it fires: its stream holds last_fired_at (cooldown) and the triggers
// it has recently handled, so two evaluators that see the same failed execution record one
// firing between them. A delivery's stream numbers its attempts, so an attempt is recorded
// once, and nothing is recorded after the delivery was sent or given up.
#include <algorithm>

#include "domain/aggregates.hpp"
#include "domain/alerting.hpp"
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

constexpr const char* kFiringNamespace = "6d0f3c1e-8b2a-4f57-9e4d-1a7c2b9e5f30";
constexpr const char* kDeliveryNamespace = "e2b7a9c4-3f1d-4b86-8a5e-7c0d9f2e1b64";
// Triggers a rule remembers having handled. The evaluator reads read models that may lag by a
// few events, so only recent triggers can be offered twice.
constexpr size_t kRecentTriggers = 256;

command_error not_found(std::string what) {
  return {error_kind::not_found, "not_found", std::move(what), ""};
}

std::optional<command_error> read_uuid(const json::object& b, const char* field, std::string& out) {
  out = str(b, field);
  if (!util::is_uuid(out)) return bad(field, std::string(field) + " must be a UUID");
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::nullopt;
}

// Refuses keys a command does not know, so a misspelt field is never silently ignored.
std::optional<command_error> only_keys(const json::object& b,
                                       std::initializer_list<std::string_view> known) {
  for (const auto& kv : b)
    if (std::find(known.begin(), known.end(), kv.key()) == known.end())
      return bad(std::string(kv.key()), "unknown field " + std::string(kv.key()));
  return std::nullopt;
}

// ---------------------------------------------------------------- notification channels

json::object channels_initial() { return json::object{{"channels", json::object{}}}; }

void channels_apply(json::object& s, std::string_view type, const json::object& d,
                    std::string_view) {
  auto& all = s["channels"].as_object();
  auto id = d.at("uuid").as_string();
  if (type == et::channel_deleted) {
    all.erase(id);
    return;
  }
  all[id] = json::object{{"name", d.at("name")},
                         {"kind", d.at("kind")},
                         {"config", d.at("config")},
                         {"enabled", d.at("enabled")}};
}

bool name_taken(const json::object& all, const std::string& name, std::string_view except) {
  for (const auto& kv : all)
    if (kv.key() != except && kv.value().as_object().at("name").as_string() == name) return true;
  return false;
}

decision channels_decide(const json::object& s, std::string_view, const command& c) {
  const auto& all = s.at("channels").as_object();
  std::string id;
  if (auto e = read_uuid(c.body, "uuid", id)) return {{}, e};
  const auto* cur = all.if_contains(id);
  if (c.name == "create") {
    if (cur) return {{}, conflict("channel_exists", "channel " + id + " exists", "uuid")};
    std::string name;
    if (auto e = required_text(c.body, "name", 100, name)) return {{}, e};
    if (name_taken(all, name, ""))
      return {{}, conflict("channel_name_taken", "a channel named " + name + " exists", "name")};
    auto kind = str(c.body, "kind");
    const auto& config = at_or_null(c.body, "config");
    if (kind.empty() || !config.is_object())
      return {{}, bad("config", "kind and a config object are required")};
    std::optional<bool> enabled;
    if (auto e = optional_bool(c.body, "enabled", enabled)) return {{}, e};
    return {{{et::channel_created,
              {{"uuid", id},
               {"name", name},
               {"kind", kind},
               {"config", config},
               {"enabled", enabled.value_or(true)}}}},
            {}};
  }
  if (!cur) return {{}, not_found("notification channel " + id + " not found")};
  const auto& row = cur->as_object();
  if (c.name == "delete")
    return {
        {{et::channel_deleted, {{"uuid", id}, {"name", row.at("name")}, {"kind", row.at("kind")}}}},
        {}};
  if (c.name != "update")
    return {{},
            command_error{error_kind::invalid, "unknown_command",
                          "unknown channel command " + c.name, ""}};
  json::object after{{"uuid", id},
                     {"name", row.at("name")},
                     {"kind", row.at("kind")},
                     {"config", row.at("config")},
                     {"enabled", row.at("enabled")}};
  json::array changed;
  if (c.body.contains("name") && !c.body.at("name").is_null()) {
    std::string name;
    if (auto e = required_text(c.body, "name", 100, name)) return {{}, e};
    if (name_taken(all, name, id))
      return {{}, conflict("channel_name_taken", "a channel named " + name + " exists", "name")};
    if (name != row.at("name").as_string()) changed.push_back("name");
    after["name"] = name;
  }
  if (const auto& config = at_or_null(c.body, "config"); !config.is_null()) {
    if (!config.is_object()) return {{}, bad("config", "config must be an object")};
    if (config != row.at("config")) changed.push_back("config");
    after["config"] = config;
  }
  std::optional<bool> enabled;
  if (auto e = optional_bool(c.body, "enabled", enabled)) return {{}, e};
  if (enabled) {
    if (*enabled != row.at("enabled").as_bool()) changed.push_back("enabled");
    after["enabled"] = *enabled;
  }
  // A secret-only change (a new header value) shows no difference here, yet it must be
  // recorded: the handler says so with "secret_changed".
  if (flag(c.body, "secret_changed")) changed.push_back("secret");
  if (changed.empty()) return {};
  after["changed"] = std::move(changed);
  return {{{et::channel_updated, std::move(after)}}, {}};
}

// ---------------------------------------------------------------- alert rules

json::object rule_initial() { return json::object{{"exists", false}}; }

void remember_trigger(json::object& s, const json::value& trigger) {
  if (!trigger.is_string()) return;
  auto& recent = s["recent_triggers"];
  if (!recent.is_array()) recent = json::array{};
  auto& a = recent.as_array();
  a.push_back(trigger);
  if (a.size() > kRecentTriggers) a.erase(a.begin());
}

void rule_apply(json::object& s, std::string_view type, const json::object& d, std::string_view) {
  if (type == et::alert_rule_created || type == et::alert_rule_updated) {
    for (const auto& kv : d)
      if (kv.key() != "changed") s[kv.key()] = kv.value();
    s["exists"] = true;
  } else if (type == et::alert_rule_deleted) {
    s["exists"] = false;
    s["deleted"] = true;
  } else if (type == et::alert_fired) {
    s["last_fired_at"] = d.at("payload").as_object().at("fired_at");
    remember_trigger(s, at_or_null(d, "trigger_id"));
  } else if (type == et::alert_suppressed) {
    remember_trigger(s, at_or_null(d, "trigger_id"));
  }
}

std::optional<command_error> read_channel_ids(const json::object& b, json::array& out) {
  const auto& v = at_or_null(b, "channel_ids");
  if (!v.is_array()) return bad("channel_ids", "channel_ids must be an array of UUIDs");
  if (v.as_array().size() > 20)
    return bad("channel_ids", "channel_ids may name at most 20 channels");
  for (const auto& x : v.as_array()) {
    std::string id = x.is_string() ? std::string(x.as_string()) : std::string();
    if (!util::is_uuid(id)) return bad("channel_ids", "channel_ids must be an array of UUIDs");
    std::transform(id.begin(), id.end(), id.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (std::find(out.begin(), out.end(), json::value(id)) != out.end())
      return bad("channel_ids", "channel_ids names channel " + id + " twice");
    out.push_back(json::value(id));
  }
  return std::nullopt;
}

std::optional<command_error> read_cooldown(const json::object& b, int64_t& out) {
  const auto& v = at_or_null(b, "cooldown_minutes");
  if (v.is_null()) return std::nullopt;
  if (!v.is_int64() && !v.is_uint64())
    return bad("cooldown_minutes", "cooldown_minutes must be an integer");
  out = v.is_int64() ? v.as_int64()
                     : static_cast<int64_t>(std::min<uint64_t>(v.as_uint64(), 1u << 30));
  if (out < 0 || out > 7 * 24 * 60)
    return bad("cooldown_minutes", "cooldown_minutes must be between 0 and 10080 (a week)");
  return std::nullopt;
}

std::optional<command_error> read_severity(const json::object& b, std::string& out) {
  const auto& v = at_or_null(b, "severity");
  if (v.is_null()) return std::nullopt;
  if (!v.is_string() || !alerting::valid_severity(v.as_string()))
    return bad("severity", "severity must be info, warning, error or critical");
  out = v.as_string();
  return std::nullopt;
}

decision rule_create(const json::object& s, std::string_view stream_id, const command& c) {
  if (auto e =
          only_keys(c.body, {"uuid", "name", "project_module", "enabled", "severity",
                             "trigger_kind", "trigger_config", "channel_ids", "cooldown_minutes"}))
    return {{}, e};
  std::string id;
  if (auto e = read_uuid(c.body, "uuid", id)) return {{}, e};
  if (alert_rule_stream_id(id) != stream_id)
    return {{},
            command_error{error_kind::invalid, "wrong_stream",
                          "command routed to the wrong rule stream", ""}};
  if (flag(s, "exists") || flag(s, "deleted"))
    return {{}, conflict("rule_exists", "alert rule " + id + " exists", "uuid")};
  std::string name;
  if (auto e = required_text(c.body, "name", 100, name)) return {{}, e};
  json::value module = nullptr;
  if (const auto& m = at_or_null(c.body, "project_module"); !m.is_null()) {
    std::string pm;
    if (auto e = required_text(c.body, "project_module", 50, pm)) return {{}, e};
    module = pm;
  }
  std::string severity = "warning";
  if (auto e = read_severity(c.body, severity)) return {{}, e};
  std::string kind;
  if (auto e = required_text(c.body, "trigger_kind", 40, kind)) return {{}, e};
  const auto& tc = at_or_null(c.body, "trigger_config");
  if (!tc.is_null() && !tc.is_object())
    return {{}, bad("trigger_config", "trigger_config must be an object")};
  json::object config = tc.is_object() ? tc.as_object() : json::object{};
  if (auto e = alerting::check_trigger(kind, config)) return {{}, e};
  json::array channels;
  if (auto e = read_channel_ids(c.body, channels)) return {{}, e};
  int64_t cooldown = 60;
  if (auto e = read_cooldown(c.body, cooldown)) return {{}, e};
  std::optional<bool> enabled;
  if (auto e = optional_bool(c.body, "enabled", enabled)) return {{}, e};
  return {{{et::alert_rule_created,
            {{"uuid", id},
             {"name", name},
             {"project_module", module},
             {"enabled", enabled.value_or(true)},
             {"severity", severity},
             {"trigger_kind", kind},
             {"trigger_config", std::move(config)},
             {"channel_ids", std::move(channels)},
             {"cooldown_minutes", cooldown}}}},
          {}};
}

decision rule_update(const json::object& s, const command& c) {
  if (auto e = only_keys(c.body, {"name", "enabled", "severity", "trigger_config", "channel_ids",
                                  "cooldown_minutes"}))
    return {{}, e};
  json::object after;
  for (const char* k : {"uuid", "name", "project_module", "enabled", "severity", "trigger_kind",
                        "trigger_config", "channel_ids", "cooldown_minutes"})
    after[k] = at_or_null(s, k);
  json::array changed;
  auto set = [&](const char* k, json::value v) {
    if (v != after[k]) changed.push_back(json::value(k));
    after[k] = std::move(v);
  };
  if (!at_or_null(c.body, "name").is_null()) {
    std::string name;
    if (auto e = required_text(c.body, "name", 100, name)) return {{}, e};
    set("name", json::value(name));
  }
  std::optional<bool> enabled;
  if (auto e = optional_bool(c.body, "enabled", enabled)) return {{}, e};
  if (enabled) set("enabled", *enabled);
  if (!at_or_null(c.body, "severity").is_null()) {
    std::string severity;
    if (auto e = read_severity(c.body, severity)) return {{}, e};
    set("severity", json::value(severity));
  }
  if (const auto& tc = at_or_null(c.body, "trigger_config"); !tc.is_null()) {
    if (!tc.is_object()) return {{}, bad("trigger_config", "trigger_config must be an object")};
    json::object config = tc.as_object();
    if (auto e = alerting::check_trigger(str(s, "trigger_kind"), config)) return {{}, e};
    set("trigger_config", std::move(config));
  }
  if (!at_or_null(c.body, "channel_ids").is_null()) {
    json::array channels;
    if (auto e = read_channel_ids(c.body, channels)) return {{}, e};
    set("channel_ids", std::move(channels));
  }
  if (!at_or_null(c.body, "cooldown_minutes").is_null()) {
    int64_t cooldown = 0;
    if (auto e = read_cooldown(c.body, cooldown)) return {{}, e};
    set("cooldown_minutes", cooldown);
  }
  if (changed.empty()) return {};
  after["changed"] = std::move(changed);
  return {{{et::alert_rule_updated, std::move(after)}}, {}};
}

// fire {firing_id, trigger_id?, payload, channel_ids, now}: the evaluator's offer. The rule
// records AlertFired, or AlertSuppressed for a trigger met in the cooldown, or nothing for a
// trigger it already handled.
decision rule_fire(const json::object& s, const command& c) {
  if (!flag(s, "enabled"))
    return {{}, conflict("rule_disabled", "alert rule " + str(s, "uuid") + " is disabled")};
  const auto& trigger = at_or_null(c.body, "trigger_id");
  if (trigger.is_string()) {
    const auto& recent = at_or_null(s, "recent_triggers");
    if (recent.is_array() && std::find(recent.as_array().begin(), recent.as_array().end(),
                                       trigger) != recent.as_array().end())
      return {};
  }
  auto now = util::parse_rfc3339(str(c.body, "now"));
  if (!now) return {{}, bad("now", "now must be an RFC 3339 time")};
  std::optional<util::clock::time_point> last;
  if (auto l = str(s, "last_fired_at"); !l.empty()) last = util::parse_rfc3339(l);
  if (alerting::in_cooldown(last, *now, int_or(s, "cooldown_minutes", 60))) {
    if (!trigger.is_string())
      return {{}, conflict("cooldown", "alert rule " + str(s, "uuid") + " is in its cooldown")};
    return {{{et::alert_suppressed,
              {{"uuid", s.at("uuid")},
               {"trigger_id", trigger},
               {"reason", "cooldown"},
               {"last_fired_at", s.at("last_fired_at")}}}},
            {}};
  }
  auto firing = str(c.body, "firing_id");
  if (!util::is_uuid(firing)) return {{}, bad("firing_id", "firing_id must be a UUID")};
  const auto& payload = at_or_null(c.body, "payload");
  if (!payload.is_object()) return {{}, bad("payload", "payload must be an object")};
  json::object body = payload.as_object();
  body["fired_at"] = util::to_rfc3339(*now);
  json::array channels;
  if (auto e = read_channel_ids(c.body, channels)) return {{}, e};
  json::array deliveries;
  for (const auto& ch : channels)
    deliveries.push_back(json::object{{"delivery_id", alert_delivery_id(firing, ch.as_string())},
                                      {"channel_id", ch}});
  return {{{et::alert_fired,
            {{"uuid", s.at("uuid")},
             {"firing_id", firing},
             {"trigger_id", trigger},
             {"payload", std::move(body)},
             {"deliveries", std::move(deliveries)}}}},
          {}};
}

decision rule_decide(const json::object& s, std::string_view stream_id, const command& c) {
  if (c.name == "create") return rule_create(s, stream_id, c);
  if (!flag(s, "exists")) return {{}, not_found("alert rule not found")};
  if (c.name == "update") return rule_update(s, c);
  if (c.name == "delete") return {{{et::alert_rule_deleted, {{"uuid", s.at("uuid")}}}}, {}};
  if (c.name == "fire") return rule_fire(s, c);
  return {{},
          command_error{error_kind::invalid, "unknown_command",
                        "unknown alert rule command " + c.name, ""}};
}

// ---------------------------------------------------------------- deliveries

json::object delivery_initial() { return json::object{{"attempts", 0}, {"closed", false}}; }

void delivery_apply(json::object& s, std::string_view, const json::object& d, std::string_view) {
  s["attempts"] = d.at("attempt");
  auto outcome = str(d, "outcome");
  if (outcome != "retry") s["closed"] = true;
}

// attempt {attempt, outcome: sent|retry|failed, error?, response_code?, next_attempt_at?} and,
// for a channel test (the delivery's only attempt), {test: true, channel_id, payload}.
decision delivery_decide(const json::object& s, std::string_view stream_id, const command& c) {
  if (c.name != "attempt")
    return {{},
            command_error{error_kind::invalid, "unknown_command",
                          "unknown delivery command " + c.name, ""}};
  if (flag(s, "closed"))
    return {{}, conflict("delivery_closed", "the delivery was already sent or given up")};
  auto attempt = int_or(c.body, "attempt", 0);
  if (attempt != int_or(s, "attempts", 0) + 1)
    return {{},
            conflict("stale_attempt", "attempt " + std::to_string(attempt) +
                                          " is not the next attempt of this delivery")};
  auto outcome = str(c.body, "outcome");
  if (outcome != "sent" && outcome != "retry" && outcome != "failed")
    return {{}, bad("outcome", "outcome must be sent, retry or failed")};
  json::object d{
      {"delivery_id", events::stream_key_of(std::string(stream_id))},
      {"attempt", attempt},
      {"outcome", outcome},
      {"error", str(c.body, "error").empty() ? json::value(nullptr)
                                             : json::value(recorded_text(str(c.body, "error")))},
      {"response_code", at_or_null(c.body, "response_code")}};
  if (outcome == "retry") {
    if (!util::parse_rfc3339(str(c.body, "next_attempt_at")))
      return {{}, bad("next_attempt_at", "a retry needs next_attempt_at")};
    d["next_attempt_at"] = c.body.at("next_attempt_at");
  }
  if (flag(c.body, "test")) {
    if (attempt != 1 || outcome == "retry")
      return {{}, bad("test", "a channel test is one attempt, sent or failed")};
    d["test"] = true;
    d["channel_id"] = at_or_null(c.body, "channel_id");
    d["payload"] = at_or_null(c.body, "payload");
  }
  return {{{et::alert_delivery_attempted, std::move(d)}}, {}};
}

}  // namespace

const aggregate_kind& channel_registry_aggregate() {
  static const aggregate_kind k{events::stream::channels, channels_initial, channels_apply,
                                channels_decide};
  return k;
}

const aggregate_kind& alert_rule_aggregate() {
  static const aggregate_kind k{events::stream::alert_rule, rule_initial, rule_apply, rule_decide};
  return k;
}

const aggregate_kind& alert_delivery_aggregate() {
  static const aggregate_kind k{events::stream::delivery, delivery_initial, delivery_apply,
                                delivery_decide};
  return k;
}

std::string alert_rule_stream_id(std::string_view uuid) { return "alertrule-" + std::string(uuid); }
std::string alert_delivery_stream_id(std::string_view uuid) {
  return "delivery-" + std::string(uuid);
}
std::string alert_delivery_id(std::string_view firing_id, std::string_view channel_id) {
  std::string name(firing_id);
  name.push_back('/');
  name.append(channel_id);
  return util::uuid_v5(kDeliveryNamespace, name);
}
std::string alert_firing_id(std::string_view rule_uuid, std::string_view trigger_id) {
  std::string name(rule_uuid);
  name.push_back('/');
  name.append(trigger_id);
  return util::uuid_v5(kFiringNamespace, name);
}

}  // namespace beampipe::domain

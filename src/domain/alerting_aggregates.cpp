// Alerting aggregates (spec §1.8, §3.9): the notification-channel registry, one alert rule
// per stream, one delivery per stream. Typed like the source aggregate: state structs,
// command variants decoded once, decisions that write the event structs.
//
// A rule decides whether it fires: its stream holds last_fired_at (cooldown) and the triggers
// it has recently handled, so two evaluators that see the same failed execution record one
// firing between them. A delivery's stream numbers its attempts, so an attempt is recorded
// once, and nothing is recorded after the delivery was sent or given up.
#include <algorithm>
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/alerting.hpp"
#include "domain/command_support.hpp"
#include "domain/redaction.hpp"
#include "events/alerting.hpp"
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

// 2: the typed states (issue #18). Version-1 snapshots are ignored and rebuilt from events.
constexpr int kStateVersion = 2;

using events_out = std::vector<pending_event>;

command_error not_found(std::string what) {
  return {error_kind::not_found, "not_found", std::move(what), ""};
}

command_error unknown_command(const char* what, const std::string& name) {
  return {error_kind::invalid, "unknown_command",
          std::string("unknown ") + what + " command " + name, ""};
}

std::string read_uuid(const json::object& b, const char* field) {
  auto out = str(b, field);
  if (!util::is_uuid(out)) throw refusal{bad(field, std::string(field) + " must be a UUID")};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Refuses keys a command does not know, so a misspelt field is never silently ignored.
void only_keys(const json::object& b, std::initializer_list<std::string_view> known) {
  for (const auto& kv : b)
    if (std::find(known.begin(), known.end(), kv.key()) == known.end())
      throw refusal{bad(std::string(kv.key()), "unknown field " + std::string(kv.key()))};
}

// ---------------------------------------------------------------- notification channels

struct channels_state {
  std::vector<events::channel_fields> channels;  // in the order they were created
};
BOOST_DESCRIBE_STRUCT(channels_state, (), (channels))

struct create_channel {
  events::channel_fields fields;
};
struct update_channel {
  std::string uuid;
  std::optional<std::string> name;
  std::optional<json::object> config;
  std::optional<bool> enabled;
  bool secret_changed = false;
};
struct delete_channel {
  std::string uuid;
};
using channel_command = std::variant<create_channel, update_channel, delete_channel>;

channel_command decode_channel(const command& c) {
  const auto& b = c.body;
  auto id = read_uuid(b, "uuid");
  if (c.name == "create") {
    events::channel_fields f;
    f.uuid = id;
    f.name = required(b, "name", 100);
    f.kind = str(b, "kind");
    const auto& config = at_or_null(b, "config");
    if (f.kind.empty() || !config.is_object())
      throw refusal{bad("config", "kind and a config object are required")};
    f.config = config.as_object();
    f.enabled = opt_bool(b, "enabled").value_or(true);
    return create_channel{std::move(f)};
  }
  if (c.name == "update") {
    update_channel u{id, {}, {}, {}, flag(b, "secret_changed")};
    if (!at_or_null(b, "name").is_null()) u.name = required(b, "name", 100);
    if (const auto& config = at_or_null(b, "config"); !config.is_null()) {
      if (!config.is_object()) throw refusal{bad("config", "config must be an object")};
      u.config = config.as_object();
    }
    u.enabled = opt_bool(b, "enabled");
    return u;
  }
  if (c.name == "delete") return delete_channel{id};
  throw refusal{unknown_command("channel", c.name)};
}

struct channel_decider {
  const channels_state& s;

  const events::channel_fields* find(const std::string& id) const {
    for (const auto& ch : s.channels)
      if (ch.uuid == id) return &ch;
    return nullptr;
  }
  void name_free(const std::string& name, std::string_view except) const {
    for (const auto& ch : s.channels)
      if (ch.uuid != except && ch.name == name)
        throw refusal{
            conflict("channel_name_taken", "a channel named " + name + " exists", "name")};
  }
  const events::channel_fields& existing(const std::string& id) const {
    if (const auto* ch = find(id)) return *ch;
    throw refusal{not_found("notification channel " + id + " not found")};
  }

  events_out operator()(const create_channel& c) const {
    if (find(c.fields.uuid))
      throw refusal{conflict("channel_exists", "channel " + c.fields.uuid + " exists", "uuid")};
    name_free(c.fields.name, "");
    events::channel_created e;
    static_cast<events::channel_fields&>(e) = c.fields;
    return {events::make(e)};
  }
  events_out operator()(const update_channel& u) const {
    const auto& row = existing(u.uuid);
    events::channel_updated after;
    static_cast<events::channel_fields&>(after) = row;
    if (u.name) {
      name_free(*u.name, u.uuid);
      if (*u.name != row.name) after.changed.push_back("name");
      after.name = *u.name;
    }
    if (u.config) {
      if (*u.config != row.config) after.changed.push_back("config");
      after.config = *u.config;
    }
    if (u.enabled) {
      if (*u.enabled != row.enabled) after.changed.push_back("enabled");
      after.enabled = *u.enabled;
    }
    // A secret-only change (a new header value) shows no difference here, yet it must be
    // recorded: the handler says so with "secret_changed".
    if (u.secret_changed) after.changed.push_back("secret");
    if (after.changed.empty()) return {};
    return {events::make(after)};
  }
  events_out operator()(const delete_channel& d) const {
    const auto& row = existing(d.uuid);
    return {events::make(events::channel_deleted{d.uuid, row.name, row.kind})};
  }
};

decision channels_decide(const channels_state& s, std::string_view, const command& c) {
  try {
    return {std::visit(channel_decider{s}, decode_channel(c)), std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void channels_evolve(channels_state& s, std::string_view type, const json::object& d) {
  auto& all = s.channels;
  if (type == et::channel_deleted) {
    auto id = events::decode_as<events::channel_deleted>(d).uuid;
    all.erase(std::remove_if(all.begin(), all.end(), [&](const auto& ch) { return ch.uuid == id; }),
              all.end());
  } else {
    auto f = events::decode_as<events::channel_fields>(d);
    auto it =
        std::find_if(all.begin(), all.end(), [&](const auto& ch) { return ch.uuid == f.uuid; });
    if (it != all.end())
      *it = std::move(f);
    else
      all.push_back(std::move(f));
  }
}

// ---------------------------------------------------------------- alert rules

struct rule_state {
  bool exists = false;
  bool deleted = false;
  events::alert_rule_fields rule;
  std::optional<std::string> last_fired_at;
  std::vector<std::string> recent_triggers;  // the last kRecentTriggers handled
};
BOOST_DESCRIBE_STRUCT(rule_state, (), (exists, deleted, rule, last_fired_at, recent_triggers))

std::vector<std::string> read_channel_ids(const json::object& b) {
  const auto& v = at_or_null(b, "channel_ids");
  if (!v.is_array()) throw refusal{bad("channel_ids", "channel_ids must be an array of UUIDs")};
  if (v.as_array().size() > 20)
    throw refusal{bad("channel_ids", "channel_ids may name at most 20 channels")};
  std::vector<std::string> out;
  for (const auto& x : v.as_array()) {
    std::string id = x.is_string() ? std::string(x.as_string()) : std::string();
    if (!util::is_uuid(id))
      throw refusal{bad("channel_ids", "channel_ids must be an array of UUIDs")};
    std::transform(id.begin(), id.end(), id.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (std::find(out.begin(), out.end(), id) != out.end())
      throw refusal{bad("channel_ids", "channel_ids names channel " + id + " twice")};
    out.push_back(id);
  }
  return out;
}

std::optional<int64_t> read_cooldown(const json::object& b) {
  const auto& v = at_or_null(b, "cooldown_minutes");
  if (v.is_null()) return std::nullopt;
  if (!v.is_int64() && !v.is_uint64())
    throw refusal{bad("cooldown_minutes", "cooldown_minutes must be an integer")};
  auto out = v.is_int64() ? v.as_int64()
                          : static_cast<int64_t>(std::min<uint64_t>(v.as_uint64(), 1u << 30));
  if (out < 0 || out > 7 * 24 * 60)
    throw refusal{bad("cooldown_minutes", "cooldown_minutes must be between 0 and 10080 (a week)")};
  return out;
}

std::optional<std::string> read_severity(const json::object& b) {
  const auto& v = at_or_null(b, "severity");
  if (v.is_null()) return std::nullopt;
  if (!v.is_string() || !alerting::valid_severity(v.as_string()))
    throw refusal{bad("severity", "severity must be info, warning, error or critical")};
  return std::string(v.as_string());
}

std::optional<json::object> read_trigger_config(const json::object& b) {
  const auto& tc = at_or_null(b, "trigger_config");
  if (tc.is_null()) return std::nullopt;
  if (!tc.is_object()) throw refusal{bad("trigger_config", "trigger_config must be an object")};
  return tc.as_object();
}

struct create_rule {
  events::alert_rule_fields fields;
};
struct update_rule {
  std::optional<std::string> name;
  std::optional<bool> enabled;
  std::optional<std::string> severity;
  std::optional<json::object> trigger_config;
  std::optional<std::vector<std::string>> channel_ids;
  std::optional<int64_t> cooldown_minutes;
};
struct delete_rule {};
// fire {firing_id, trigger_id?, payload, channel_ids, now}: the evaluator's offer, checked in
// decide in the order the rule answers it (disabled, already handled, cooldown, the offer).
struct fire_rule {
  const json::object* body = nullptr;
};
using rule_command = std::variant<create_rule, update_rule, delete_rule, fire_rule>;

rule_command decode_rule(const command& c) {
  const auto& b = c.body;
  if (c.name == "create") {
    only_keys(b, {"uuid", "name", "project_module", "enabled", "severity", "trigger_kind",
                  "trigger_config", "channel_ids", "cooldown_minutes"});
    events::alert_rule_fields f;
    f.uuid = read_uuid(b, "uuid");
    f.name = required(b, "name", 100);
    if (!at_or_null(b, "project_module").is_null())
      f.project_module = required(b, "project_module", 50);
    f.severity = read_severity(b).value_or("warning");
    f.trigger_kind = required(b, "trigger_kind", 40);
    f.trigger_config = read_trigger_config(b).value_or(json::object{});
    check(alerting::check_trigger(f.trigger_kind, f.trigger_config));
    f.channel_ids = read_channel_ids(b);
    f.cooldown_minutes = read_cooldown(b).value_or(60);
    f.enabled = opt_bool(b, "enabled").value_or(true);
    return create_rule{std::move(f)};
  }
  if (c.name == "update") {
    only_keys(b,
              {"name", "enabled", "severity", "trigger_config", "channel_ids", "cooldown_minutes"});
    update_rule u;
    if (!at_or_null(b, "name").is_null()) u.name = required(b, "name", 100);
    u.enabled = opt_bool(b, "enabled");
    u.severity = read_severity(b);
    u.trigger_config = read_trigger_config(b);
    if (!at_or_null(b, "channel_ids").is_null()) u.channel_ids = read_channel_ids(b);
    u.cooldown_minutes = read_cooldown(b);
    return u;
  }
  if (c.name == "delete") return delete_rule{};
  if (c.name == "fire") return fire_rule{&b};
  throw refusal{unknown_command("alert rule", c.name)};
}

struct rule_decider {
  const rule_state& s;
  std::string_view stream_id;

  events_out operator()(const create_rule& c) const {
    if (alert_rule_stream_id(c.fields.uuid) != stream_id)
      throw refusal{
          {error_kind::invalid, "wrong_stream", "command routed to the wrong rule stream", ""}};
    if (s.exists || s.deleted)
      throw refusal{conflict("rule_exists", "alert rule " + c.fields.uuid + " exists", "uuid")};
    events::alert_rule_created e;
    static_cast<events::alert_rule_fields&>(e) = c.fields;
    return {events::make(e)};
  }
  events_out operator()(const update_rule& u) const {
    events::alert_rule_updated after;
    static_cast<events::alert_rule_fields&>(after) = s.rule;
    auto set = [&](const char* name, auto& field, auto value) {
      if (value != field) after.changed.push_back(name);
      field = std::move(value);
    };
    if (u.name) set("name", after.name, *u.name);
    if (u.enabled) set("enabled", after.enabled, *u.enabled);
    if (u.severity) set("severity", after.severity, *u.severity);
    if (u.trigger_config) {
      auto config = *u.trigger_config;
      check(alerting::check_trigger(s.rule.trigger_kind, config));
      set("trigger_config", after.trigger_config, std::move(config));
    }
    if (u.channel_ids) set("channel_ids", after.channel_ids, *u.channel_ids);
    if (u.cooldown_minutes) set("cooldown_minutes", after.cooldown_minutes, *u.cooldown_minutes);
    if (after.changed.empty()) return {};
    return {events::make(after)};
  }
  events_out operator()(const delete_rule&) const {
    return {events::make(events::alert_rule_deleted{s.rule.uuid})};
  }
  // Records AlertFired, or AlertSuppressed for a trigger met in the cooldown, or nothing for a
  // trigger it already handled.
  events_out operator()(const fire_rule& f) const {
    const auto& b = *f.body;
    if (!s.rule.enabled)
      throw refusal{conflict("rule_disabled", "alert rule " + s.rule.uuid + " is disabled")};
    std::optional<std::string> trigger;
    if (const auto& t = at_or_null(b, "trigger_id"); t.is_string()) trigger = t.as_string();
    if (trigger && std::find(s.recent_triggers.begin(), s.recent_triggers.end(), *trigger) !=
                       s.recent_triggers.end())
      return {};
    auto now = util::parse_rfc3339(str(b, "now"));
    if (!now) throw refusal{bad("now", "now must be an RFC 3339 time")};
    std::optional<util::clock::time_point> last;
    if (s.last_fired_at) last = util::parse_rfc3339(*s.last_fired_at);
    if (alerting::in_cooldown(last, *now, s.rule.cooldown_minutes)) {
      if (!trigger)
        throw refusal{conflict("cooldown", "alert rule " + s.rule.uuid + " is in its cooldown")};
      return {events::make(
          events::alert_suppressed{s.rule.uuid, trigger, "cooldown", s.last_fired_at})};
    }
    auto firing = str(b, "firing_id");
    if (!util::is_uuid(firing)) throw refusal{bad("firing_id", "firing_id must be a UUID")};
    const auto& payload = at_or_null(b, "payload");
    if (!payload.is_object()) throw refusal{bad("payload", "payload must be an object")};
    events::alert_fired e;
    e.uuid = s.rule.uuid;
    e.firing_id = firing;
    e.trigger_id = trigger;
    e.payload = payload.as_object();
    e.payload["fired_at"] = util::to_rfc3339(*now);
    for (const auto& ch : read_channel_ids(b))
      e.deliveries.push_back({alert_delivery_id(firing, ch), ch});
    return {events::make(e)};
  }
};

decision rule_decide(const rule_state& s, std::string_view stream_id, const command& c) {
  try {
    auto command = decode_rule(c);
    if (!std::holds_alternative<create_rule>(command) && !s.exists)
      throw refusal{not_found("alert rule not found")};
    return {std::visit(rule_decider{s, stream_id}, command), std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void remember_trigger(rule_state& s, const std::optional<std::string>& trigger) {
  if (!trigger) return;
  s.recent_triggers.push_back(*trigger);
  if (s.recent_triggers.size() > kRecentTriggers)
    s.recent_triggers.erase(s.recent_triggers.begin());
}

void rule_evolve(rule_state& s, std::string_view type, const json::object& d) {
  if (type == et::alert_rule_created || type == et::alert_rule_updated) {
    s.rule = events::decode_as<events::alert_rule_fields>(d);
    s.exists = true;
  } else if (type == et::alert_rule_deleted) {
    s.exists = false;
    s.deleted = true;
  } else if (type == et::alert_fired) {
    auto e = events::decode_as<events::alert_fired>(d);
    if (const auto& at = at_or_null(e.payload, "fired_at"); at.is_string())
      s.last_fired_at = std::string(at.as_string());
    remember_trigger(s, e.trigger_id);
  } else if (type == et::alert_suppressed) {
    remember_trigger(s, events::decode_as<events::alert_suppressed>(d).trigger_id);
  }
}

// ---------------------------------------------------------------- deliveries

struct delivery_state {
  int64_t attempts = 0;
  bool closed = false;  // sent or given up
};
BOOST_DESCRIBE_STRUCT(delivery_state, (), (attempts, closed))

// attempt {attempt, outcome: sent|retry|failed, error?, response_code?, next_attempt_at?} and,
// for a channel test (the delivery's only attempt), {test: true, channel_id, payload}.
struct record_attempt {
  int64_t attempt = 0;
  std::string outcome, error;
  std::optional<int64_t> response_code;
  std::string next_attempt_at;
  bool test = false;
  json::value channel_id, payload;
};

record_attempt decode_delivery(const command& c) {
  if (c.name != "attempt") throw refusal{unknown_command("delivery", c.name)};
  const auto& b = c.body;
  record_attempt a;
  a.attempt = int_or(b, "attempt", 0);
  a.outcome = str(b, "outcome");
  a.error = str(b, "error");
  if (const auto& rc = at_or_null(b, "response_code"); !rc.is_null()) {
    if (!rc.is_int64()) throw refusal{bad("response_code", "response_code must be an integer")};
    a.response_code = rc.as_int64();
  }
  a.next_attempt_at = str(b, "next_attempt_at");
  a.test = flag(b, "test");
  a.channel_id = at_or_null(b, "channel_id");
  a.payload = at_or_null(b, "payload");
  return a;
}

decision delivery_decide(const delivery_state& s, std::string_view stream_id, const command& c) {
  try {
    auto a = decode_delivery(c);
    if (s.closed)
      throw refusal{conflict("delivery_closed", "the delivery was already sent or given up")};
    if (a.attempt != s.attempts + 1)
      throw refusal{conflict("stale_attempt", "attempt " + std::to_string(a.attempt) +
                                                  " is not the next attempt of this delivery")};
    if (a.outcome != "sent" && a.outcome != "retry" && a.outcome != "failed")
      throw refusal{bad("outcome", "outcome must be sent, retry or failed")};
    events::alert_delivery_attempted e;
    e.delivery_id = events::stream_key_of(std::string(stream_id));
    e.attempt = a.attempt;
    e.outcome = a.outcome;
    if (!a.error.empty()) e.error = recorded_text(a.error);
    e.response_code = a.response_code;
    if (a.outcome == "retry") {
      if (!util::parse_rfc3339(a.next_attempt_at))
        throw refusal{bad("next_attempt_at", "a retry needs next_attempt_at")};
      e.next_attempt_at = a.next_attempt_at;
    }
    if (a.test) {
      if (a.attempt != 1 || a.outcome == "retry")
        throw refusal{bad("test", "a channel test is one attempt, sent or failed")};
      e.test = true;
      if (a.channel_id.is_string()) e.channel_id = std::string(a.channel_id.as_string());
      e.payload = a.payload;
    }
    return {{events::make(e)}, std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void delivery_evolve(delivery_state& s, std::string_view, const json::object& d) {
  auto e = events::decode_as<events::alert_delivery_attempted>(d);
  s.attempts = e.attempt;
  if (e.outcome != "retry") s.closed = true;
}

}  // namespace

const aggregate_kind& channel_registry_aggregate() {
  static const aggregate_kind k = typed_aggregate<channels_state, channels_evolve, channels_decide>(
      events::stream::channels, kStateVersion);
  return k;
}

const aggregate_kind& alert_rule_aggregate() {
  static const aggregate_kind k = typed_aggregate<rule_state, rule_evolve, rule_decide>(
      events::stream::alert_rule, kStateVersion);
  return k;
}

const aggregate_kind& alert_delivery_aggregate() {
  static const aggregate_kind k = typed_aggregate<delivery_state, delivery_evolve, delivery_decide>(
      events::stream::delivery, kStateVersion);
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

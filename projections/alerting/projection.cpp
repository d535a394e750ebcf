// Alerting read models (spec §1.8, §3.9): notification_channels, alert_rules,
// alert_deliveries, and the triggers immediate rules react to with what each rule did about
// them. Every value comes from the events, so a rebuild reproduces the rows exactly.
#include "projections/alerting/projection.hpp"

#include "domain/ledger.hpp"
#include "events/catalog.hpp"
#include "events/types.hpp"
#include "events/validity.hpp"
#include "projections/read_model_names.hpp"
#include "util/json.hpp"

namespace beampipe::projections::alerting {
namespace et = beampipe::events::type;
namespace {

const json::value& field(const json::object& o, std::string_view k) {
  return util::at_or_null(o, k);
}

std::string uuid_in(const json::object& d, const char* key = "uuid") {
  return std::string(d.at(key).as_string());
}

class notification_channels_projection : public projection {
 public:
  std::string name() const override { return model::notification_channels; }
  std::string group() const override { return "alerting"; }
  std::vector<table_spec> tables() const override {
    return {{"notification_channels", "uuid", "uuid"}};
  }
  bool handles(const std::string& t) const override {
    return t == et::channel_created || t == et::channel_updated || t == et::channel_deleted;
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("notification_channels", uuid_in(d));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    std::string id(d.at("uuid").as_string());
    if (e.type == et::channel_deleted) {
      rows.erase("notification_channels", id);
      return;
    }
    const auto* existing = rows.find("notification_channels", id);
    rows.put("notification_channels", id,
             json::object{
                 {"uuid", id},
                 {"name", d.at("name")},
                 {"kind", d.at("kind")},
                 {"config", d.at("config")},
                 {"enabled", d.at("enabled")},
                 {"created_at", existing ? existing->at("created_at") : json::value(e.recorded_at)},
                 {"updated_at", existing ? json::value(e.recorded_at) : nullptr},
                 {"stream_version", e.stream_version}});
  }
};

// alert_rules, and the outcome rows of the triggers a rule handled.
class alert_rules_projection : public projection {
 public:
  std::string name() const override { return model::alert_rules; }
  std::string group() const override { return "alerting"; }
  std::vector<table_spec> tables() const override {
    return {{"alert_rules", "uuid", "uuid"}, {"alert_trigger_outcomes", "id", "text"}};
  }
  bool handles(const std::string& t) const override {
    return t == et::alert_rule_created || t == et::alert_rule_updated ||
           t == et::alert_rule_deleted || t == et::alert_fired || t == et::alert_suppressed;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("alert_rules", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto id = events::stream_key_of(e.stream_id);
    if (e.type == et::alert_rule_deleted) {
      rows.erase("alert_rules", id);
      return;
    }
    const auto* existing = rows.find("alert_rules", id);
    if (e.type == et::alert_rule_created || e.type == et::alert_rule_updated) {
      bool enabled = d.at("enabled").as_bool();
      // A rule reacts to triggers from the moment it is (re-)enabled, never to older ones.
      bool was_enabled = existing && existing->at("enabled").as_bool();
      json::value since =
          existing && was_enabled ? existing->at("enabled_since") : json::value(e.recorded_at);
      json::object r{
          {"uuid", id},
          {"name", d.at("name")},
          {"project_module", d.at("project_module")},
          {"enabled", enabled},
          {"severity", d.at("severity")},
          {"trigger_kind", d.at("trigger_kind")},
          {"trigger_config", d.at("trigger_config")},
          {"channel_ids", d.at("channel_ids")},
          {"cooldown_minutes", d.at("cooldown_minutes")},
          {"last_fired_at", existing ? existing->at("last_fired_at") : nullptr},
          {"enabled_since", since},
          {"created_at", existing ? existing->at("created_at") : json::value(e.recorded_at)},
          {"updated_at", existing ? json::value(e.recorded_at) : nullptr},
          {"stream_version", e.stream_version}};
      rows.put("alert_rules", id, std::move(r));
      return;
    }
    const auto& trigger = field(d, "trigger_id");
    if (trigger.is_string()) {
      std::string key = id + "/" + std::string(trigger.as_string());
      rows.put("alert_trigger_outcomes", key,
               json::object{{"id", key},
                            {"rule_id", id},
                            {"trigger_id", trigger},
                            {"outcome", e.type == et::alert_fired ? "fired" : "suppressed"},
                            {"at", e.recorded_at}});
    }
    auto* rule = rows.edit("alert_rules", id);
    if (!rule) return;
    if (e.type == et::alert_fired)
      (*rule)["last_fired_at"] = d.at("payload").as_object().at("fired_at");
    (*rule)["stream_version"] = e.stream_version;
    rows.mark_dirty("alert_rules", id);
  }
};

class alert_deliveries_projection : public projection {
 public:
  std::string name() const override { return model::alert_deliveries; }
  std::string group() const override { return "alerting"; }
  std::vector<table_spec> tables() const override { return {{"alert_deliveries", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::alert_fired || t == et::alert_delivery_attempted;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    if (e.type == et::alert_delivery_attempted)
      out.emplace_back("alert_deliveries", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    if (e.type == et::alert_fired) {
      for (const auto& x : d.at("deliveries").as_array()) {
        const auto& del = x.as_object();
        std::string id(del.at("delivery_id").as_string());
        rows.put("alert_deliveries", id,
                 json::object{{"uuid", id},
                              {"rule_id", d.at("uuid")},
                              {"channel_id", del.at("channel_id")},
                              {"firing_id", d.at("firing_id")},
                              {"status", "pending"},
                              {"payload", d.at("payload")},
                              {"error", nullptr},
                              {"response_code", nullptr},
                              {"attempts", 0},
                              {"next_attempt_at", nullptr},
                              {"test", false},
                              {"created_at", e.recorded_at},
                              {"updated_at", e.recorded_at},
                              {"sent_at", nullptr}});
      }
      return;
    }
    auto id = events::stream_key_of(e.stream_id);
    auto* row = rows.edit("alert_deliveries", id);
    if (!row && field(d, "test").is_bool()) {
      row = &rows.put("alert_deliveries", id,
                      json::object{{"uuid", id},
                                   {"rule_id", nullptr},
                                   {"channel_id", d.at("channel_id")},
                                   {"firing_id", nullptr},
                                   {"payload", d.at("payload")},
                                   {"test", true},
                                   {"created_at", e.recorded_at}});
    }
    if (!row) return;
    auto outcome = d.at("outcome").as_string();
    auto& r = *row;
    r["status"] = outcome == "retry" ? "pending" : outcome;
    r["attempts"] = d.at("attempt");
    r["error"] = field(d, "error");
    r["response_code"] = field(d, "response_code");
    r["next_attempt_at"] = outcome == "retry" ? d.at("next_attempt_at") : json::value(nullptr);
    r["sent_at"] = outcome == "sent" ? json::value(e.recorded_at) : json::value(nullptr);
    r["updated_at"] = e.recorded_at;
    rows.mark_dirty("alert_deliveries", id);
  }
};

// alert_triggers: every execution event that failed a run (its provenance names
// execution.failed), for rules of kind execution_terminal.
class alert_triggers_projection : public projection {
 public:
  std::string name() const override { return model::alert_triggers; }
  std::string group() const override { return "alerting"; }
  std::vector<table_spec> tables() const override { return {{"alert_triggers", "id", "uuid"}}; }
  bool handles(const std::string& t) const override { return et::is_execution_event(t); }
  void keys(const events::recorded_event&, const json::object&,
            std::vector<std::pair<std::string, std::string>>&) const override {}
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    const auto& prov = field(d, "provenance");
    if (!prov.is_array()) return;
    for (const auto& p : prov.as_array()) {
      const auto& row = p.as_object();
      if (field(row, "event_type") != json::value("execution.failed")) continue;
      const auto& payload = field(row, "payload");
      const json::object empty;
      const auto& pl = payload.is_object() ? payload.as_object() : empty;
      // The record's error, else the fact's (a failure, a failed observation, an abandonment).
      json::value error = field(pl, "error");
      if (error.is_null()) error = field(d, "error");
      if (error.is_null() && e.type == et::submission_abandoned && field(d, "reason").is_string())
        error = json::value(domain::ledger::abandonment_error(field(d, "reason").as_string()));
      rows.put("alert_triggers", e.event_id,
               json::object{{"id", e.event_id},
                            {"kind", "execution.failed"},
                            {"project_module", field(d, "project_module")},
                            {"execution_id", field(d, "uuid")},
                            {"source_identifiers", field(pl, "source_identifiers")},
                            {"error", error},
                            {"occurred_at", e.recorded_at},
                            {"position", e.position}});
      return;
    }
  }
};

}  // namespace

std::vector<std::shared_ptr<const projection>> make_projections() {
  return {std::make_shared<notification_channels_projection>(),
          std::make_shared<alert_rules_projection>(),
          std::make_shared<alert_deliveries_projection>(),
          std::make_shared<alert_triggers_projection>()};
}

}  // namespace beampipe::projections::alerting

// The provenance projection. Every value comes from the event (timestamps are the event's
// recorded_at), so a rebuild reproduces the same rows byte for byte.
#include "projections/provenance/projection.hpp"

#include "events/catalog.hpp"
#include "events/maintenance.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::projections::provenance {
namespace et = beampipe::events::type;
using util::at_or_null;

namespace {

class provenance_projection : public projection {
 public:
  std::string name() const override { return model::provenance; }
  std::string group() const override { return "executions"; }
  std::vector<table_spec> tables() const override { return {{"provenance_events", "id", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::source_registered || t == et::source_enabled_changed ||
           t == et::source_stale_after_changed || t == et::source_deleted ||
           t == et::discovery_requested || t == et::discovery_completed ||
           t == et::discovery_failed || t == et::discovery_attempt_failed ||
           t == et::discovery_requeued || et::is_execution_event(t) ||
           t == et::project_config_activated || t == et::alert_fired || t == et::provenance_purged;
  }
  void keys(const events::recorded_event&, const json::object&,
            std::vector<std::pair<std::string, std::string>>&) const override {}
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto meta = events::event_metadata::from_json(e.metadata);
    json::object r;
    r.reserve(10);         // the table's columns: no rehash as they are set
    r["id"] = e.event_id;  // one provenance row per event: its id is the event's
    r["occurred_at"] = e.recorded_at;
    r["project_module"] = at_or_null(d, "project_module");
    r["source_identifier"] = nullptr;
    r["execution_id"] = nullptr;
    r["actor"] = meta.actor.empty() ? json::value(nullptr) : json::value(meta.actor);
    r["correlation_id"] =
        meta.correlation_id.empty() ? json::value(nullptr) : json::value(meta.correlation_id);
    r["position"] = e.position;
    json::object payload;
    if (e.type == et::project_config_activated) {
      // §8.2 config.activated, actor system:api, payload {spec_sha256, version}.
      r["project_module"] = d.at("project_id");
      r["event_type"] = "config.activated";
      r["payload"] =
          json::object{{"spec_sha256", d.at("spec_sha256")}, {"version", d.at("version")}};
      rows.put("provenance_events", e.event_id, std::move(r));
      return;
    }
    if (e.type == et::provenance_purged) {
      // Read-model retention: the older rows go (of one project, or all); the purge itself
      // stays in the project's provenance (a purge of every project is in the event log).
      auto p = events::decode_as<events::provenance_purged>(d);
      rows.erase_older("provenance_events", "occurred_at", p.before, "project_module",
                       p.project_module);
      if (p.project_module.empty()) return;
      r["project_module"] = p.project_module;
      r["event_type"] = "provenance.purged";
      r["payload"] = json::object{{"before", p.before}, {"reason", p.reason}};
      rows.put("provenance_events", e.event_id, std::move(r));
      return;
    }
    if (e.type == et::alert_fired) {
      // §3.9 step 5: alert.fired, actor system:alerts, payload = the alert body. Provenance is
      // per project: a global rule's firing (no project) is in the event log and deliveries.
      const auto& p = d.at("payload").as_object();
      if (!at_or_null(p, "project_module").is_string()) return;
      r["project_module"] = at_or_null(p, "project_module");
      r["execution_id"] = at_or_null(p, "execution_id");
      const auto& ids = at_or_null(p, "source_identifiers");
      if (ids.is_array() && !ids.as_array().empty()) r["source_identifier"] = ids.as_array()[0];
      r["event_type"] = "alert.fired";
      r["payload"] = p;
      rows.put("provenance_events", e.event_id, std::move(r));
      return;
    }
    if (e.stream_type == events::stream::source) {
      r["source_identifier"] = d.at("source_identifier");
      if (e.type == et::source_registered) {
        r["event_type"] = "source.registered";
        payload["enabled"] = d.at("enabled");
      } else if (e.type == et::source_enabled_changed) {
        r["event_type"] = "source.updated";
        payload["enabled"] = d.at("enabled");
      } else if (e.type == et::source_stale_after_changed) {
        r["event_type"] = "source.updated";
        payload["stale_after_hours"] = d.at("stale_after_hours");
      } else if (e.type == et::source_deleted) {
        r["event_type"] = "source.deleted";
      } else if (e.type == et::discovery_requested) {
        r["event_type"] = "discovery.requested";
        r["correlation_id"] = d.at("request_id");
        payload["reason"] = d.at("reason");
      } else if (e.type == et::discovery_failed) {
        r["event_type"] = "discovery.error";
        r["correlation_id"] = d.at("request_id");
        payload["error"] = d.at("error");
        payload["retryable"] = d.at("retryable");
        if (util::get_bool(d, "dead_letter").value_or(false)) {
          payload["dead_letter"] = true;
          payload["attempt"] = d.at("attempt");
        }
      } else if (e.type == et::discovery_attempt_failed) {
        r["event_type"] = "discovery.retry_scheduled";
        r["correlation_id"] = d.at("request_id");
        payload["error"] = d.at("error");
        payload["attempt"] = d.at("attempt");
        payload["retry_at"] = d.at("retry_at");
      } else if (e.type == et::discovery_requeued) {
        r["event_type"] = "discovery.requeued";
        r["correlation_id"] = d.at("request_id");
        payload["attempt"] = d.at("attempt");
        payload["reason"] = d.at("reason");
      } else {
        const auto& outcome = d.at("outcome").as_string();
        r["correlation_id"] = d.at("request_id");
        r["event_type"] = outcome == "unchanged" ? "discovery.unchanged"
                          : outcome == "changed" ? "discovery.changed"
                                                 : "discovery.no_datasets";
        const auto& sig = d.at("signature");
        if (outcome == "unchanged") {
          payload["signature_prefix"] =
              sig.is_string() ? json::value(std::string(sig.as_string()).substr(0, 12)) : sig;
        } else {
          payload["signature"] = sig;
          payload["sbids"] = d.at("rows").as_object().size();
          payload["datasets"] = d.at("datasets");
        }
        payload["workflow_run_pending"] = d.at("pending");
        payload["truncated"] = d.at("truncated");
        if (const auto* hooks = d.if_contains("wasm_hooks")) payload["wasm_hooks"] = *hooks;
      }
    } else {
      // Execution events name their own provenance rows (§8.2); the first takes the event's
      // id, further ones a name-based id derived from it.
      r["execution_id"] = d.at("uuid");
      r["correlation_id"] = d.at("uuid");
      r["source_identifier"] = at_or_null(d, "source_identifier");
      auto it = d.find("provenance");
      if (it == d.end() || !it->value().is_array()) return;
      size_t i = 0;
      for (const auto& p : it->value().as_array()) {
        json::object row = r;
        if (i > 0) row["id"] = util::uuid_v5(e.event_id, std::to_string(i));
        row["event_type"] = p.as_object().at("event_type");
        row["payload"] = p.as_object().at("payload");
        std::string id(row["id"].as_string());
        rows.put("provenance_events", id, std::move(row));
        ++i;
      }
      return;
    }
    r["payload"] = std::move(payload);
    rows.put("provenance_events", e.event_id, std::move(r));
  }
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<provenance_projection>();
}

}  // namespace beampipe::projections::provenance

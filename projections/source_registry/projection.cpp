// The source_registry projection. Every value comes from the event (timestamps are the
// event's recorded_at), so a rebuild reproduces the same rows byte for byte.
#include "projections/source_registry/projection.hpp"

#include "events/catalog.hpp"
#include "events/source.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"

namespace beampipe::projections::source_registry {
namespace et = beampipe::events::type;

namespace {

class source_registry_projection : public projection {
 public:
  std::string name() const override { return model::source_registry; }
  std::string group() const override { return "sources"; }
  std::vector<table_spec> tables() const override { return {{"source_registry", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::source_registered || t == et::source_enabled_changed ||
           t == et::source_stale_after_changed || t == et::source_deleted ||
           t == et::discovery_requested || t == et::discovery_completed ||
           t == et::discovery_failed || t == et::discovery_attempt_failed ||
           t == et::discovery_requeued || t == et::source_execution_finished ||
           t == et::source_pending_cleared;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("source_registry", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = events::stream_key_of(e.stream_id);
    auto* row = rows.find("source_registry", key);
    if (e.type == et::source_registered) {
      auto ev = events::decode_as<events::source_registered>(d);
      json::object r;
      r["uuid"] = key;
      r["project_module"] = ev.project_module;
      r["source_identifier"] = ev.source_identifier;
      r["enabled"] = ev.enabled;
      r["deleted"] = false;
      // A re-registration after deletion keeps the original creation time.
      r["created_at"] = row ? row->at("created_at") : json::value(e.recorded_at);
      r["updated_at"] = e.recorded_at;
      for (const char* k :
           {"last_checked_at", "last_attempted_at", "stale_after_hours", "discovery_signature",
            "last_executed_discovery_signature", "discovery_claim_token",
            "discovery_claim_expires_at", "workflow_run_pending_at", "workflow_claim_token",
            "workflow_claimed_at", "workflow_claim_expires_at", "last_discovery_error"})
        r[k] = row ? row->at(k) : json::value(nullptr);
      r["workflow_run_pending"] = row ? row->at("workflow_run_pending") : json::value(false);
      r["discovery_truncated"] = row ? row->at("discovery_truncated") : json::value(false);
      r["discovery_request_id"] = nullptr;
      r["discovery_requested_at"] = nullptr;
      r["discovery_attempt"] = nullptr;
      r["discovery_retry_at"] = nullptr;
      r["stream_version"] = e.stream_version;
      rows.put("source_registry", key, std::move(r));
      return;
    }
    if (!row) return;  // cannot happen for a well-formed stream; never invent a row
    auto& r = *row;
    auto nullable = [](const auto& opt) { return opt ? json::value(*opt) : json::value(nullptr); };
    if (e.type == et::source_enabled_changed) {
      r["enabled"] = events::decode_as<events::source_enabled_changed>(d).enabled;
    } else if (e.type == et::source_stale_after_changed) {
      r["stale_after_hours"] =
          nullable(events::decode_as<events::source_stale_after_changed>(d).stale_after_hours);
    } else if (e.type == et::source_deleted) {
      r["deleted"] = true;
      r["discovery_request_id"] = nullptr;
      r["discovery_attempt"] = nullptr;
      r["discovery_retry_at"] = nullptr;
    } else if (e.type == et::discovery_requested) {
      auto ev = events::decode_as<events::discovery_requested>(d);
      r["discovery_request_id"] = ev.request_id;
      r["discovery_requested_at"] = e.recorded_at;
      r["discovery_claim_token"] = nullable(ev.claim_token);
      r["discovery_attempt"] = 1;
      r["discovery_retry_at"] = nullptr;
    } else if (e.type == et::discovery_requeued) {
      auto ev = events::decode_as<events::discovery_requeued>(d);
      r["discovery_request_id"] = ev.request_id;
      r["discovery_requested_at"] = e.recorded_at;
      r["discovery_claim_token"] = nullptr;  // an operator's requeue is outside automation caps
      r["discovery_attempt"] = ev.attempt;
      r["discovery_retry_at"] = nullptr;
    } else if (e.type == et::discovery_attempt_failed) {
      auto ev = events::decode_as<events::discovery_attempt_failed>(d);
      r["discovery_attempt"] = ev.attempt + 1;
      r["discovery_retry_at"] = nullable(ev.retry_at);
      r["last_attempted_at"] = e.recorded_at;
      r["last_discovery_error"] = ev.error;
    } else if (e.type == et::discovery_completed) {
      auto ev = events::decode_as<events::discovery_completed>(d);
      r["discovery_request_id"] = nullptr;
      r["discovery_attempt"] = nullptr;
      r["discovery_retry_at"] = nullptr;
      r["discovery_claim_token"] = nullptr;
      r["last_checked_at"] = e.recorded_at;
      r["discovery_signature"] = nullable(ev.signature);
      r["last_discovery_error"] = nullptr;
      r["discovery_truncated"] = ev.truncated.value_or(false);
      if (ev.pending) {
        r["workflow_run_pending"] = true;
        r["workflow_run_pending_at"] = e.recorded_at;
      }
    } else if (e.type == et::discovery_failed) {
      auto ev = events::decode_as<events::discovery_failed>(d);
      r["discovery_request_id"] = nullptr;
      r["discovery_attempt"] = nullptr;
      r["discovery_retry_at"] = nullptr;
      r["discovery_claim_token"] = nullptr;
      r["last_attempted_at"] = e.recorded_at;
      r["last_discovery_error"] = ev.error;
    } else if (e.type == et::source_pending_cleared) {
      r["workflow_run_pending"] = false;
      r["workflow_run_pending_at"] = nullptr;
    } else if (e.type == et::source_execution_finished) {
      auto ev = events::decode_as<events::source_execution_finished>(d);
      if (ev.pending && !r.at("workflow_run_pending").as_bool())
        r["workflow_run_pending_at"] = e.recorded_at;
      if (!ev.pending) r["workflow_run_pending_at"] = nullptr;
      r["workflow_run_pending"] = ev.pending;
      // Events from before issue #17 carry neither field: nothing held back.
      r["execution_failures_in_row"] = ev.failures_in_row.value_or(0);
      r["automation_retry_at"] = nullable(ev.automation_retry_at);
      if (ev.last_executed_discovery_signature)
        r["last_executed_discovery_signature"] = *ev.last_executed_discovery_signature;
    }
    r["updated_at"] = e.recorded_at;
    r["stream_version"] = e.stream_version;
    rows.mark_dirty("source_registry", key);
  }
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<source_registry_projection>();
}

}  // namespace beampipe::projections::source_registry

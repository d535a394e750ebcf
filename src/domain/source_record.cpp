// The source_registry fold (see source_record.hpp). Every value comes from the event, so a
// rebuild reproduces the same rows byte for byte.
#include "domain/source_record.hpp"

#include "events/codec.hpp"
#include "events/source.hpp"
#include "events/types.hpp"

namespace beampipe::domain::source_record {
namespace json = boost::json;
namespace et = beampipe::events::type;

bool handles(std::string_view t) {
  return t == et::source_registered || t == et::source_enabled_changed ||
         t == et::source_stale_after_changed || t == et::source_deleted ||
         t == et::discovery_requested || t == et::discovery_completed ||
         t == et::discovery_failed || t == et::discovery_attempt_failed ||
         t == et::discovery_requeued || t == et::source_execution_finished ||
         t == et::source_pending_cleared;
}

namespace {

// An outstanding discovery request ends (completed, failed or the source deleted).
void end_request(row& r) {
  r.discovery_request_id.reset();
  r.discovery_attempt.reset();
  r.discovery_retry_at.reset();
}

}  // namespace

bool evolve(row& r, bool& exists, std::string_view type, const json::object& d,
            std::string_view recorded_at) {
  std::string at(recorded_at);
  if (type == et::source_registered) {
    auto ev = events::decode_as<events::source_registered>(d);
    row next = exists ? r : row{};
    // A re-registration after deletion keeps the original creation time, the discovery
    // history and the waiting flags; the outstanding request and the failure count go.
    next.project_module = ev.project_module;
    next.source_identifier = ev.source_identifier;
    next.enabled = ev.enabled;
    next.deleted = false;
    if (!exists) next.created_at = at;
    end_request(next);
    next.discovery_requested_at.reset();
    next.execution_failures_in_row.reset();
    next.automation_retry_at.reset();
    next.updated_at = at;
    r = std::move(next);
    exists = true;
    return true;
  }
  if (!exists) return false;  // cannot happen for a well-formed stream
  if (type == et::source_enabled_changed) {
    r.enabled = events::decode_as<events::source_enabled_changed>(d).enabled;
  } else if (type == et::source_stale_after_changed) {
    r.stale_after_hours =
        events::decode_as<events::source_stale_after_changed>(d).stale_after_hours;
  } else if (type == et::source_deleted) {
    r.deleted = true;
    end_request(r);
  } else if (type == et::discovery_requested) {
    auto ev = events::decode_as<events::discovery_requested>(d);
    r.discovery_request_id = ev.request_id;
    r.discovery_requested_at = at;
    r.discovery_claim_token = ev.claim_token;
    r.discovery_attempt = 1;
    r.discovery_retry_at.reset();
  } else if (type == et::discovery_requeued) {
    auto ev = events::decode_as<events::discovery_requeued>(d);
    r.discovery_request_id = ev.request_id;
    r.discovery_requested_at = at;
    r.discovery_claim_token.reset();  // an operator's requeue is outside automation caps
    r.discovery_attempt = ev.attempt;
    r.discovery_retry_at.reset();
  } else if (type == et::discovery_attempt_failed) {
    auto ev = events::decode_as<events::discovery_attempt_failed>(d);
    r.discovery_attempt = ev.attempt + 1;
    r.discovery_retry_at = ev.retry_at;
    r.last_attempted_at = at;
    r.last_discovery_error = ev.error;
  } else if (type == et::discovery_completed) {
    auto ev = events::decode_as<events::discovery_completed>(d);
    end_request(r);
    r.discovery_claim_token.reset();
    r.last_checked_at = at;
    r.discovery_signature = ev.signature;
    r.last_discovery_error.reset();
    r.discovery_truncated = ev.truncated.value_or(false);
    if (ev.pending) {
      r.workflow_run_pending = true;
      r.workflow_run_pending_at = at;
    }
  } else if (type == et::discovery_failed) {
    auto ev = events::decode_as<events::discovery_failed>(d);
    end_request(r);
    r.discovery_claim_token.reset();
    r.last_attempted_at = at;
    r.last_discovery_error = ev.error;
  } else if (type == et::source_pending_cleared) {
    r.workflow_run_pending = false;
    r.workflow_run_pending_at.reset();
  } else if (type == et::source_execution_finished) {
    auto ev = events::decode_as<events::source_execution_finished>(d);
    if (ev.pending && !r.workflow_run_pending) r.workflow_run_pending_at = at;
    if (!ev.pending) r.workflow_run_pending_at.reset();
    r.workflow_run_pending = ev.pending;
    // Events from before issue #17 carry neither field: nothing held back.
    r.execution_failures_in_row = ev.failures_in_row.value_or(0);
    r.automation_retry_at = ev.automation_retry_at;
    if (ev.last_executed_discovery_signature)
      r.last_executed_discovery_signature = *ev.last_executed_discovery_signature;
  } else {
    return false;
  }
  r.updated_at = at;
  return true;
}

json::object columns(const row& r) { return events::encode(r); }

row from_columns(const json::object& columns) { return events::decode_as<row>(columns); }

std::string discovery_state(const row& r) {
  if (r.discovery_request_id) return "requested";
  if (r.last_discovery_error) return "failed";
  return r.last_checked_at ? "checked" : "never";
}

}  // namespace beampipe::domain::source_record

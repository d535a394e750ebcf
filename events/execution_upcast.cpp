// Version 1 execution payloads (the ledger-row envelope) lifted to the version 2 facts. Each
// reads the fact back from the columns the v1 decider wrote, and from its provenance record
// where the row did not keep it (a retry's or a redeploy's reason). Nothing in the store is
// rewritten: this runs whenever a v1 event is read.
#include "events/execution_upcast.hpp"

namespace beampipe::events {
namespace json = boost::json;

namespace {

const json::value& at(const json::object& o, std::string_view k) {
  static const json::value null_value;
  auto it = o.find(k);
  return it == o.end() ? null_value : it->value();
}

const json::object& object_at(const json::object& o, std::string_view k) {
  static const json::object empty;
  const auto& v = at(o, k);
  return v.is_object() ? v.as_object() : empty;
}

// A v1 column holding text: anything else was never written by a decider and reads as null.
json::value text_or_null(const json::value& v) { return v.is_string() ? v : json::value(nullptr); }
json::value text_or_empty(const json::value& v) { return v.is_string() ? v : json::value(""); }

// The v1 envelope's row patch, taken off the payload (with its stamps and merges).
json::object take_after(json::object& d) {
  json::object after = object_at(d, "after");
  for (const char* k : {"after", "stamp", "stamp_once", "run_record_merge"}) d.erase(k);
  return after;
}

// The payload of the first provenance record of `event_type` the v1 event carried.
const json::object& record_of(const json::object& d, std::string_view event_type) {
  static const json::object empty;
  const auto& prov = at(d, "provenance");
  if (prov.is_array())
    for (const auto& p : prov.as_array())
      if (p.is_object() && at(p.as_object(), "event_type") == json::value(event_type))
        return object_at(p.as_object(), "payload");
  return empty;
}

void copy_execute_request(json::object& d, const json::object& req) {
  d["do_stage"] = at(req, "do_stage").is_bool() ? at(req, "do_stage") : json::value(true);
  d["do_submit"] = at(req, "do_submit").is_bool() ? at(req, "do_submit") : json::value(true);
  d["attempt"] = at(req, "attempt").is_int64() ? at(req, "attempt") : json::value(0);
  d["requested_by"] = text_or_empty(at(req, "requested_by"));
  d["correlation_id"] = text_or_null(at(req, "correlation_id"));
}

void execute_requested(json::object& d) {
  auto after = take_after(d);
  copy_execute_request(d, object_at(after, "execute_request"));
}

void retry_requested(json::object& d) {
  auto after = take_after(d);
  copy_execute_request(d, object_at(after, "execute_request"));
  d["reason"] = text_or_empty(at(record_of(d, "execution.retry_requested"), "reason"));
  d["stage"] = text_or_empty(at(after, "retry_stage"));
}

void manifest_prepared(json::object& d) {
  auto after = take_after(d);
  d["manifest"] = object_at(after, "workflow_manifest");
  d["manifest_sha256"] = text_or_empty(at(after, "manifest_sha256"));
  d["source_graph_sha256"] = text_or_null(at(after, "source_graph_sha256"));
  d["patched_graph_sha256"] = text_or_null(at(after, "patched_graph_sha256"));
  d["submit_next"] = at(after, "execution_phase") == json::value("submit");
}

void submission_intended(json::object& d) {
  auto after = take_after(d);
  d["session_id"] = text_or_empty(at(after, "daliuge_session_id"));
  d["backend"] = text_or_empty(at(after, "backend_kind"));
  d["manager_url"] = text_or_null(at(after, "daliuge_manager_url"));
  d["target_fingerprint"] = text_or_null(at(after, "target_fingerprint"));
  d["deadline_at"] = text_or_null(at(after, "submission_deadline_at"));
  d["node"] = text_or_null(at(after, "submission_node"));
}

void cancel_requested(json::object& d) {
  auto after = take_after(d);
  d["reason"] = text_or_null(at(after, "cancel_reason"));
}

void cancel_unconfirmed(json::object& d) {
  take_after(d);
  const auto& rec = record_of(d, "execution.cancel_unconfirmed");
  d["attempts"] = at(rec, "attempts").is_int64() ? at(rec, "attempts") : json::value(nullptr);
  d["error"] = text_or_empty(at(rec, "error"));
}

void redeploy_intended(json::object& d) {
  take_after(d);
  const auto& rec = record_of(d, "execution.redeploy_intended");
  d["session_state"] = text_or_null(at(rec, "session_state"));
  d["reason"] = text_or_empty(at(rec, "reason"));
}

void sources_finalized(json::object& d) { take_after(d); }

void started(json::object& d) {
  auto after = take_after(d);
  d["resubmit"] = at(after, "execution_phase") == json::value("submit");
}

void not_submitted(json::object& d) { take_after(d); }

void failed(json::object& d) {
  auto after = take_after(d);
  d["error"] = text_or_empty(at(after, "last_error"));
  d["failure_class"] = text_or_null(at(after, "failure_class"));
  d["submission_failed"] = at(after, "submission_state") == json::value("failed");
}

// Where a v1 row patch set a column, the fact carries it as it was.
void copy_if_set(json::object& d, const json::object& after, std::string_view from,
                 std::string_view to) {
  if (auto it = after.find(from); it != after.end()) d[to] = it->value();
}

json::value outcome_of(const json::object& after) {
  return text_or_null(at(after, "terminal_outcome"));
}

void created(json::object& d) {
  auto after = take_after(d);
  for (const char* k :
       {"archive_name", "sources", "created_by", "deployment_profile_id",
        "deployment_profile_snapshot", "project_config_id", "project_config_version",
        "project_spec_sha256", "discovery_signature", "source_signatures",
        "output_verification_required", "output_verification_policy"})
    d[k] = at(after, k);
  d["archive_name"] = text_or_empty(d["archive_name"]);
  d["created_by"] = text_or_empty(d["created_by"]);
  if (!d["sources"].is_array()) d["sources"] = json::array{};
  d["deployment_profile_id"] = text_or_null(d["deployment_profile_id"]);
  d["project_config_id"] = text_or_null(d["project_config_id"]);
  d["output_verification_required"] =
      at(after, "output_verification_required") == json::value(true);
  d["idempotency_key"] = at(after, "create_idempotency_key");
  d["request_sha256"] = at(after, "create_request_sha256");
  if (at(after, "scheduler_name") == json::value("workflow_auto")) {
    const auto& rr = object_at(object_at(after, "workflow_manifest"), "beampipe_run_record");
    const auto& admission = object_at(rr, "scheduler");
    d["automation"] = json::object{{"claim_token", at(admission, "claim_token")},
                                   {"queue_depth", at(admission, "queue_depth")}};
  }
}

void recorded(json::object& d) {
  auto merge = at(d, "run_record_merge");
  auto after = take_after(d);
  d["receipt_sha256"] = text_or_empty(at(after, "submission_receipt_sha256"));
  d["scheduler_name"] = at(after, "scheduler_name");
  d["scheduler_job_id"] = at(after, "scheduler_job_id");
  d["after_abandonment"] = false;
  if (at(after, "submission_detected_after_abandonment") == json::value(true) &&
      !after.contains("submission_state")) {
    d["after_abandonment"] = true;
    d["scheduler_state"] = "";
    d["daliuge_state"] = "";
    d["status"] = "";
    return;
  }
  for (const char* k : {"remote_session_dir", "staging_root", "physical_graph_sha256"})
    d[k] = at(after, k);
  copy_if_set(d, after, "daliuge_manager_url", "manager_url");
  d["scheduler_state"] = text_or_empty(at(after, "scheduler_state"));
  d["daliuge_state"] = text_or_empty(at(after, "daliuge_state"));
  d["status"] = text_or_empty(at(after, "status"));
  d["outcome"] = outcome_of(after);
  if (merge.is_object()) d["run_record"] = merge;
}

void uncertain(json::object& d) {
  auto after = take_after(d);
  d["error"] = text_or_empty(at(after, "last_error"));
  d["failure_class"] = at(after, "failure_class");
  copy_if_set(d, after, "remote_session_dir", "remote_session_dir");
  copy_if_set(d, after, "staging_root", "staging_root");
  d["status"] = text_or_empty(at(after, "status"));
}

void abandoned(json::object& d) {
  auto after = take_after(d);
  auto reason = at(record_of(d, "execution.submission_abandoned"), "reason");
  if (!reason.is_string()) {  // the row kept it behind a fixed prefix
    std::string_view error = at(after, "last_error").is_string()
                                 ? std::string_view(at(after, "last_error").as_string())
                                 : std::string_view();
    constexpr std::string_view prefix = "submission abandoned by operator: ";
    reason = error.substr(0, prefix.size()) == prefix ? json::value(error.substr(prefix.size()))
                                                      : json::value("");
  }
  d["reason"] = reason;
}

void outputs_verified(json::object& d) {
  auto after = take_after(d);
  const auto& rec = record_of(d, "execution.outputs_verified");
  for (const char* k : {"inventory_sha256", "products", "durable_destination_uri", "receipt_id"})
    d[k] = at(rec, k);
  d["status"] = text_or_empty(at(after, "status"));
  d["outcome"] = outcome_of(after);
}

void observed(json::object& d) {
  auto merge = at(d, "run_record_merge");
  auto after = take_after(d);
  if (after.contains("scheduler_job_id")) {
    json::object adoption{{"scheduler_job_id", text_or_empty(at(after, "scheduler_job_id"))},
                          {"scheduler_name", at(after, "scheduler_name")},
                          {"first", at(after, "adopted_by_lookup") == json::value(true)}};
    for (const char* k : {"remote_session_dir", "staging_root", "physical_graph_sha256"})
      copy_if_set(adoption, after, k, k);
    if (at(after, "submission_receipt_sha256").is_string())
      adoption["receipt_sha256"] = at(after, "submission_receipt_sha256");
    d["adoption"] = std::move(adoption);
  }
  d["submission_state"] = text_or_empty(at(after, "submission_state"));
  d["scheduler_state"] = text_or_empty(at(after, "scheduler_state"));
  d["daliuge_state"] = text_or_empty(at(after, "daliuge_state"));
  d["raw_state"] = text_or_empty(at(after, "scheduler_raw_state"));
  d["reason"] = text_or_empty(at(after, "scheduler_reason"));
  copy_if_set(d, after, "daliuge_raw_status", "daliuge_raw_status");
  d["status"] = text_or_empty(at(after, "status"));
  d["outcome"] = outcome_of(after);
  d["error"] = text_or_null(at(after, "last_error"));
  // Builds before issue #17 left the class of a run that completed after all as it was.
  if (after.contains("failure_class"))
    d["failure_class"] = json::object{{"to", text_or_null(at(after, "failure_class"))}};
  const auto& phase = at(after, "control_phase");
  d["control_phase"] =
      phase == json::value("monitoring") || phase == json::value("output_verification")
          ? phase
          : json::value(nullptr);
  d["outputs_pending"] = at(after, "output_state") == json::value("pending");
  d["reconciliation_code"] = text_or_null(at(after, "reconciliation_code"));
  d["poll_budget_exhausted"] = at(after, "poll_budget_exhausted") == json::value(true);
  d["lookup_budget_exhausted"] = at(after, "lookup_budget_exhausted") == json::value(true);
  if (const auto& h = at(after, "lookup_history");
      h.is_array() && !h.as_array().empty() && h.as_array().back().is_object())
    d["lookup"] = h.as_array().back();
  if (merge.is_object()) d["run_record"] = merge;
}

void cancelled(json::object& d) {
  auto after = take_after(d);
  d["reason"] = text_or_null(at(after, "cancel_reason"));
}

}  // namespace

std::vector<std::pair<std::string_view, upcaster>> execution_v1_upcasters() {
  return {{type::execution_execute_requested, execute_requested},
          {type::execution_retry_requested, retry_requested},
          {type::execution_manifest_prepared, manifest_prepared},
          {type::submission_intended, submission_intended},
          {type::execution_cancel_requested, cancel_requested},
          {type::execution_cancel_unconfirmed, cancel_unconfirmed},
          {type::submission_redeploy_intended, redeploy_intended},
          {type::execution_sources_finalized, sources_finalized},
          {type::execution_started, started},
          {type::execution_not_submitted, not_submitted},
          {type::execution_failed, failed},
          {type::execution_cancelled, cancelled},
          {type::execution_created, created},
          {type::submission_recorded, recorded},
          {type::submission_uncertain, uncertain},
          {type::submission_abandoned, abandoned},
          {type::execution_outputs_verified, outputs_verified},
          {type::execution_observed, observed}};
}

}  // namespace beampipe::events

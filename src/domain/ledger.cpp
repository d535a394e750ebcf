// Execution events are facts (events/execution.hpp): what each does to the row is said here,
// once, so the ledger table can change without touching history. A control phase the run
// enters is also timed in phase_timestamps.
#include "domain/ledger.hpp"

#include "domain/execution_fsm.hpp"
#include "events/execution.hpp"
#include "events/types.hpp"
#include "util/json.hpp"

namespace beampipe::domain::ledger {
namespace json = boost::json;
namespace et = beampipe::events::type;

namespace {

// Objects merge key by key; anything else replaces. Legacy "observations" arrays are dropped
// on merge (§8.1).
void deep_merge(json::object& into, const json::object& patch) {
  for (const auto& kv : patch) {
    auto it = into.find(kv.key());
    if (it != into.end() && it->value().is_object() && kv.value().is_object())
      deep_merge(it->value().as_object(), kv.value().as_object());
    else
      into[kv.key()] = kv.value();
  }
  into.erase("observations");
}

void control_phase(row& r, std::string_view phase, std::string_view at) {
  r["control_phase"] = phase;
  auto& pts = r["phase_timestamps"];
  if (!pts.is_object()) pts = json::object{};
  pts.as_object()[phase] = at;
}

json::object execute_request(const events::execute_request_fact& f,
                             const events::execution_fact& h) {
  return {
      {"do_stage", f.do_stage},         {"do_submit", f.do_submit},
      {"attempt", f.attempt},           {"job_id", util::text_or_null(h.job_id)},
      {"requested_by", f.requested_by}, {"correlation_id", util::text_or_null(f.correlation_id)}};
}

// A status change with its §2.2 bookkeeping: when the run started and ended, the terminal
// phase and the outcome (the first one recorded stands). True when the run ended with it.
bool status(row& r, std::string_view to, std::optional<std::string_view> outcome,
            std::string_view at) {
  auto from = r.contains("status") ? r.at("status") : json::value(nullptr);
  r["status"] = to;
  if (from == json::value(to)) return false;
  auto stamp_once = [&](std::string_view col) {
    if (!r.contains(col) || r.at(col).is_null()) r[col] = at;
  };
  if (to == "running") stamp_once("started_at");
  auto parsed = parse_execution_status(to);
  if (!parsed || !is_terminal(*parsed)) return false;
  stamp_once("completed_at");
  control_phase(r, "terminal", at);
  r["execution_phase"] = nullptr;
  if (!outcome) {
    if (to == "completed") outcome = "succeeded";
    if (to == "failed") outcome = "failed";
    if (to == "cancelled") outcome = "cancelled";
  }
  if (outcome && (!r.contains("terminal_outcome") || r.at("terminal_outcome").is_null()))
    r["terminal_outcome"] = *outcome;
  if (to == "completed") r["last_error"] = nullptr;
  return true;
}

std::optional<std::string_view> view(const std::optional<std::string>& v) {
  return v ? std::optional<std::string_view>(*v) : std::nullopt;
}

// The facts, one overload per version 2 type.
void apply(row& r, const events::execution_created& e, std::string_view at) {
  const auto* snapshot = e.deployment_profile_snapshot.is_object()
                             ? &e.deployment_profile_snapshot.as_object()
                             : nullptr;
  json::object fresh{
      {"uuid", e.uuid},
      {"project_module", e.project_module},
      {"archive_name", e.archive_name},
      {"sources", e.sources},
      {"created_by", e.created_by},
      {"deployment_profile_id", util::text_or_null(e.deployment_profile_id)},
      {"deployment_profile_revision",
       snapshot && snapshot->contains("revision") ? snapshot->at("revision") : json::value()},
      {"deployment_profile_snapshot", e.deployment_profile_snapshot},
      {"project_config_id", util::text_or_null(e.project_config_id)},
      {"project_config_version", e.project_config_version},
      {"project_spec_sha256", e.project_spec_sha256},
      {"discovery_signature", e.discovery_signature},
      {"source_signatures", e.source_signatures},
      {"output_verification_required", e.output_verification_required},
      {"output_verification_policy", e.output_verification_policy},
      {"create_idempotency_key", e.idempotency_key},
      {"create_request_sha256", e.request_sha256},
      {"status", "pending"},
      {"retry_count", 0},
      {"last_error", nullptr},
      {"execution_phase", nullptr},
      {"submission_state", "not_started"},
      {"scheduler_state", "not_submitted"},
      {"daliuge_state", "not_created"},
      {"output_state", "not_started"},
      {"terminal_outcome", nullptr},
      {"scheduler_name", nullptr},
      {"scheduler_job_id", nullptr},
      {"execute_request", nullptr},
      {"cancel_requested", false},
      {"sources_finalized", false}};
  for (auto& kv : fresh) r[kv.key()] = std::move(kv.value());
  if (e.automation) {
    r["scheduler_name"] = "workflow_auto";
    r["workflow_manifest"] = json::object{
        {"beampipe_run_record",
         json::object{{"scheduler", json::object{{"policy_decision", "admitted"},
                                                 {"claim_token", e.automation->claim_token},
                                                 {"admitted_source_count", e.sources.size()},
                                                 {"queue_depth", e.automation->queue_depth}}}}}};
  }
  control_phase(r, "admitted", at);
}

void apply(row& r, const events::submission_recorded& e, std::string_view at) {
  r["scheduler_name"] = e.scheduler_name;
  r["scheduler_job_id"] = e.scheduler_job_id;
  r["submission_receipt_sha256"] = e.receipt_sha256;
  if (e.after_abandonment) {  // §12.3: kept and flagged; the ledger stays as it was
    r["submission_detected_after_abandonment"] = true;
    return;
  }
  r["submission_state"] = "submitted";
  r["remote_session_dir"] = e.remote_session_dir;
  r["staging_root"] = e.staging_root;
  r["physical_graph_sha256"] = e.physical_graph_sha256;
  if (e.manager_url) r["daliuge_manager_url"] = *e.manager_url;
  r["scheduler_state"] = e.scheduler_state;
  r["daliuge_state"] = e.daliuge_state;
  if (!status(r, e.status, view(e.outcome), at)) control_phase(r, "submitted", at);
  r["last_error"] = nullptr;
  if (e.run_record) merge_run_record(r, *e.run_record);
}

void apply(row& r, const events::submission_uncertain& e, std::string_view at) {
  r["submission_state"] = "uncertain";
  status(r, e.status, std::nullopt, at);
  r["last_error"] = e.error;
  r["failure_class"] = e.failure_class;
  if (e.remote_session_dir) r["remote_session_dir"] = *e.remote_session_dir;
  if (e.staging_root) r["staging_root"] = *e.staging_root;
}

void apply(row& r, const events::submission_abandoned& e, std::string_view at) {
  r["last_error"] = abandonment_error(e.reason);
  r["failure_class"] = "abandoned";
  r["submission_abandoned"] = true;
  r["submission_abandoned_at"] = at;
  status(r, "failed", "inconsistent", at);
}

void apply(row& r, const events::execution_outputs_verified& e, std::string_view at) {
  r["output_state"] = "verified";
  status(r, e.status, view(e.outcome), at);
}

void apply(row& r, const events::execution_observed& e, std::string_view at) {
  if (const auto& a = e.adoption) {
    r["scheduler_job_id"] = a->scheduler_job_id;
    r["scheduler_name"] = a->scheduler_name;
    if (a->remote_session_dir) r["remote_session_dir"] = *a->remote_session_dir;
    if (a->staging_root) r["staging_root"] = *a->staging_root;
    if (a->physical_graph_sha256) r["physical_graph_sha256"] = *a->physical_graph_sha256;
    if (a->first) {  // it runs: the error of the submission that lost its answer is history
      r["adopted_by_lookup"] = true;
      r["last_error"] = nullptr;
      r["failure_class"] = nullptr;
    }
    if (a->receipt_sha256) r["submission_receipt_sha256"] = *a->receipt_sha256;
  }
  r["submission_state"] = e.submission_state;
  r["scheduler_state"] = e.scheduler_state;
  r["daliuge_state"] = e.daliuge_state;
  r["scheduler_raw_state"] = e.raw_state;
  r["scheduler_reason"] = e.reason;
  if (e.daliuge_raw_status) r["daliuge_raw_status"] = *e.daliuge_raw_status;
  r["last_reconciled_at"] = at;
  if (e.status == "failed") r["last_error"] = util::text_or_null(e.error);
  if (e.failure_class) r["failure_class"] = util::text_or_null(e.failure_class->to);
  if (e.outputs_pending) r["output_state"] = "pending";
  bool ended = status(r, e.status, view(e.outcome), at);
  if (!ended && e.control_phase) control_phase(r, *e.control_phase, at);
  if (e.reconciliation_code) r["reconciliation_code"] = *e.reconciliation_code;
  if (e.poll_budget_exhausted) r["poll_budget_exhausted"] = true;
  if (e.lookup_budget_exhausted) r["lookup_budget_exhausted"] = true;
  if (e.lookup) {
    auto& h = r["lookup_history"];
    if (!h.is_array()) h = json::array{};
    h.as_array().push_back(events::encode(*e.lookup));
    if (h.as_array().size() > 32) h.as_array().erase(h.as_array().begin());
  }
  if (e.run_record) merge_run_record(r, *e.run_record);
}

void apply(row& r, const events::execution_started& e, std::string_view at) {
  status(r, "running", std::nullopt, at);
  r["execution_phase"] = e.resubmit ? "submit" : "stage_and_manifest";
  r["submission_state"] = "not_started";
  control_phase(r, e.resubmit ? "graph_patched" : "admitted", at);
}

void apply(row& r, const events::execution_not_submitted&, std::string_view at) {
  status(r, "not_submitted", std::nullopt, at);
}

void apply(row& r, const events::execution_failed& e, std::string_view at) {
  if (e.submission_failed) r["submission_state"] = "failed";
  r["last_error"] = e.error;
  r["failure_class"] = util::text_or_null(e.failure_class);
  status(r, "failed", "failed", at);
}

void apply(row& r, const events::execution_cancelled& e, std::string_view at) {
  status(r, "cancelled", "cancelled", at);
  r["cancel_reason"] = util::text_or_null(e.reason);
}

void apply(row& r, const events::execution_execute_requested& e, std::string_view at) {
  r["execute_request"] = execute_request(e, e);
  r["execute_requested_at"] = at;
}

void apply(row& r, const events::execution_retry_requested& e, std::string_view at) {
  bool submit = e.stage == "submit";  // the manifest is kept: only the submission reruns
  r["status"] = "retrying";
  r["retry_count"] = e.attempt;
  r["terminal_outcome"] = nullptr;
  r["submission_state"] = "not_started";
  r["execution_phase"] = submit ? json::value("submit") : json::value(nullptr);
  r["completed_at"] = nullptr;
  r["retry_stage"] = e.stage;
  r["execute_request"] = execute_request(e, e);
  control_phase(r, submit ? "graph_patched" : "admitted", at);
}

void apply(row& r, const events::execution_manifest_prepared& e, std::string_view at) {
  r["workflow_manifest"] = e.manifest;
  r["manifest_sha256"] = e.manifest_sha256;
  r["source_graph_sha256"] = util::text_or_null(e.source_graph_sha256);
  r["patched_graph_sha256"] = util::text_or_null(e.patched_graph_sha256);
  if (e.submit_next) r["execution_phase"] = "submit";
  control_phase(r, "graph_patched", at);
}

void apply(row& r, const events::submission_intended& e, std::string_view at) {
  r["submission_state"] = "in_flight";
  r["daliuge_session_id"] = e.session_id;
  r["backend_kind"] = e.backend;
  r["daliuge_manager_url"] = util::text_or_null(e.manager_url);
  r["target_fingerprint"] = util::text_or_null(e.target_fingerprint);
  r["submission_deadline_at"] = util::text_or_null(e.deadline_at);
  r["submission_node"] = util::text_or_null(e.node);
  r["submission_intent_at"] = at;
  control_phase(r, "submission_pending", at);
}

void apply(row& r, const events::execution_cancel_requested& e, std::string_view at) {
  r["cancel_requested"] = true;
  r["cancel_unconfirmed"] = false;
  r["cancel_reason"] = util::text_or_null(e.reason);
  r["cancel_requested_at"] = at;
}

void apply(row& r, const events::execution_cancel_unconfirmed&, std::string_view) {
  r["cancel_requested"] = false;
  r["cancel_unconfirmed"] = true;
  r["reconciliation_code"] = "cancel_unconfirmed";
}

void apply(row& r, const events::submission_redeploy_intended&, std::string_view at) {
  r["redeploy_intended_at"] = at;
}

void apply(row& r, const events::execution_sources_finalized&, std::string_view) {
  r["sources_finalized"] = true;
}

template <class Fact>
bool apply_as(row& r, std::string_view type, const json::object& d, std::string_view at) {
  if (type != Fact::kType) return false;
  apply(r, events::decode_as<Fact>(d), at);
  return true;
}

// A version 2 fact: applied and true; a version 1 envelope: false.
bool apply_fact(row& r, std::string_view type, const json::object& d, std::string_view at) {
  namespace ev = beampipe::events;
  return apply_as<ev::execution_created>(r, type, d, at) ||
         apply_as<ev::submission_recorded>(r, type, d, at) ||
         apply_as<ev::submission_uncertain>(r, type, d, at) ||
         apply_as<ev::submission_abandoned>(r, type, d, at) ||
         apply_as<ev::execution_outputs_verified>(r, type, d, at) ||
         apply_as<ev::execution_observed>(r, type, d, at) ||
         apply_as<ev::execution_started>(r, type, d, at) ||
         apply_as<ev::execution_not_submitted>(r, type, d, at) ||
         apply_as<ev::execution_failed>(r, type, d, at) ||
         apply_as<ev::execution_cancelled>(r, type, d, at) ||
         apply_as<ev::execution_execute_requested>(r, type, d, at) ||
         apply_as<ev::execution_retry_requested>(r, type, d, at) ||
         apply_as<ev::execution_manifest_prepared>(r, type, d, at) ||
         apply_as<ev::submission_intended>(r, type, d, at) ||
         apply_as<ev::execution_cancel_requested>(r, type, d, at) ||
         apply_as<ev::execution_cancel_unconfirmed>(r, type, d, at) ||
         apply_as<ev::submission_redeploy_intended>(r, type, d, at) ||
         apply_as<ev::execution_sources_finalized>(r, type, d, at);
}

}  // namespace

std::string abandonment_error(std::string_view reason) {
  return "submission abandoned by operator: " + std::string(reason);
}

void merge_run_record(row& r, const json::object& patch) {
  auto& wm = r["workflow_manifest"];
  if (!wm.is_object()) wm = json::object{};
  auto& rr = wm.as_object()["beampipe_run_record"];
  if (!rr.is_object()) rr = json::object{};
  deep_merge(rr.as_object(), patch);
}

void evolve(row& r, std::string_view type, const json::object& d, std::string_view recorded_at) {
  if (type == et::execution_created)
    r = row{{"created_at", recorded_at},
            {"phase_timestamps", json::object{}},
            {"workflow_manifest", nullptr}};
  // Every execution type decodes to its fact; anything else leaves the row as it is.
  if (apply_fact(r, type, d, recorded_at)) r["updated_at"] = recorded_at;
}

}  // namespace beampipe::domain::ledger

// Execution events are facts (events/execution.hpp): what each does to the row is said here,
// once, so the ledger table can change without touching history. A control phase the run
// enters is also timed in phase_timestamps.
#include "domain/ledger.hpp"

#include "domain/execution_fsm.hpp"
#include "events/codec.hpp"
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

// A document value (as a command or a backend gave it) for a text column: text as it is, any
// other JSON as its text, which is what the column made of it before the row had a type.
maybe_text text_of(const json::value& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return std::string(v.get_string());
  return json::serialize(v);
}

// A document value for an integer column; anything but an integer is none.
std::optional<int64_t> integer_of(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v.get_uint64());
  return std::nullopt;
}

void control_phase(row& r, std::string_view phase, std::string_view at) {
  r.control_phase = phase;
  if (!r.phase_timestamps.is_object()) r.phase_timestamps = json::object{};
  r.phase_timestamps.get_object()[phase] = at;
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
  bool same = r.status == to;
  r.status = to;
  if (same) return false;
  auto stamp_once = [&](maybe_text& col) {
    if (!col) col = std::string(at);
  };
  if (to == "running") stamp_once(r.started_at);
  auto parsed = parse_execution_status(to);
  if (!parsed || !is_terminal(*parsed)) return false;
  stamp_once(r.completed_at);
  control_phase(r, "terminal", at);
  r.execution_phase.reset();
  if (!outcome) {
    if (to == "completed") outcome = "succeeded";
    if (to == "failed") outcome = "failed";
    if (to == "cancelled") outcome = "cancelled";
  }
  if (outcome && !r.terminal_outcome) r.terminal_outcome = std::string(*outcome);
  if (to == "completed") r.last_error.reset();
  return true;
}

std::optional<std::string_view> view(const std::optional<std::string>& v) {
  return v ? std::optional<std::string_view>(*v) : std::nullopt;
}

// The facts, one overload per version 2 type.
void apply(row& r, const events::execution_created& e, std::string_view at) {
  const auto* snapshot = e.deployment_profile_snapshot.if_object();
  r = row{};
  r.created_at = at;
  r.uuid = e.uuid;
  r.project_module = e.project_module;
  r.archive_name = e.archive_name;
  r.sources = e.sources;
  r.created_by = e.created_by;
  r.deployment_profile_id = e.deployment_profile_id;
  if (snapshot)
    if (const auto* rev = snapshot->if_contains("revision"))
      r.deployment_profile_revision = integer_of(*rev);
  r.deployment_profile_snapshot = e.deployment_profile_snapshot;
  r.project_config_id = e.project_config_id;
  r.project_config_version = integer_of(e.project_config_version);
  r.project_spec_sha256 = text_of(e.project_spec_sha256);
  r.discovery_signature = text_of(e.discovery_signature);
  r.source_signatures = e.source_signatures;
  r.output_verification_required = e.output_verification_required;
  r.output_verification_policy = e.output_verification_policy;
  r.create_idempotency_key = text_of(e.idempotency_key);
  r.create_request_sha256 = text_of(e.request_sha256);
  r.status = "pending";
  r.submission_state = "not_started";
  r.scheduler_state = "not_submitted";
  r.daliuge_state = "not_created";
  r.output_state = "not_started";
  r.phase_timestamps = json::object{};
  if (e.automation) {
    r.scheduler_name = "workflow_auto";
    r.workflow_manifest = json::object{
        {"beampipe_run_record",
         json::object{{"scheduler", json::object{{"policy_decision", "admitted"},
                                                 {"claim_token", e.automation->claim_token},
                                                 {"admitted_source_count", e.sources.size()},
                                                 {"queue_depth", e.automation->queue_depth}}}}}};
  }
  control_phase(r, "admitted", at);
}

void apply(row& r, const events::submission_recorded& e, std::string_view at) {
  r.scheduler_name = text_of(e.scheduler_name);
  r.scheduler_job_id = text_of(e.scheduler_job_id);
  r.submission_receipt_sha256 = e.receipt_sha256;
  if (e.after_abandonment) {  // §12.3: kept and flagged; the ledger stays as it was
    r.submission_detected_after_abandonment = true;
    return;
  }
  r.submission_state = "submitted";
  r.remote_session_dir = text_of(e.remote_session_dir);
  r.staging_root = text_of(e.staging_root);
  r.physical_graph_sha256 = text_of(e.physical_graph_sha256);
  if (e.manager_url) r.daliuge_manager_url = text_of(*e.manager_url);
  r.scheduler_state = e.scheduler_state;
  r.daliuge_state = e.daliuge_state;
  if (!status(r, e.status, view(e.outcome), at)) control_phase(r, "submitted", at);
  r.last_error.reset();
  if (e.run_record) merge_run_record(r.workflow_manifest, *e.run_record);
}

void apply(row& r, const events::submission_uncertain& e, std::string_view at) {
  r.submission_state = "uncertain";
  status(r, e.status, std::nullopt, at);
  r.last_error = e.error;
  r.failure_class = text_of(e.failure_class);
  if (e.remote_session_dir) r.remote_session_dir = text_of(*e.remote_session_dir);
  if (e.staging_root) r.staging_root = text_of(*e.staging_root);
}

void apply(row& r, const events::submission_abandoned& e, std::string_view at) {
  r.last_error = abandonment_error(e.reason);
  r.failure_class = "abandoned";
  r.submission_abandoned = true;
  r.submission_abandoned_at = at;
  status(r, "failed", "inconsistent", at);
}

void apply(row& r, const events::execution_outputs_verified& e, std::string_view at) {
  r.output_state = "verified";
  status(r, e.status, view(e.outcome), at);
}

void apply(row& r, const events::execution_observed& e, std::string_view at) {
  if (const auto& a = e.adoption) {
    r.scheduler_job_id = a->scheduler_job_id;
    r.scheduler_name = text_of(a->scheduler_name);
    if (a->remote_session_dir) r.remote_session_dir = text_of(*a->remote_session_dir);
    if (a->staging_root) r.staging_root = text_of(*a->staging_root);
    if (a->physical_graph_sha256) r.physical_graph_sha256 = text_of(*a->physical_graph_sha256);
    if (a->first) {  // it runs: the error of the submission that lost its answer is history
      r.adopted_by_lookup = true;
      r.last_error.reset();
      r.failure_class.reset();
    }
    if (a->receipt_sha256) r.submission_receipt_sha256 = *a->receipt_sha256;
  }
  r.submission_state = e.submission_state;
  r.scheduler_state = e.scheduler_state;
  r.daliuge_state = e.daliuge_state;
  r.scheduler_raw_state = e.raw_state;
  r.scheduler_reason = e.reason;
  if (e.daliuge_raw_status) r.daliuge_raw_status = *e.daliuge_raw_status;
  r.last_reconciled_at = at;
  if (e.status == "failed") r.last_error = e.error;
  if (e.failure_class) r.failure_class = e.failure_class->to;
  if (e.outputs_pending) r.output_state = "pending";
  bool ended = status(r, e.status, view(e.outcome), at);
  if (!ended && e.control_phase) control_phase(r, *e.control_phase, at);
  if (e.reconciliation_code) r.reconciliation_code = *e.reconciliation_code;
  if (e.poll_budget_exhausted) r.poll_budget_exhausted = true;
  if (e.lookup_budget_exhausted) r.lookup_budget_exhausted = true;
  if (e.lookup) {
    if (!r.lookup_history.is_array()) r.lookup_history = json::array{};
    auto& h = r.lookup_history.get_array();
    h.push_back(events::encode(*e.lookup));
    if (h.size() > 32) h.erase(h.begin());
  }
  if (e.run_record) merge_run_record(r.workflow_manifest, *e.run_record);
}

void apply(row& r, const events::execution_started& e, std::string_view at) {
  status(r, "running", std::nullopt, at);
  r.execution_phase = e.resubmit ? "submit" : "stage_and_manifest";
  r.submission_state = "not_started";
  control_phase(r, e.resubmit ? "graph_patched" : "admitted", at);
}

void apply(row& r, const events::execution_not_submitted&, std::string_view at) {
  status(r, "not_submitted", std::nullopt, at);
}

void apply(row& r, const events::execution_failed& e, std::string_view at) {
  if (e.submission_failed) r.submission_state = "failed";
  r.last_error = e.error;
  r.failure_class = e.failure_class;
  if (e.wasm_hooks) r.wasm_hooks = events::codec::to_json(*e.wasm_hooks);
  status(r, "failed", "failed", at);
}

void apply(row& r, const events::execution_cancelled& e, std::string_view at) {
  status(r, "cancelled", "cancelled", at);
  r.cancel_reason = e.reason;
}

void apply(row& r, const events::execution_execute_requested& e, std::string_view at) {
  r.execute_request = execute_request(e, e);
  r.execute_requested_at = at;
}

void apply(row& r, const events::execution_retry_requested& e, std::string_view at) {
  bool submit = e.stage == "submit";  // the manifest is kept: only the submission reruns
  r.status = "retrying";
  r.retry_count = e.attempt;
  r.terminal_outcome.reset();
  r.submission_state = "not_started";
  r.execution_phase = submit ? maybe_text("submit") : std::nullopt;
  r.completed_at.reset();
  r.retry_stage = e.stage;
  r.execute_request = execute_request(e, e);
  control_phase(r, submit ? "graph_patched" : "admitted", at);
}

void apply(row& r, const events::execution_manifest_prepared& e, std::string_view at) {
  r.workflow_manifest = e.manifest;
  r.manifest_sha256 = e.manifest_sha256;
  r.source_graph_sha256 = e.source_graph_sha256;
  r.patched_graph_sha256 = e.patched_graph_sha256;
  r.wasm_hooks = e.wasm_hooks ? json::value(events::codec::to_json(*e.wasm_hooks)) : json::value();
  if (e.submit_next) r.execution_phase = "submit";
  control_phase(r, "graph_patched", at);
}

void apply(row& r, const events::submission_intended& e, std::string_view at) {
  r.submission_state = "in_flight";
  r.daliuge_session_id = e.session_id;
  r.backend_kind = e.backend;
  r.daliuge_manager_url = e.manager_url;
  r.target_fingerprint = e.target_fingerprint;
  r.submission_deadline_at = e.deadline_at;
  r.submission_node = e.node;
  r.submission_intent_at = at;
  control_phase(r, "submission_pending", at);
}

void apply(row& r, const events::execution_cancel_requested& e, std::string_view at) {
  r.cancel_requested = true;
  r.cancel_unconfirmed = false;
  r.cancel_reason = e.reason;
  r.cancel_requested_at = at;
}

void apply(row& r, const events::execution_cancel_unconfirmed&, std::string_view) {
  r.cancel_requested = false;
  r.cancel_unconfirmed = true;
  r.reconciliation_code = "cancel_unconfirmed";
}

void apply(row& r, const events::submission_redeploy_intended&, std::string_view at) {
  r.redeploy_intended_at = at;
}

void apply(row& r, const events::execution_sources_finalized&, std::string_view) {
  r.sources_finalized = true;
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

void merge_run_record(json::value& workflow_manifest, const json::object& patch) {
  if (!workflow_manifest.is_object()) workflow_manifest = json::object{};
  auto& rr = workflow_manifest.get_object()["beampipe_run_record"];
  if (!rr.is_object()) rr = json::object{};
  deep_merge(rr.get_object(), patch);
}

bool terminal(const row& r) {
  auto st = parse_execution_status(r.status);
  return st && is_terminal(*st);
}

json::object columns(const row& r) { return events::encode(r); }

row from_columns(const json::object& columns) { return events::decode_as<row>(columns); }

json::object columns_taking(row& r) { return events::encode_taking(r); }

row from_columns_taking(json::object& columns) { return events::decode_taking<row>(columns); }

void evolve(row& r, std::string_view type, const json::object& d, std::string_view recorded_at) {
  // Every execution type decodes to its fact; anything else leaves the row as it is.
  if (apply_fact(r, type, d, recorded_at)) r.updated_at = recorded_at;
}

}  // namespace beampipe::domain::ledger

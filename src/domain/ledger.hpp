#pragma once
// The execution ledger (batch_execution_record, spec §1.5, §8.1) as a fold over an execution's
// events. The execution aggregate's state and the ledger read model are both this fold, so
// what a decider sees and what the API answers cannot drift apart, and the projection copies
// what the events say instead of deriving it again.
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::domain::ledger {

using maybe_text = std::optional<std::string>;
using maybe_bool = std::optional<bool>;

// What the run was admitted with: set when it is created, never changed after.
struct admission_columns {
  std::string uuid;
  std::string project_module;
  boost::json::value sources;  // [{source_identifier, sbids?}]
  std::string archive_name;
  maybe_text created_by;
  std::string created_at;
  maybe_text deployment_profile_id;
  std::optional<int64_t> deployment_profile_revision;
  boost::json::value deployment_profile_snapshot;
  maybe_text project_config_id;
  std::optional<int64_t> project_config_version;
  maybe_text project_spec_sha256;
  maybe_text discovery_signature;
  boost::json::value source_signatures;
  bool output_verification_required = false;
  boost::json::value output_verification_policy;
  maybe_text create_idempotency_key;
  maybe_text create_request_sha256;
};
BOOST_DESCRIBE_STRUCT(admission_columns, (),
                      (uuid, project_module, sources, archive_name, created_by, created_at,
                       deployment_profile_id, deployment_profile_revision,
                       deployment_profile_snapshot, project_config_id, project_config_version,
                       project_spec_sha256, discovery_signature, source_signatures,
                       output_verification_required, output_verification_policy,
                       create_idempotency_key, create_request_sha256))

// Where the run was sent and how that went (§12): the intent, the receipt or the lookup that
// found it, and what the operator did about a submission that never resolved.
struct submission_columns {
  maybe_text backend_kind;
  maybe_text target_fingerprint;
  maybe_text daliuge_session_id;
  maybe_text daliuge_manager_url;
  maybe_text submission_intent_at;
  maybe_text submission_node;
  maybe_text submission_deadline_at;
  maybe_text submission_receipt_sha256;
  maybe_text scheduler_name;
  maybe_text scheduler_job_id;
  maybe_text remote_session_dir;
  maybe_text staging_root;
  maybe_text physical_graph_sha256;
  boost::json::value lookup_history;  // the newest 32 lookup records (events::lookup_record)
  maybe_bool adopted_by_lookup;
  maybe_text redeploy_intended_at;
  maybe_text submission_abandoned_at;
  maybe_bool submission_abandoned;
  maybe_bool submission_detected_after_abandonment;
};
BOOST_DESCRIBE_STRUCT(submission_columns, (),
                      (backend_kind, target_fingerprint, daliuge_session_id, daliuge_manager_url,
                       submission_intent_at, submission_node, submission_deadline_at,
                       submission_receipt_sha256, scheduler_name, scheduler_job_id,
                       remote_session_dir, staging_root, physical_graph_sha256, lookup_history,
                       adopted_by_lookup, redeploy_intended_at, submission_abandoned_at,
                       submission_abandoned, submission_detected_after_abandonment))

// One ledger row: a member per column of batch_execution_record, named as the column, an
// optional exactly where the column is nullable (tests/pg/test_slice_rows.cpp holds the two
// together). Timestamps are RFC 3339 text, as the events record them. jsonb columns are kept
// as the documents they are: what a command or a backend gave, or a run record that grows.
struct row : admission_columns, submission_columns {
  std::string status;
  std::string control_phase;
  boost::json::value phase_timestamps;  // {control phase: when it was entered}
  maybe_text execution_phase;
  std::string submission_state;
  std::string scheduler_state;
  maybe_text scheduler_raw_state;
  maybe_text scheduler_reason;
  std::string daliuge_state;
  boost::json::value daliuge_raw_status;
  std::string output_state;
  maybe_text terminal_outcome;
  maybe_text failure_class;
  maybe_text reconciliation_code;
  maybe_text last_error;
  int64_t retry_count = 0;
  maybe_text retry_stage;
  boost::json::value workflow_manifest;  // the manifest, with its beampipe_run_record
  maybe_text manifest_sha256;
  maybe_text source_graph_sha256;
  maybe_text patched_graph_sha256;
  boost::json::value wasm_hooks;  // events::hook_run of the manifest's hooks; null when none ran
  // {do_stage, do_submit, attempt, job_id, requested_by, correlation_id}
  boost::json::value execute_request;
  maybe_text execute_requested_at;
  maybe_bool poll_budget_exhausted;
  maybe_bool lookup_budget_exhausted;
  bool cancel_requested = false;
  maybe_text cancel_requested_at;
  maybe_text cancel_reason;
  maybe_bool cancel_unconfirmed;
  bool sources_finalized = false;
  maybe_text started_at;
  maybe_text completed_at;
  maybe_text last_reconciled_at;
  std::string updated_at;
  int64_t stream_version = 0;  // the projection's; the aggregate knows its own version
};
BOOST_DESCRIBE_STRUCT(row, (admission_columns, submission_columns),
                      (status, control_phase, phase_timestamps, execution_phase, submission_state,
                       scheduler_state, scheduler_raw_state, scheduler_reason, daliuge_state,
                       daliuge_raw_status, output_state, terminal_outcome, failure_class,
                       reconciliation_code, last_error, retry_count, retry_stage, workflow_manifest,
                       manifest_sha256, source_graph_sha256, patched_graph_sha256, wasm_hooks,
                       execute_request, execute_requested_at, poll_budget_exhausted,
                       lookup_budget_exhausted, cancel_requested, cancel_requested_at,
                       cancel_reason, cancel_unconfirmed, sources_finalized, started_at,
                       completed_at, last_reconciled_at, updated_at, stream_version))

// Applies one execution event (decoded to the current version) to `r`; recorded_at is the
// event's time, the only clock the fold knows. execution.created starts a fresh row.
void evolve(row& r, std::string_view type, const boost::json::object& data,
            std::string_view recorded_at);

// The row as the table's columns (every member, null where none), and back; from_columns
// throws events::decode_error naming a column that does not have its type.
boost::json::object columns(const row& r);
row from_columns(const boost::json::object& columns);
// The same, moving the JSON documents (manifest, snapshots, histories) out of their source
// rather than copying them; the source is left valid but unspecified. A projection that
// replaces a row it owns uses these: each event would otherwise copy those documents twice.
boost::json::object columns_taking(row& r);
row from_columns_taking(boost::json::object& columns);

// Whether the run has ended (completed, failed, cancelled, not_submitted).
bool terminal(const row& r);

// The run's error once the operator abandoned its submission.
std::string abandonment_error(std::string_view reason);

// Deep-merges a run record patch into workflow_manifest.beampipe_run_record: objects key by
// key, anything else replaces; legacy "observations" arrays are dropped (§8.1).
void merge_run_record(boost::json::value& workflow_manifest, const boost::json::object& patch);

}  // namespace beampipe::domain::ledger

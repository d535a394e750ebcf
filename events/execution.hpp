#pragma once
// Events of an execution stream ("execution-<uuid>", spec §2.2–2.3, §3.5, §12).
//
// Version 1 of every type was one envelope: the ledger row's columns after the event ("after"),
// the columns set to the event's time ("stamp", "stamp_once") and the run record to merge
// ("run_record_merge"), beside uuid, project_module, source_identifier, job_id and the records
// kept below. That froze the ledger table's columns into history. Version 2 states what
// happened in the domain's terms (execution_fact plus the fields of the type), ledger::evolve
// says what that does to a row, and events/execution_upcast.cpp lifts version 1 payloads.
#include "events/codec.hpp"
#include "events/hooks.hpp"
#include "events/types.hpp"

namespace beampipe::events {

// What every version 2 execution event carries besides its own fields: whose run it is (the
// listings and the jobs read model follow these), and the records the decider made for the
// provenance timeline (§8.2), the observations (§8.1) and the artifact store.
struct execution_fact {
  std::string uuid;
  std::string project_module;
  std::optional<std::string> source_identifier;  // the first source, for listings
  std::optional<std::string> job_id;             // the execute job the event belongs to
  omitted<boost::json::array> provenance;        // [{event_type, payload}]
  omitted<boost::json::object> observation;      // {kind, normalized_state, raw_state, ...}
  omitted<boost::json::value> artifacts;         // [{kind, sha256, size_bytes, media_type}]
};
BOOST_DESCRIBE_STRUCT(execution_fact, (),
                      (uuid, project_module, source_identifier, job_id, provenance, observation,
                       artifacts))

// Execution was asked (attempt 0) or asked again after a retry (attempt n) to run; job_id is
// the execute job of that attempt.
struct execute_request_fact {
  bool do_stage = true;
  bool do_submit = true;
  int64_t attempt = 0;
  std::string requested_by;
  std::optional<std::string> correlation_id;
};
BOOST_DESCRIBE_STRUCT(execute_request_fact, (),
                      (do_stage, do_submit, attempt, requested_by, correlation_id))

struct execution_execute_requested : execution_fact, execute_request_fact {
  static constexpr const char* kType = type::execution_execute_requested;
  static constexpr int kVersion = 2;
};
BOOST_DESCRIBE_STRUCT(execution_execute_requested, (execution_fact, execute_request_fact), ())

// A failed run is retried from `stage` ("stage_and_manifest" or "submit"); attempt is the new
// retry count.
struct execution_retry_requested : execution_fact, execute_request_fact {
  static constexpr const char* kType = type::execution_retry_requested;
  static constexpr int kVersion = 2;
  std::string reason;
  std::string stage;
};
BOOST_DESCRIBE_STRUCT(execution_retry_requested, (execution_fact, execute_request_fact),
                      (reason, stage))

// The manifest (with its graph digests) is stored; submit_next: the run goes on to submit.
struct execution_manifest_prepared : execution_fact {
  static constexpr const char* kType = type::execution_manifest_prepared;
  static constexpr int kVersion = 2;
  boost::json::object manifest;
  std::string manifest_sha256;
  std::optional<std::string> source_graph_sha256;
  std::optional<std::string> patched_graph_sha256;
  bool submit_next = false;
  omitted<boost::json::value> patch_summary;
  omitted<std::vector<hook_run>> wasm_hooks;  // the manifest and graph_patches hooks that ran
};
BOOST_DESCRIBE_STRUCT(execution_manifest_prepared, (execution_fact),
                      (manifest, manifest_sha256, source_graph_sha256, patched_graph_sha256,
                       submit_next, patch_summary, wasm_hooks))

// A submission is about to be sent (§12.1): recorded before anything leaves the process.
struct submission_intended : execution_fact {
  static constexpr const char* kType = type::submission_intended;
  static constexpr int kVersion = 2;
  std::string session_id;
  std::string backend;
  std::optional<std::string> manager_url;
  std::optional<std::string> target_fingerprint;
  std::optional<std::string> deadline_at;
  std::optional<std::string> node;
};
BOOST_DESCRIBE_STRUCT(submission_intended, (execution_fact),
                      (session_id, backend, manager_url, target_fingerprint, deadline_at, node))

// The cancel is asked of the backend; the ledger says cancelled once it confirms.
struct execution_cancel_requested : execution_fact {
  static constexpr const char* kType = type::execution_cancel_requested;
  static constexpr int kVersion = 2;
  std::optional<std::string> reason;
};
BOOST_DESCRIBE_STRUCT(execution_cancel_requested, (execution_fact), (reason))

// The backend never confirmed the cancel: the request is withdrawn (issue #17).
struct execution_cancel_unconfirmed : execution_fact {
  static constexpr const char* kType = type::execution_cancel_unconfirmed;
  static constexpr int kVersion = 2;
  std::optional<int64_t> attempts;
  std::string error;
};
BOOST_DESCRIBE_STRUCT(execution_cancel_unconfirmed, (execution_fact), (attempts, error))

// A DALiuGE session built but never deployed is deployed once more (issue #17).
struct submission_redeploy_intended : execution_fact {
  static constexpr const char* kType = type::submission_redeploy_intended;
  static constexpr int kVersion = 2;
  std::optional<std::string> session_state;
  std::string reason;
};
BOOST_DESCRIBE_STRUCT(submission_redeploy_intended, (execution_fact), (session_state, reason))

// The sources were told how the run ended.
struct execution_sources_finalized : execution_fact {
  static constexpr const char* kType = type::execution_sources_finalized;
  static constexpr int kVersion = 2;
};
BOOST_DESCRIBE_STRUCT(execution_sources_finalized, (execution_fact), ())

// The run started (or started again after a retry); resubmit: a retry of the submit stage
// that keeps its manifest.
struct execution_started : execution_fact {
  static constexpr const char* kType = type::execution_started;
  static constexpr int kVersion = 2;
  bool resubmit = false;
};
BOOST_DESCRIBE_STRUCT(execution_started, (execution_fact), (resubmit))

// A dry run ended with its manifest, by design without a submission.
struct execution_not_submitted : execution_fact {
  static constexpr const char* kType = type::execution_not_submitted;
  static constexpr int kVersion = 2;
};
BOOST_DESCRIBE_STRUCT(execution_not_submitted, (execution_fact), ())

// The run failed for certain; submission_failed: nothing reached a backend.
struct execution_failed : execution_fact {
  static constexpr const char* kType = type::execution_failed;
  static constexpr int kVersion = 2;
  std::string error;
  std::optional<std::string> failure_class;
  bool submission_failed = false;
  omitted<std::vector<hook_run>> wasm_hooks;  // the hooks that ran before it failed (one did)
};
BOOST_DESCRIBE_STRUCT(execution_failed, (execution_fact),
                      (error, failure_class, submission_failed, wasm_hooks))

// The run was cancelled before any external work existed.
struct execution_cancelled : execution_fact {
  static constexpr const char* kType = type::execution_cancelled;
  static constexpr int kVersion = 2;
  std::optional<std::string> reason;
};
BOOST_DESCRIBE_STRUCT(execution_cancelled, (execution_fact), (reason))

// The scheduler admitted the run (§3.4).
struct automation_admission {
  boost::json::value claim_token;
  boost::json::value queue_depth;
};
BOOST_DESCRIBE_STRUCT(automation_admission, (), (claim_token, queue_depth))

// An execution was created (pending) for these sources, with the configuration, profile and
// signatures it was admitted under. The configuration's and the profile's documents are kept
// as they were given.
struct execution_created : execution_fact {
  static constexpr const char* kType = type::execution_created;
  static constexpr int kVersion = 2;
  std::string archive_name;
  boost::json::array sources;  // [{source_identifier, sbids?}]
  std::string created_by;
  std::optional<std::string> deployment_profile_id;
  boost::json::value deployment_profile_snapshot;
  std::optional<std::string> project_config_id;
  boost::json::value project_config_version;
  boost::json::value project_spec_sha256;
  boost::json::value discovery_signature;
  boost::json::value source_signatures;
  bool output_verification_required = false;
  boost::json::value output_verification_policy;
  boost::json::value idempotency_key;
  boost::json::value request_sha256;
  omitted<automation_admission> automation;
};
BOOST_DESCRIBE_STRUCT(execution_created, (execution_fact),
                      (archive_name, sources, created_by, deployment_profile_id,
                       deployment_profile_snapshot, project_config_id, project_config_version,
                       project_spec_sha256, discovery_signature, source_signatures,
                       output_verification_required, output_verification_policy, idempotency_key,
                       request_sha256, automation))

// The backend's receipt for the submission: the run is now `status` (§2.3 reconciled).
// after_abandonment: the operator had abandoned it; the receipt is kept and flagged only.
struct submission_recorded : execution_fact {
  static constexpr const char* kType = type::submission_recorded;
  static constexpr int kVersion = 2;
  std::string receipt_sha256;
  boost::json::value scheduler_name;
  boost::json::value scheduler_job_id;
  bool after_abandonment = false;
  boost::json::value remote_session_dir;
  boost::json::value staging_root;
  boost::json::value physical_graph_sha256;
  omitted<boost::json::value> manager_url;
  std::string scheduler_state;
  std::string daliuge_state;
  std::string status;
  std::optional<std::string> outcome;
  omitted<boost::json::object> run_record;
};
BOOST_DESCRIBE_STRUCT(submission_recorded, (execution_fact),
                      (receipt_sha256, scheduler_name, scheduler_job_id, after_abandonment,
                       remote_session_dir, staging_root, physical_graph_sha256, manager_url,
                       scheduler_state, daliuge_state, status, outcome, run_record))

// The submission may or may not have reached the backend: reconciled by name later (§12.2).
struct submission_uncertain : execution_fact {
  static constexpr const char* kType = type::submission_uncertain;
  static constexpr int kVersion = 2;
  std::string error;
  boost::json::value failure_class;
  omitted<boost::json::value> remote_session_dir;  // where the job would run, when known
  omitted<boost::json::value> staging_root;
  std::string status;
};
BOOST_DESCRIBE_STRUCT(submission_uncertain, (execution_fact),
                      (error, failure_class, remote_session_dir, staging_root, status))

// The operator abandoned an unresolved submission (§12.3): the run fails as inconsistent.
struct submission_abandoned : execution_fact {
  static constexpr const char* kType = type::submission_abandoned;
  static constexpr int kVersion = 2;
  std::string reason;
};
BOOST_DESCRIBE_STRUCT(submission_abandoned, (execution_fact), (reason))

// The output inventory was verified (§12.4): the run is now `status`.
struct execution_outputs_verified : execution_fact {
  static constexpr const char* kType = type::execution_outputs_verified;
  static constexpr int kVersion = 2;
  boost::json::value inventory_sha256;
  boost::json::value products;  // how many
  boost::json::value durable_destination_uri;
  boost::json::value receipt_id;
  std::string status;
  std::optional<std::string> outcome;
};
BOOST_DESCRIBE_STRUCT(execution_outputs_verified, (execution_fact),
                      (inventory_sha256, products, durable_destination_uri, receipt_id, status,
                       outcome))

// A name lookup found the job of an uncertain submission; first: this observation adopted it.
struct observed_adoption {
  std::string scheduler_job_id;
  boost::json::value scheduler_name;
  omitted<boost::json::value> remote_session_dir;
  omitted<boost::json::value> staging_root;
  omitted<boost::json::value> physical_graph_sha256;
  bool first = false;
  omitted<std::string> receipt_sha256;
};
BOOST_DESCRIBE_STRUCT(observed_adoption, (),
                      (scheduler_job_id, scheduler_name, remote_session_dir, staging_root,
                       physical_graph_sha256, first, receipt_sha256))

// One name lookup, kept for the abandonment guard (§12.3) with the worker's clock.
struct lookup_record {
  boost::json::value outcome;
  boost::json::value observed_at;
  boost::json::value session_id;
  boost::json::value target_fingerprint;
};
BOOST_DESCRIBE_STRUCT(lookup_record, (), (outcome, observed_at, session_id, target_fingerprint))

// The run's failure class changes: to a kind, or (null) to none.
struct failure_class_change {
  std::optional<std::string> to;
};
BOOST_DESCRIBE_STRUCT(failure_class_change, (), (to))

// What a poll saw, and what the run is now (§2.3 reconciled): the three axes, the backend's
// own words, and the decisions that came with it.
struct execution_observed : execution_fact {
  static constexpr const char* kType = type::execution_observed;
  static constexpr int kVersion = 2;
  std::string submission_state;
  std::string scheduler_state;
  std::string daliuge_state;
  std::string raw_state;
  std::string reason;
  omitted<boost::json::value> daliuge_raw_status;
  omitted<observed_adoption> adoption;
  std::string status;
  std::optional<std::string> outcome;
  std::optional<std::string> error;             // failed: why
  omitted<failure_class_change> failure_class;  // failed: which kind; completed: none
  std::optional<std::string> control_phase;     // monitoring or output_verification
  bool outputs_pending = false;                 // the outputs now wait for verification
  std::optional<std::string> reconciliation_code;
  bool poll_budget_exhausted = false;    // escalated to an operator now
  bool lookup_budget_exhausted = false;  // abandonable now
  omitted<lookup_record> lookup;
  omitted<boost::json::object> run_record;
};
BOOST_DESCRIBE_STRUCT(execution_observed, (execution_fact),
                      (submission_state, scheduler_state, daliuge_state, raw_state, reason,
                       daliuge_raw_status, adoption, status, outcome, error, failure_class,
                       control_phase, outputs_pending, reconciliation_code, poll_budget_exhausted,
                       lookup_budget_exhausted, lookup, run_record))

}  // namespace beampipe::events

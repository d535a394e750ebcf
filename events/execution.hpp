#pragma once
// Events of an execution stream ("execution-<uuid>", spec §2.2–2.3, §3.5, §12).
//
// Version 1 of every type is one envelope: the ledger row's columns after the event ("after"),
// the columns set to the event's time ("stamp", "stamp_once") and the run record to merge
// (domain/ledger.cpp applies them). That froze the ledger table's columns into history, so
// version 2 states what happened in the domain's terms (execution_fact plus the fields of the
// type) and ledger::evolve says what that does to a row; catalog.cpp lifts version 1 payloads.
// Types still at version 1 move over one by one.
#include "events/codec.hpp"
#include "events/types.hpp"

namespace beampipe::events {

struct execution_envelope {
  std::optional<std::string> uuid;
  std::optional<std::string> project_module;
  std::optional<std::string> source_identifier;  // the first source, for listings
  std::optional<std::string> job_id;             // the execute job the event belongs to
  boost::json::object after;                     // ledger columns after the event
  omitted<std::vector<std::string>> stamp;       // columns set to the event's time
  omitted<std::vector<std::string>> stamp_once;  // ... only while still null
  omitted<boost::json::value> run_record_merge;  // as the worker sent it
  omitted<boost::json::value> artifacts;         // [{kind, sha256, size_bytes, media_type}]
  omitted<boost::json::object> observation;
  omitted<boost::json::array> provenance;
  omitted<boost::json::value> patch_summary;
};
BOOST_DESCRIBE_STRUCT(execution_envelope, (),
                      (uuid, project_module, source_identifier, job_id, after, stamp, stamp_once,
                       run_record_merge, artifacts, observation, provenance, patch_summary))

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
};
BOOST_DESCRIBE_STRUCT(execution_manifest_prepared, (execution_fact),
                      (manifest, manifest_sha256, source_graph_sha256, patched_graph_sha256,
                       submit_next, patch_summary))

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
};
BOOST_DESCRIBE_STRUCT(execution_failed, (execution_fact), (error, failure_class, submission_failed))

// The run was cancelled before any external work existed.
struct execution_cancelled : execution_fact {
  static constexpr const char* kType = type::execution_cancelled;
  static constexpr int kVersion = 2;
  std::optional<std::string> reason;
};
BOOST_DESCRIBE_STRUCT(execution_cancelled, (execution_fact), (reason))

#define BEAMPIPE_EXECUTION_EVENT(name)               \
  struct name : execution_envelope {                 \
    static constexpr const char* kType = type::name; \
    static constexpr int kVersion = 1;               \
  };                                                 \
  BOOST_DESCRIBE_STRUCT(name, (execution_envelope), ())

BEAMPIPE_EXECUTION_EVENT(execution_created);
BEAMPIPE_EXECUTION_EVENT(submission_recorded);
BEAMPIPE_EXECUTION_EVENT(submission_uncertain);
BEAMPIPE_EXECUTION_EVENT(execution_observed);
BEAMPIPE_EXECUTION_EVENT(submission_abandoned);
BEAMPIPE_EXECUTION_EVENT(execution_outputs_verified);

#undef BEAMPIPE_EXECUTION_EVENT

}  // namespace beampipe::events

#pragma once
// Events of an execution stream ("execution-<uuid>", spec §2.2–2.3, §3.5, §12). Version 1:
// every type carries the same envelope (src/domain/execution_aggregate.cpp says what each part
// means).
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

#define BEAMPIPE_EXECUTION_EVENT(name)               \
  struct name : execution_envelope {                 \
    static constexpr const char* kType = type::name; \
    static constexpr int kVersion = 1;               \
  };                                                 \
  BOOST_DESCRIBE_STRUCT(name, (execution_envelope), ())

BEAMPIPE_EXECUTION_EVENT(execution_created);
BEAMPIPE_EXECUTION_EVENT(execution_execute_requested);
BEAMPIPE_EXECUTION_EVENT(execution_started);
BEAMPIPE_EXECUTION_EVENT(execution_manifest_prepared);
BEAMPIPE_EXECUTION_EVENT(execution_not_submitted);
BEAMPIPE_EXECUTION_EVENT(submission_intended);
BEAMPIPE_EXECUTION_EVENT(submission_recorded);
BEAMPIPE_EXECUTION_EVENT(submission_uncertain);
BEAMPIPE_EXECUTION_EVENT(execution_failed);
BEAMPIPE_EXECUTION_EVENT(execution_observed);
BEAMPIPE_EXECUTION_EVENT(execution_cancel_requested);
BEAMPIPE_EXECUTION_EVENT(execution_cancelled);
BEAMPIPE_EXECUTION_EVENT(execution_retry_requested);
BEAMPIPE_EXECUTION_EVENT(submission_abandoned);
BEAMPIPE_EXECUTION_EVENT(execution_outputs_verified);
BEAMPIPE_EXECUTION_EVENT(execution_sources_finalized);
BEAMPIPE_EXECUTION_EVENT(execution_cancel_unconfirmed);
BEAMPIPE_EXECUTION_EVENT(submission_redeploy_intended);

#undef BEAMPIPE_EXECUTION_EVENT

}  // namespace beampipe::events

#pragma once
// Events of a source stream ("source-<uuid>", spec §1.1, §2.4, §3.6). Each struct is the
// current shape of its type; events/catalog.cpp registers it and the upcasters of older ones.
#include "events/codec.hpp"
#include "events/hooks.hpp"
#include "events/types.hpp"

namespace beampipe::events {

// Every source event names its source.
struct source_identity {
  std::string uuid;
  std::string project_module;
  std::string source_identifier;
};
BOOST_DESCRIBE_STRUCT(source_identity, (), (uuid, project_module, source_identifier))

struct source_registered : source_identity {
  static constexpr const char* kType = type::source_registered;
  static constexpr int kVersion = 1;
  bool enabled = false;
};
BOOST_DESCRIBE_STRUCT(source_registered, (source_identity), (enabled))

struct source_enabled_changed : source_identity {
  static constexpr const char* kType = type::source_enabled_changed;
  static constexpr int kVersion = 1;
  bool enabled = false;
};
BOOST_DESCRIBE_STRUCT(source_enabled_changed, (source_identity), (enabled))

struct source_stale_after_changed : source_identity {
  static constexpr const char* kType = type::source_stale_after_changed;
  static constexpr int kVersion = 1;
  std::optional<int64_t> stale_after_hours;  // null: the project's policy applies
};
BOOST_DESCRIBE_STRUCT(source_stale_after_changed, (source_identity), (stale_after_hours))

struct source_deleted : source_identity {
  static constexpr const char* kType = type::source_deleted;
  static constexpr int kVersion = 1;
};
BOOST_DESCRIBE_STRUCT(source_deleted, (source_identity), ())

struct discovery_requested : source_identity {
  static constexpr const char* kType = type::discovery_requested;
  static constexpr int kVersion = 1;
  std::string request_id;
  std::string reason;  // manual | scheduler | job | ...
  // The scheduler's admission batch (counts batches in flight); absent for other requests.
  omitted<std::string> claim_token;
};
BOOST_DESCRIBE_STRUCT(discovery_requested, (source_identity), (request_id, reason, claim_token))

struct discovery_requeued : source_identity {
  static constexpr const char* kType = type::discovery_requeued;
  static constexpr int kVersion = 1;
  std::string request_id;
  int64_t attempt = 1;  // the attempt the reopened request runs next
  std::string reason;
};
BOOST_DESCRIBE_STRUCT(discovery_requeued, (source_identity), (request_id, attempt, reason))

struct discovery_completed : source_identity {
  static constexpr const char* kType = type::discovery_completed;
  static constexpr int kVersion = 1;
  std::string request_id;
  int64_t attempt = 1;
  std::string outcome;  // changed | unchanged | no_datasets
  std::optional<std::string> signature;
  std::optional<int64_t> datasets;
  std::optional<bool> truncated;
  boost::json::value warnings;  // the archive's warnings, as the worker reported them
  // Present unless the outcome is "unchanged": the metadata rows by SBID, SBIDs to drop, flags.
  omitted<boost::json::object> rows;
  omitted<boost::json::array> delete_sbids;
  omitted<boost::json::object> flags;
  bool pending = false;  // a changed signature on a ready source needs an execution
  omitted<std::vector<hook_run>> wasm_hooks;  // the project's prepare_metadata hook, when it ran
};
BOOST_DESCRIBE_STRUCT(discovery_completed, (source_identity),
                      (request_id, attempt, outcome, signature, datasets, truncated, warnings, rows,
                       delete_sbids, flags, pending, wasm_hooks))

// The request ended without an answer: a permanent failure, or a retryable one whose round of
// attempts is used up (dead_letter). Either can be requeued by an operator.
struct discovery_failed : source_identity {
  static constexpr const char* kType = type::discovery_failed;
  static constexpr int kVersion = 1;
  std::string request_id;
  int64_t attempt = 1;
  std::string error;  // redacted and bounded
  bool retryable = false;
  bool dead_letter = false;
  std::optional<std::string> failure_class;
  omitted<bool> lease_lost;
};
BOOST_DESCRIBE_STRUCT(discovery_failed, (source_identity),
                      (request_id, attempt, error, retryable, dead_letter, failure_class,
                       lease_lost))

struct discovery_attempt_failed : source_identity {
  static constexpr const char* kType = type::discovery_attempt_failed;
  static constexpr int kVersion = 1;
  std::string request_id;
  int64_t attempt = 1;
  std::string error;
  std::optional<std::string> failure_class;
  bool lease_lost = false;
  std::optional<std::string> retry_at;  // RFC 3339
};
BOOST_DESCRIBE_STRUCT(discovery_attempt_failed, (source_identity),
                      (request_id, attempt, error, failure_class, lease_lost, retry_at))

struct source_pending_cleared : source_identity {
  static constexpr const char* kType = type::source_pending_cleared;
  static constexpr int kVersion = 1;
  std::string reason;
  std::optional<std::string> execution_id;
};
BOOST_DESCRIBE_STRUCT(source_pending_cleared, (source_identity), (reason, execution_id))

struct source_execution_finished : source_identity {
  static constexpr const char* kType = type::source_execution_finished;
  static constexpr int kVersion = 1;
  std::string execution_id;
  std::string outcome;
  std::optional<std::string> last_executed_discovery_signature;
  bool pending = false;
  // Issue #17 (absent from earlier events: no failure counted, no hold).
  omitted<int64_t> failures_in_row;
  std::optional<std::string> automation_retry_at;
};
BOOST_DESCRIBE_STRUCT(source_execution_finished, (source_identity),
                      (execution_id, outcome, last_executed_discovery_signature, pending,
                       failures_in_row, automation_retry_at))

}  // namespace beampipe::events

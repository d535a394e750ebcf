#pragma once
// One source_registry row and the fold that builds it from a source stream's events: the
// projection applies it to stored rows, and time travel (GET /sources/{id}?as_of…, /history)
// replays a stream through it, so both answer from one definition.
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::domain::source_record {

using maybe_text = std::optional<std::string>;
using maybe_int = std::optional<int64_t>;

// A member per column of source_registry, named as the column, optional exactly where the
// column is nullable. Timestamps are RFC 3339 text, as the events record them.
struct row {
  std::string uuid;
  std::string project_module;
  std::string source_identifier;
  bool enabled = false;
  bool deleted = false;
  std::string created_at;
  std::string updated_at;
  maybe_text last_checked_at;
  maybe_text last_attempted_at;
  maybe_int stale_after_hours;
  maybe_text discovery_signature;
  maybe_text last_executed_discovery_signature;
  maybe_text discovery_claim_token;
  maybe_text discovery_claim_expires_at;
  bool workflow_run_pending = false;
  maybe_text workflow_run_pending_at;
  maybe_text workflow_claim_token;
  maybe_text workflow_claimed_at;
  maybe_text workflow_claim_expires_at;
  int64_t stream_version = 0;
  maybe_text discovery_request_id;
  maybe_text discovery_requested_at;
  maybe_text last_discovery_error;
  bool discovery_truncated = false;
  maybe_int discovery_attempt;
  maybe_text discovery_retry_at;
  maybe_int execution_failures_in_row;  // none before the first finished execution
  maybe_text automation_retry_at;
};
BOOST_DESCRIBE_STRUCT(row, (),
                      (uuid, project_module, source_identifier, enabled, deleted, created_at,
                       updated_at, last_checked_at, last_attempted_at, stale_after_hours,
                       discovery_signature, last_executed_discovery_signature,
                       discovery_claim_token, discovery_claim_expires_at, workflow_run_pending,
                       workflow_run_pending_at, workflow_claim_token, workflow_claimed_at,
                       workflow_claim_expires_at, stream_version, discovery_request_id,
                       discovery_requested_at, last_discovery_error, discovery_truncated,
                       discovery_attempt, discovery_retry_at, execution_failures_in_row,
                       automation_retry_at))

// Whether the fold reads events of this type.
bool handles(std::string_view type);

// Applies one source event (decoded to its current version) to the row; `exists` says whether
// there is a row yet and becomes true at registration. recorded_at is the event's time, the
// only clock the fold knows. An event before registration changes nothing (never invents a
// row). Returns whether the row changed.
bool evolve(row& r, bool& exists, std::string_view type, const boost::json::object& data,
            std::string_view recorded_at);

// The row as the table's columns (every member, null where none), and back.
boost::json::object columns(const row& r);
row from_columns(const boost::json::object& columns);

// never | requested | checked | failed: the discovery state listings filter on.
std::string discovery_state(const row& r);

}  // namespace beampipe::domain::source_record

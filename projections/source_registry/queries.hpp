#pragma once
// The source_registry read model's queries (spec §1.1): the only SQL against the table outside
// its projection. The API, the workers and the scheduler ask these questions.
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "domain/readiness.hpp"
#include "store/paging.hpp"

namespace beampipe::projections::source_registry {

// What readiness (§3.3) needs of one registered, not deleted source, with its archive rows;
// nullopt when there is no such source.
std::optional<domain::SourceReadinessState> readiness_inputs(pqxx::transaction_base& tx,
                                                             const std::string& source_uuid);

// The source's archive rows, by SBID (metadata_json).
std::map<std::string, boost::json::value> archive_rows(pqxx::transaction_base& tx,
                                                       const std::string& source_uuid);
// The same as the API lists them (SourceMetadata rows), by SBID.
boost::json::array archive_metadata(pqxx::transaction_base& tx, const std::string& source_uuid);

// Outstanding discovery requests whose retry time has come, oldest request first.
struct due_request {
  std::string source_uuid, project_module, source_identifier, request_id;
  bool enabled = false;
  std::string signature, last_executed;  // empty when none
  int attempt = 1;
};
std::vector<due_request> due_for_discovery(pqxx::transaction_base& tx, int64_t limit);

// Outstanding discovery requests, all projects.
int64_t outstanding_discovery_requests(pqxx::transaction_base& tx);

// The scheduler's admission batches still in flight (distinct claim tokens of outstanding
// requests): everywhere and in one project.
struct batches_in_flight {
  int64_t global = 0, project = 0;
};
batches_in_flight discovery_batches_in_flight(pqxx::transaction_base& tx,
                                              const std::string& project_module);

// Every source of a project that discovery admission considers. Times are RFC 3339 text.
struct discovery_candidate {
  std::string source_identifier;
  bool enabled = false;
  std::string created_at;
  std::optional<std::string> last_checked_at;
  // When the outstanding request's claim lapses (requested at + claim_ttl); none without one.
  std::optional<std::string> claim_expires_at;
};
std::vector<discovery_candidate> discovery_candidates(pqxx::transaction_base& tx,
                                                      const std::string& project_module,
                                                      int claim_ttl_minutes);

// Enabled sources of a project waiting for an execution, not held back by earlier failures,
// with what readiness needs.
struct pending_source {
  std::string source_uuid, source_identifier;
  std::optional<std::string> workflow_run_pending_at;
  std::string created_at;
  domain::SourceReadinessState readiness;
};
// Each pending source's readiness; its metadata rows carry only their discovery_flags.
std::vector<pending_source> pending_for_execution(pqxx::transaction_base& tx,
                                                  const std::string& project_module);

// Sources waiting for an execution (in a project, or all) and the age of the oldest wait.
struct pending_backlog_row {
  int64_t sources = 0;
  double oldest_age_seconds = 0;
};
pending_backlog_row pending_backlog(pqxx::transaction_base& tx,
                                    const std::optional<std::string>& project_module);

// The source's outstanding discovery request, if any.
std::optional<std::string> outstanding_request(pqxx::transaction_base& tx,
                                               const std::string& source_uuid);

// --- what the API answers: SourceRead rows (api_schemas.cpp) ---

// A registered, not deleted source.
std::optional<boost::json::object> find(pqxx::transaction_base& tx, const std::string& source_uuid);
// find() for many sources in one query: the rows found, keyed by uuid.
std::map<std::string, boost::json::object> find_many(pqxx::transaction_base& tx,
                                                     const std::vector<std::string>& source_uuids);
// A row that is not stored (time travel's, the table's columns as domain::source_record gives
// them) shaped exactly as find() shapes a stored one.
boost::json::object read_shape(pqxx::transaction_base& tx, const boost::json::object& columns);

struct list_filter {
  std::string project_module;  // empty: every project
  std::optional<bool> enabled;
  std::optional<bool> pending;  // waiting for an execution
  std::string discovery_state;  // never | requested | checked | failed; empty: any
};
// The discovery states a listing filters on.
bool is_discovery_state(std::string_view state);
// Newest first.
store::page_rows list(pqxx::transaction_base& tx, const list_filter& filter, int64_t limit,
                      int64_t offset);

// A project's enabled sources, in the order they were registered.
std::vector<std::string> enabled_identifiers(pqxx::transaction_base& tx,
                                             const std::string& project_module);
// Which of `identifiers` are registered (and not deleted) in the project.
std::vector<std::string> registered_identifiers(pqxx::transaction_base& tx,
                                                const std::string& project_module,
                                                const std::vector<std::string>& identifiers);
// How long the source has waited for an execution, in whole seconds; none when it does not.
std::optional<int64_t> pending_for_seconds(pqxx::transaction_base& tx,
                                           const std::string& source_uuid);

// Sources by discovery state ([{state, n}]: disabled, retrying, discovering, failed,
// discovered, never_discovered) and how many wait for an execution: the metrics' gauges.
boost::json::array discovery_state_counts(pqxx::transaction_base& tx);
int64_t pending_run_count(pqxx::transaction_base& tx);

}  // namespace beampipe::projections::source_registry

#pragma once
// The source_registry read model's queries (spec §1.1): the only SQL against the table outside
// its projection. The workers and the scheduler ask these questions; the API's listings are
// next to move here.
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "domain/readiness.hpp"

namespace beampipe::projections::source_registry {

// What readiness (§3.3) needs of one registered, not deleted source, with its archive rows;
// nullopt when there is no such source.
std::optional<domain::SourceReadinessState> readiness_inputs(pqxx::transaction_base& tx,
                                                             const std::string& source_uuid);

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

}  // namespace beampipe::projections::source_registry

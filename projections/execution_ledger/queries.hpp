#pragma once
// The execution ledger's queries (spec §1.5): the only SQL against batch_execution_record and
// its execution_stuck view outside the projection. The API, the execution worker, admission,
// the scheduler and the alert worker ask these questions.
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "store/paging.hpp"

namespace beampipe::projections::execution_ledger {

// --- what the API answers: ExecutionRead rows (api_schemas.cpp) ---
// The row without its bookkeeping, the run record at top level, and every text that may quote
// a credential (manifests, run records, backend errors) redacted ([HEAD] §9.4).

std::optional<boost::json::object> find(pqxx::transaction_base& tx, const std::string& id);
// A ledger row given as its columns (ledger::columns), answered as find answers a stored row:
// the same SQL shapes the values (time travel folds a run's events to the columns it had then).
boost::json::object read_shape(pqxx::transaction_base& tx, const boost::json::object& columns);

struct list_filter {
  std::string project_module, status, scheduler_name;  // empty: any
};
// Newest first.
store::page_rows list(pqxx::transaction_base& tx, const list_filter& filter, int64_t limit,
                      int64_t offset);
// The executions that selected a source, newest first.
store::page_rows list_for_source(pqxx::transaction_base& tx, const std::string& project_module,
                                 const std::string& source_identifier, int64_t limit,
                                 int64_t offset);

// The request hash an idempotent create recorded; nullopt when there is no such execution.
std::optional<std::string> create_request_sha256(pqxx::transaction_base& tx, const std::string& id);
// The job id of the run's execute request; none without a run or a request.
std::optional<std::string> execute_job_id(pqxx::transaction_base& tx, const std::string& id);
// Seconds since the run started (until it completed); none before it started.
std::optional<double> duration_seconds(pqxx::transaction_base& tx, const std::string& id);

// The metrics' gauges: runs by status ([{status, n}]) and runs flagged stuck by state and
// reason ([{state, reason, n}]).
boost::json::array status_counts(pqxx::transaction_base& tx);
boost::json::array stuck_counts(pqxx::transaction_base& tx);
// The runs on Slurm (GET /scheduler/jobs), newest first; only those in flight unless `finished`:
// {execution_id, project_module, execution_status, scheduler_job_id, scheduler_state,
//  scheduler_raw_state, scheduler_reason, daliuge_session_id, remote_session_dir, created_at,
//  last_reconciled_at}.
store::page_rows slurm_runs(pqxx::transaction_base& tx, bool finished, int64_t limit,
                            int64_t offset);
// Runs that still occupy capacity (every status but the terminal ones).
int64_t in_flight_count(pqxx::transaction_base& tx);
// The latest failed runs, newest first:
// {execution_id, project_module, failure_class, last_error, failed_at}.
boost::json::array recent_failures(pqxx::transaction_base& tx, int64_t limit);
// Runs flagged past their liveness bound (in a project, or all): the execution_stuck alert.
int64_t stuck_count(pqxx::transaction_base& tx, const std::optional<std::string>& project_module);

// --- what the workers ask ---

// The whole ledger row, as the projection wrote it, with created_at_ms (the DALiuGE session
// name is derived from it).
std::optional<boost::json::object> row(pqxx::transaction_base& tx, const std::string& id);

// What a poll needs of each run: uuid, daliuge_session_id, scheduler_job_id,
// remote_session_dir, submission_intent_at, deployment_profile_snapshot.
std::vector<boost::json::object> poll_rows(pqxx::transaction_base& tx,
                                           const std::vector<std::string>& ids);

// A run the execution worker has to look at: not terminal, or terminal with its sources not
// yet told. Least recently updated first.
struct work_item {
  std::string id, status, submission, phase, scheduler_job_id, job_id;
  bool execute_requested = false, cancel_requested = false;
  int64_t version = 0;
  std::string backend_kind;     // rest_remote | slurm_remote, from the intent
  std::string correlation_id;   // of the request that asked for the run
  std::string target;           // the intent's target fingerprint
  std::string submission_node;  // the node that recorded the intent
  bool submission_deadline_passed = false;
};
std::vector<work_item> needing_work(pqxx::transaction_base& tx, int64_t limit);

// Runs of a deployment profile that occupy capacity (every non-terminal status).
int64_t in_flight_for_profile(pqxx::transaction_base& tx, const std::string& profile_id);
// Runs asked to execute that have not started submitting yet: the scheduler's queue depth.
int64_t queued_execute_requests(pqxx::transaction_base& tx);

// Every non-terminal run, with the sources it claims.
struct in_flight_run {
  std::string project_module;
  std::optional<std::string> deployment_profile_id;
  std::string status;
  std::vector<std::string> source_identifiers;
};
std::vector<in_flight_run> in_flight(pqxx::transaction_base& tx);

}  // namespace beampipe::projections::execution_ledger

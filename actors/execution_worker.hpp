#pragma once
// Drives executions through their external steps (spec §3.5–3.8, §12.2–12.3): a coordinator
// actor and one actor per active run (execution_run.hpp), whose blocking steps
// (execution_steps.hpp) run off CAF's threads. It reads the work list from the
// batch_execution_record read model and answers the execution aggregate, which decides every
// step; nothing it holds matters after a crash:
//
//   execute requested        → start, stage, manifest, graph, artifacts, then either
//                              not_submitted (dry run) or intent → backend submit → receipt
//   submission in flight     → (owner gone or deadline passed) uncertain
//   submission uncertain     → exact-name lookup: adopt, not found, or ambiguous; recorded
//                              when the outcome changes, backed off, budgeted
//   submitted, not terminal  → poll the backend: every run of a target in one round
//   cancel requested         → poll, then backend cancel, recorded once confirmed, withdrawn
//                              after its last unconfirmed attempt
//
// Liveness (README): every run moves on, or within its backend's bound is flagged so an
// operator can end it (poll_budget_exhausted, lookup_budget_exhausted, cancel_unconfirmed).
//
// The intent is recorded (and committed) before any external call, so a crash between the
// call and its receipt leaves an in-flight submission that recovery looks up by name; the
// aggregate refuses a second intent, so nothing is ever submitted twice.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "actors/runtime.hpp"
#include "adapters/execution_backend.hpp"
#include "adapters/graph_source.hpp"
#include "adapters/wasm_hooks.hpp"

namespace beampipe::actors {

struct execution_worker_options {
  size_t concurrency = 4;
  std::chrono::milliseconds scan_every{500};
  std::chrono::milliseconds dim_poll_every{std::chrono::seconds(3)};     // §3.6 default interval
  std::chrono::milliseconds slurm_poll_every{std::chrono::seconds(30)};  // §3.7 default interval
  std::chrono::milliseconds lookup_every{std::chrono::seconds(30)};      // uncertain submissions
  // Polling budgets after the intent (HEAD defaults: 240 × 3 s, 480 × 30 s); past them a
  // run is escalated to an operator, still polled, never failed for it.
  std::chrono::seconds dim_poll_budget{720};
  std::chrono::seconds slurm_poll_budget{4 * 3600};
  std::chrono::seconds submission_timeout{1800};  // BEAMPIPE_WORKER_SUBMISSION_TIMEOUT_SECONDS
  // Liveness (issue #17). Name lookups of an unresolved submission run this long after its
  // deadline before the run may be abandoned (BEAMPIPE_{DIM,SLURM}_LOOKUP_BUDGET_SECONDS).
  std::chrono::seconds dim_lookup_budget{3600};
  std::chrono::seconds slurm_lookup_budget{3600};
  // Lookups repeating their outcome and polls of a target that cannot be asked double their
  // interval up to these; a cancel is withdrawn after cancel_attempts unconfirmed tries.
  std::chrono::milliseconds lookup_backoff_max{std::chrono::minutes(10)};
  std::chrono::milliseconds poll_backoff_max{std::chrono::minutes(5)};
  int cancel_attempts = 8;
  // A DALiuGE session the DIM no longer knows for this many polls in a row is lost.
  int session_missing_polls = 3;
  // After a recorded redeploy, how long a session may still show BUILDING before the run
  // fails (longer than the DIM deploy timeout, so no other worker's redeploy is in flight).
  std::chrono::seconds redeploy_grace{45};
  // Where graphs may come from: graph.path under BEAMPIPE_HOME, graph.url limits (issue #16).
  adapters::graph_source_options graphs = {".", {}, false};
  // Runs projects' manifest and graph_patches hooks (§5.9); none run without it.
  std::shared_ptr<adapters::wasm_hook_runner> wasm;
  // Fault injection for crash tests: "kill_after_dispatch" raises SIGKILL right after the
  // backend accepted a submission and before the receipt is recorded; "kill_during_prepare"
  // right after the execute job started (its lease held).
  std::string fault;
  // Execute jobs are claimed with a lease (BEAMPIPE_WORKER_LOCK_SECONDS); an execute job whose
  // workers keep dying is dead-lettered after max_attempts recoveries: its execution fails
  // with failure_class worker_lost, and POST /executions/{id}/retry is the operator's requeue.
  std::chrono::milliseconds lock{std::chrono::seconds(120)};
  int max_attempts = 3;
};

// Chooses how a project stages data: returns the staged records, or throws with a message
// that fails the execution. The default passes records through unchanged.
struct staging_outcome {
  boost::json::array records;
  std::vector<std::string> skipped_sbids;
  boost::json::object report;
};
using stager = std::function<staging_outcome(const std::string& archive_name,
                                             const boost::json::array& records)>;

class execution_worker {
 public:
  execution_worker(runtime& rt, store::database& db, adapters::backend_factory backends,
                   stager stage, execution_worker_options opts);
  ~execution_worker();
  void start();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::actors

#pragma once
// What an execution run does outside itself, one blocking step at a time (the run actor of
// execution_run.cpp sends each to a thread off CAF's and takes its memory back when it
// ends). The steps answer the execution aggregate, which decides every transition.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/execution_worker.hpp"
#include "projections/execution_ledger/queries.hpp"

namespace beampipe::actors {

// What this process remembers of one run between its steps. Only the run's actor holds it;
// a step works on its own copy and hands it back.
struct run_memory {
  std::string id;
  std::string correlation;   // the request's correlation id: the run's events and logs
  int64_t seen_version = 0;  // the stream version this process last wrote
  int cancel_attempts = 0;   // unconfirmed cancels in a row
  int missing_polls = 0;     // polls in a row the DIM did not know the run
  // What this process's lookups of an unresolved submission saw (the evidence recorded when
  // their budget runs out).
  struct lookup_stats {
    int lookups = 0, not_found = 0, errors = 0, ambiguous = 0, same_in_row = 0;
    std::string last_outcome, last_error, first_at, last_at;
  } lookups;
  std::chrono::milliseconds lookup_wait{0};  // set by a lookup: until the next one
  bool finished = false;                     // set when the sources are finalised
};

// A run as the ledger lists it for work, and whether its in-flight submission is orphaned.
struct work_row : projections::execution_ledger::work_item {
  bool orphaned = false;
};

// Which step a row asks for (spec §3.5–3.8); `poll` runs in its target's round.
enum class run_step { none, finalize, execute, orphaned, lookup, cancel, poll };
run_step step_for(const work_row& w);

// One run's answer from its target's poll round: its observation, or why the target could
// not be asked (`failures_in_row` rounds in a row).
struct poll_answer {
  std::string correlation;  // the run's request's (set when the answer is handed to the run)
  std::shared_ptr<adapters::execution_backend> backend;
  adapters::execution_ref ref;
  std::optional<adapters::observation> observed;
  std::string error;
  int failures_in_row = 0;
};

// A target's poll round: the runs it asked (with their answers) and whether it could ask.
struct poll_round {
  std::string target;
  std::vector<std::string> ids;  // the runs handed to the round
  std::vector<poll_answer> answers;
  bool asked = true;  // false: the backend could not be asked (counts toward the backoff)
};

// The steps, as the run actors and their coordinator see them (tests replace them).
class run_steps {
 public:
  virtual ~run_steps() = default;
  // The work list (every run needing a step), with orphaned submissions marked.
  virtual std::vector<work_row> needing_work() = 0;
  // Polls the runs `ids` of one target once per round across every process (the round is a
  // recurring job, dim_poll_tick / slurm_poll_tick); `failures`: rounds before that could not
  // ask it.
  virtual poll_round poll(const std::string& target, const std::vector<std::string>& ids,
                          int failures) = 0;
  // A target's polling interval, doubled for each round in a row that could not ask it.
  virtual std::chrono::milliseconds poll_interval(const std::string& target,
                                                  int failures) const = 0;
  virtual void finalize(run_memory& m) = 0;
  virtual void execute(const std::string& job_id, run_memory& m) = 0;
  virtual void orphaned(run_memory& m) = 0;
  virtual void lookup(run_memory& m) = 0;  // sets m.lookup_wait
  virtual void cancel(run_memory& m) = 0;
  virtual void polled(const poll_answer& a, run_memory& m) = 0;
  // How long after a cancel attempt the next may start: 3 s doubling to 5 min.
  virtual std::chrono::milliseconds cancel_backoff(const run_memory& m) const;
  // Where a step runs: never on a CAF thread.
  virtual void run_blocking(std::function<void()> job) = 0;
};

// The real steps: the ledger read model, the backends, the artifact store, job leases.
class execution_steps : public run_steps {
 public:
  execution_steps(runtime& rt, store::database& db, adapters::backend_factory backends,
                  stager stage, execution_worker_options opts);
  ~execution_steps() override;
  void finalize(run_memory& m) override;
  void execute(const std::string& job_id, run_memory& m) override;
  void orphaned(run_memory& m) override;
  void lookup(run_memory& m) override;
  void cancel(run_memory& m) override;
  void polled(const poll_answer& a, run_memory& m) override;
  void run_blocking(std::function<void()> job) override;
  std::vector<work_row> needing_work() override;
  poll_round poll(const std::string& target, const std::vector<std::string>& ids,
                  int failures) override;
  std::chrono::milliseconds poll_interval(const std::string& target, int failures) const override;
  // Waits for the steps running.
  void join();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::actors

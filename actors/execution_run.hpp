#pragma once
// The execution actors (CAF; only the actors' own translation units include this).
//
// The coordinator (`executions_actor`, one per process) scans the ledger's work list on a
// delayed-message timer, keeps one run actor per active execution, hands each the row that
// asks for its next step, and polls each backend target in rounds: one backend call serves
// every run of a target, and each run records its own answer. A run actor
// (`execution_run_actor`) takes one step at a time off CAF's threads (prepare and submit,
// an orphaned submission, a lookup, a cancel, a poll answer, the finalisation), keeps what
// this process remembers of the run between steps (its lookup and cancel backoffs are times
// on the actor clock), and tells the coordinator when it is idle again. A run lives as long as
// the ledger lists it; job leases in PostgreSQL still decide which process runs a step.
#include <string>
#include <vector>

#include "actors/execution_steps.hpp"
#include "actors/protocol.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::work_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<beampipe::actors::work_row>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::run_memory)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::poll_answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::poll_round)

namespace beampipe::actors {

using work_atom = caf::atom_constant<caf::atom("work")>;
using step_atom = caf::atom_constant<caf::atom("step")>;
using polled_atom = caf::atom_constant<caf::atom("polled")>;
using round_atom = caf::atom_constant<caf::atom("round")>;

// `work`: the row asking for a step; `polled`: the run's answer from its target's round;
// `step`: a step ended, with the run's memory.
using execution_run_actor =
    caf::typed_actor<caf::reacts_to<work_atom, work_row>, caf::reacts_to<polled_atom, poll_answer>,
                     caf::reacts_to<step_atom, run_memory>>;

// `scan, bool timer` and `scanned`: the work list; `idle, id, finished, seen_version`: a run's
// step ended (finished: the run needs nothing more; seen_version: the stream version this
// process last wrote for it); `round`: a target's poll round ended.
using executions_actor =
    caf::typed_actor<caf::reacts_to<scan_atom, bool>,
                     caf::reacts_to<scanned_atom, std::vector<work_row>>,
                     caf::reacts_to<idle_atom, std::string, bool, int64_t>,
                     caf::reacts_to<round_atom, poll_round>, caf::reacts_to<stop_atom>>;

struct executions_options {
  std::chrono::milliseconds scan_every{500};
  size_t max_busy = 16;  // runs with a step out at once (poll rounds aside)
  // Clustered nodes: only runs whose execution stream this node holds live here; a run whose
  // shard moved away ends once its step is done, and the new holder's scan takes it up.
  std::function<bool(const std::string& execution_id)> owns = nullptr;
};

// `steps` outlives the actors.
executions_actor spawn_executions(caf::actor_system& sys, run_steps* steps,
                                  executions_options opts);
// `seen_version`: what an earlier actor of the run had written (0 when none).
execution_run_actor spawn_execution_run(caf::local_actor* parent, run_steps* steps, std::string id,
                                        int64_t seen_version, executions_actor coordinator);

}  // namespace beampipe::actors

#pragma once
// What the elected scheduler does on each tick (spec §4): automated discovery admission for
// every active project with automation.discovery.enabled, under the §4.1 shaping knobs.
// Admission is decided by the pure functions of domain/admission.hpp over snapshots read
// from the read models; admitted sources get a DiscoveryRequested stamped with the batch's
// claim token, which is how in-flight batches are counted.
#include <functional>
#include <string>

#include "actors/runtime.hpp"
#include "actors/scheduler.hpp"
#include "domain/admission.hpp"
#include "services/execution_admission.hpp"

namespace beampipe::actors {

// Blocks (bounded) until every read model has applied the event at a global position; false
// when it did not get there in time.
using applied_wait = std::function<bool(int64_t position)>;

// Each tick first waits until the read models show what the previous tick wrote: admission
// decides from read models, and counting in-flight work from a stale view would admit twice.
// Execution admission runs under `gate` (may be null) so it never races API creates.
// What one tick admitted, counted from its summary (for the scheduler metrics).
struct tick_counts {
  uint64_t executions = 0;
  uint64_t discovery_batches = 0;
};
tick_counts count_admitted(const boost::json::object& tick_summary);

tick_function make_admission_tick(runtime& rt, store::database& db, domain::shaping_knobs knobs,
                                  applied_wait wait_applied,
                                  services::admission_gate* gate = nullptr);

}  // namespace beampipe::actors

#pragma once
// What the elected scheduler does on each tick (spec §4): automated discovery admission for
// every active project with automation.discovery.enabled, under the §4.1 shaping knobs.
// Admission is decided by the pure functions of domain/admission.hpp over snapshots read
// from the read models; admitted sources get a DiscoveryRequested stamped with the batch's
// claim token, which is how in-flight batches are counted.
#include <string>

#include "actors/runtime.hpp"
#include "actors/scheduler.hpp"
#include "domain/admission.hpp"

namespace beampipe::actors {

tick_function make_admission_tick(runtime& rt, std::string conninfo, domain::shaping_knobs knobs);

}  // namespace beampipe::actors

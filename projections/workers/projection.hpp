#pragma once
// The worker drains read model (issue #21): which workers an operator drained, from
// WorkerDrained and WorkerResumed. Claims are refused to a drained worker through
// worker_draining() (schema/0019); the API's worker views are in queries.hpp.
#include <memory>

#include "projections/engine.hpp"

namespace beampipe::projections::workers {

std::shared_ptr<const projection> make_projection();

}  // namespace beampipe::projections::workers

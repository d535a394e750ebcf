#pragma once
// The execution details read model (spec §8.1 [HEAD]): execution_observations (one row per
// observation an event carries) and execution_artifacts (one per execution, kind and digest).
// Its queries are in queries.hpp; no other code reads or writes the tables.
#include <memory>

#include "projections/engine.hpp"

namespace beampipe::projections::execution_details {

std::shared_ptr<const projection> make_projection();

}  // namespace beampipe::projections::execution_details

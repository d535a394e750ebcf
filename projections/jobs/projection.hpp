#pragma once
// The jobs read model (spec §12.1): the work the system was asked to do (discovery requests,
// execute requests) and where it stands. Its queries are in queries.hpp; no other code reads
// or writes the table.
#include <memory>

#include "projections/engine.hpp"

namespace beampipe::projections::jobs {

std::shared_ptr<const projection> make_projection();

}  // namespace beampipe::projections::jobs

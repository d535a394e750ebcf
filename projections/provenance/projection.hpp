#pragma once
// The provenance timeline (spec §1.9, §8.2): provenance_events, one row per thing that
// happened to a source, an execution or a project, in the API's words. Its queries are in
// queries.hpp; no other code reads or writes the table.
#include <memory>

#include "projections/engine.hpp"

namespace beampipe::projections::provenance {

std::shared_ptr<const projection> make_projection();

}  // namespace beampipe::projections::provenance

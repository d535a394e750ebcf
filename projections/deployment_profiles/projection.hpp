#pragma once
// The deployment profiles read model (spec §2.3): daliuge_deployment_profile, one row per
// profile. Its queries are in queries.hpp; no other code reads or writes the table.
#include <memory>
#include <vector>

#include "projections/engine.hpp"

namespace beampipe::projections::deployment_profiles {

std::shared_ptr<const projection> make_projection();

}  // namespace beampipe::projections::deployment_profiles

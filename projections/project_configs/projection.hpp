#pragma once
// The project configs read models (spec §2): project_configs (every uploaded version, one
// active per project) and project_config_wasm (the hook modules each project has). Their
// queries are in queries.hpp; no other code reads or writes the tables.
#include <memory>
#include <vector>

#include "projections/engine.hpp"

namespace beampipe::projections::project_configs {

std::vector<std::shared_ptr<const projection>> make_projections();

}  // namespace beampipe::projections::project_configs

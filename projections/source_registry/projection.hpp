#pragma once
// The source_registry read model (spec §1.1): one row per source, folded from its stream.
// Its queries are in queries.hpp; no other code reads or writes the table.
#include <memory>

#include "projections/engine.hpp"

namespace beampipe::projections::source_registry {

std::shared_ptr<const projection> make_projection();
// archive_metadata (spec §1.2): the source's archive rows by SBID, from its discoveries.
std::shared_ptr<const projection> make_archive_metadata_projection();

}  // namespace beampipe::projections::source_registry

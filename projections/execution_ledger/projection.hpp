#pragma once
// The execution ledger read model (spec §1.5): one batch_execution_record row per execution,
// folded by ledger::evolve, the same function the execution aggregate applies. Its queries are
// in queries.hpp; no other code reads or writes the table.
#include <memory>

#include "projections/engine.hpp"

namespace beampipe::projections::execution_ledger {

std::shared_ptr<const projection> make_projection();

}  // namespace beampipe::projections::execution_ledger

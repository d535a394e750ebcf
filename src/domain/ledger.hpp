#pragma once
// The execution ledger (batch_execution_record, spec §1.5, §8.1) as a fold over an execution's
// events. The execution aggregate's state and the ledger read model are both this fold, so
// what a decider sees and what the API answers cannot drift apart, and the projection copies
// what the events say instead of deriving it again.
#include <boost/json.hpp>
#include <string_view>

namespace beampipe::domain::ledger {

// One ledger row, by column.
using row = boost::json::object;

// Applies one execution event (decoded to the current version) to `r`; recorded_at is the
// event's time, the only clock the fold knows. execution.created starts a fresh row.
void evolve(row& r, std::string_view type, const boost::json::object& data,
            std::string_view recorded_at);

// What a version 1 execution event (the row envelope: after, stamp, stamp_once,
// run_record_merge) does to a row. evolve() uses it for the types still at version 1; the
// tests hold each upcast fact to it (the same row from a v1 payload and from its fact).
void apply_envelope(row& r, const boost::json::object& data, std::string_view recorded_at);

}  // namespace beampipe::domain::ledger

#pragma once
// The execution ledger (batch_execution_record, spec §1.5, §8.1) as a fold over an execution's
// events. The execution aggregate's state and the ledger read model are both this fold, so
// what a decider sees and what the API answers cannot drift apart, and the projection copies
// what the events say instead of deriving it again.
#include <boost/json.hpp>
#include <string>
#include <string_view>

namespace beampipe::domain::ledger {

// One ledger row, by column.
using row = boost::json::object;

// Applies one execution event (decoded to the current version) to `r`; recorded_at is the
// event's time, the only clock the fold knows. execution.created starts a fresh row.
void evolve(row& r, std::string_view type, const boost::json::object& data,
            std::string_view recorded_at);

// The run's error once the operator abandoned its submission.
std::string abandonment_error(std::string_view reason);

// Deep-merges a run record patch into workflow_manifest.beampipe_run_record: objects key by
// key, anything else replaces; legacy "observations" arrays are dropped (§8.1).
void merge_run_record(row& r, const boost::json::object& patch);

}  // namespace beampipe::domain::ledger

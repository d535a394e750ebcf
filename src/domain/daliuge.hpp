// DALiuGE REST backend, pure part (protocols §4.1, §5.2, §5.3; domain §3.6, §7.4, §7.5.1):
// DIM session-state classification, error drops, deploy roots, physical-graph preparation,
// the Slurm PGT wrapper, session ids and path-segment encoding. No I/O.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/execution_fsm.hpp"
#include "domain/result.hpp"

namespace beampipe::domain {

// DALiuGE SessionStates (PRISTINE=0 … FAILED=6) plus `unknown` for anything unrecognised,
// including an unknown session, which a DIM answers with {"<node>":{"Status":"Success"}}.
enum class dim_session_state {
  pristine,
  building,
  deploying,
  running,
  finished,
  cancelled,
  failed,
  unknown
};

// Upper-case DALiuGE names ("PRISTINE", …, "FAILED", "UNKNOWN"): what operators see in the DIM UI.
std::string_view to_string(dim_session_state s);

// §5.3 from_raw: an integer 0..6, a string (case-insensitive, with the aliases
// COMPLETED/CANCELED/FAIL/ERROR), an object with a "status" key, or a per-node map
// aggregated as: empty or any unknown → unknown; any failed → failed; all finished →
// finished; all cancelled → cancelled; else the first present of running, deploying,
// building, pristine; else unknown (e.g. a {4,5} mix). Nesting is bounded (a MasterManager
// nests per-DIM maps); anything deeper, null, bool or array is unknown.
dim_session_state dim_session_state_from_raw(const boost::json::value& raw);

// §5.3: finished → completed, cancelled → cancelled, failed → failed; everything else,
// unknown included, → running (the poll budget bounds an unknown session).
execution_status dim_execution_status(dim_session_state s);

// Uids whose /graph/status entry is 3 (DROPStates.ERROR), {"status":3}, or a string (or
// string status) containing ERROR or FAILED, case-insensitively. Sorted. Non-objects → none.
std::vector<std::string> dim_error_drop_uids(const boost::json::value& graph_status);

// §3.6 step 3: a completed session with any error drop is failed.
execution_status dim_poll_status(dim_session_state s, const std::vector<std::string>& error_uids);

// §5.2 roots for deploy's completed=, with DALiuGE's get_roots semantics: only truthy link
// lists count (`"inputs": []` keeps a drop a root); apps are categoryType (else type)
// Application|app|Socket|socket, data Data|data|plain; links are strings or {oid: name}
// objects (a whole-object link list contributes its keys). Elements without a string oid
// (reprodata) are ignored. Sorted, unique.
std::vector<std::string> physical_graph_roots(const boost::json::value& pg);

// §4.1 REST post-processing of the /map answer: keeps objects with an oid, appends the last
// object carrying "rmode" at the end, fills a missing "type" from categoryType
// (Application→app, Data→plain, Socket→socket, Container→container), a missing "app" of
// app/socket drops from "dropclass", and sets humanReadableKey = "<1-based index>_<iid>".
// Error: "physical graph is not a JSON array".
Result<boost::json::array> prepare_physical_graph(const boost::json::value& mapped);

// §4.1/§7.5.1 Slurm PGT: wraps a bare array as ["beampipe_pgt.graph", array] (an existing
// [string, array] pair is kept), then names element 0 "<session_id>.pgt.graph".
// Error: "PGT is neither a drop array nor a [name, drops] pair".
Result<boost::json::array> bind_slurm_pgt(const boost::json::value& pgt,
                                          std::string_view session_id);

// BeampipeExecution-<execution uuid>-<created_at UTC as %Y-%m-%dT%H-%M-%S>. created_at is
// unix milliseconds (the event-store timestamp unit; sub-second digits are dropped). The
// uuid must be 36 characters of hex digits and dashes, so the id never needs a '/'.
Result<std::string> dim_session_id(std::string_view execution_uuid,
                                   std::int64_t created_at_unix_ms);

// RFC 3986 path segment: every byte except A-Za-z0-9-_.~ becomes %XX (upper-case hex).
std::string percent_encode_path_segment(std::string_view s);

}  // namespace beampipe::domain

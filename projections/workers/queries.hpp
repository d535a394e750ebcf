#pragma once
// The worker views of the API (spec §9.5): each worker as its heartbeat row says (node_heartbeats,
// operational) with the operator's drain (worker_drains, this slice's read model) and the job
// leases it holds (job_leases) folded in. Health: stopped (a clean shutdown), stale (no beat
// within three intervals), draining, healthy.
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "store/paging.hpp"

namespace beampipe::projections::workers {

struct list_filter {
  std::string status, pool;  // empty: any
};
// WorkerRead rows by id.
store::page_rows list(pqxx::transaction_base& tx, std::chrono::seconds every,
                      const list_filter& filter, int64_t limit, int64_t offset);
std::optional<boost::json::object> find(pqxx::transaction_base& tx, std::chrono::seconds every,
                                        const std::string& id);
// (The leases each worker holds: projections::jobs::held_leases.)
// Per pool: workers active, draining and unhealthy, their concurrency and leases held.
store::page_rows pools(pqxx::transaction_base& tx, std::chrono::seconds every, int64_t limit,
                       int64_t offset);
// Whether the worker is drained now (what claims are refused by).
bool draining(pqxx::transaction_base& tx, const std::string& id);

}  // namespace beampipe::projections::workers

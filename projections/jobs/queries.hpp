#pragma once
// The jobs read model's queries (spec §12.1): the only SQL against the jobs table outside the
// projection. A job's status is read through job_status_now (schema/0014) with its live lease
// folded in; recurring poll ticks, which have no events, are answered from their leases.
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "store/paging.hpp"

namespace beampipe::projections::jobs {

// A job (or a recurring tick) as the API shows it (JobRow).
std::optional<boost::json::object> find(pqxx::transaction_base& tx, const std::string& id);

struct list_filter {
  std::string status, kind, project_module;  // empty: any
};
// Newest first; ticks are listed only when no project is asked for.
store::page_rows list(pqxx::transaction_base& tx, const list_filter& filter, int64_t limit,
                      int64_t offset);

// The job leases held now (GET /workers/leases), soonest to expire first; of one worker
// (lease owner) when `worker_id` is not empty. A recurring tick's round is a lease too.
store::page_rows held_leases(pqxx::transaction_base& tx, const std::string& worker_id,
                             int64_t limit, int64_t offset);

// Queued jobs waiting for a worker and those a worker holds: what /ready reports.
struct queue_state {
  int64_t queued = 0, running = 0;
};
queue_state queue(pqxx::transaction_base& tx);
// Queued jobs (in a project, or all): the queue_depth alert.
int64_t queued(pqxx::transaction_base& tx, const std::optional<std::string>& project_module);

// The metrics' gauges: jobs by kind and status ([{kind, status, n}]), how many are queued and
// how long the oldest has waited (seconds).
struct gauges {
  boost::json::array by_kind_and_status;
  int64_t queued = 0;
  double oldest_queued_seconds = 0;
};
gauges metrics(pqxx::transaction_base& tx);

}  // namespace beampipe::projections::jobs

#include "actors/discovery_worker.hpp"

#include <spdlog/spdlog.h>

#include "actors/work_loop.hpp"
#include "domain/admission.hpp"
#include "domain/aggregates.hpp"
#include "domain/readiness.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/source_registry/queries.hpp"
#include "services/job_lease_keeper.hpp"
#include "services/project_hooks.hpp"
#include "util/json.hpp"
#include "util/time.hpp"

namespace beampipe::actors {
namespace json = boost::json;

// An outstanding request's attempt, as the source registry lists it.
struct discovery_request {
  std::string source_uuid, project_module, source_identifier, request_id;
  bool enabled = false;
  std::string signature, last_executed;
  int attempt = 1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, discovery_request& r) {
  return f(caf::meta::type_name("discovery_request"), r.source_uuid, r.project_module,
           r.source_identifier, r.request_id, r.enabled, r.signature, r.last_executed, r.attempt);
}

struct discovery_worker::impl {
  using request = discovery_request;
  runtime& rt;
  archive_provider archives;
  discovery_worker_options opts;
  store::connection_pool& pool;
  discovery_worker* owner;
  services::job_lease_keeper leases;
  work_loop_runner<request> loop;

  impl(runtime& r, store::database& db, archive_provider a, discovery_worker_options o,
       discovery_worker* w)
      : rt(r),
        archives(std::move(a)),
        opts(o),
        pool(db.pool(store::db_role::discovery)),
        owner(w),
        leases(db, r.node_id(), o.lock),
        loop({"discovery", o.concurrency, o.poll}, ports()) {}

  work_loop_ports<request> ports() {
    work_loop_ports<request> p;
    p.scan = [this] {
      std::vector<request> due;
      store::with_connection(pool, [&](pqxx::connection& c) {
        pqxx::read_transaction tx{c};
        for (auto& r : projections::source_registry::due_for_discovery(
                 tx, static_cast<int64_t>(opts.concurrency * 4)))
          due.push_back({std::move(r.source_uuid), std::move(r.project_module),
                         std::move(r.source_identifier), std::move(r.request_id), r.enabled,
                         std::move(r.signature), std::move(r.last_executed), r.attempt});
      });
      return due;
    };
    p.key = [](const request& q) { return q.request_id + "#" + std::to_string(q.attempt); };
    // Unsettled (not claimed here, or the store refused the answer): looked at again.
    p.run = [this](const request& q) { return claim_and_run(q); };
    return p;
  }

  // What one attempt produced: the command that records it.
  struct answer_cmd {
    std::string name;
    json::object body;
  };

  // True when the attempt is settled: answered, or already answered by someone else.
  bool answer(const request& q, const answer_cmd& a) {
    auto body = a.body;
    body["request_id"] = q.request_id;
    body["attempt"] = q.attempt;
    command_request cr;
    cr.stream_id = domain::source_stream_id(q.source_uuid);
    cr.cmd.name = a.name;
    cr.cmd.body = std::move(body);
    cr.cmd.actor = "system:discovery";
    cr.correlation_id = q.request_id;
    auto r = rt.send_sync(std::move(cr));
    if (r.code == "stale_discovery") {
      // Someone else answered this attempt (or moved the request on): nothing to record.
      spdlog::info("discovery answer for {} attempt {} refused: stale_discovery: {}",
                   q.source_identifier, q.attempt, r.message);
      return true;
    }
    if (!r.ok()) {
      spdlog::warn("discovery answer for {} refused: {} {}", q.source_identifier, r.code,
                   r.message);
      return false;
    }
    return true;
  }

  // A retryable failure: the aggregate schedules the next attempt after the backoff, or
  // dead-letters the request when this round's attempts are used up.
  answer_cmd retry_later(const request& q, const std::string& error, bool lease_lost = false) {
    auto delay = domain::job_retry_delay_ms(q.attempt, q.request_id, opts.retry_base_ms);
    auto at = util::clock::now() + std::chrono::milliseconds(delay);
    return {"fail_discovery_attempt",
            {{"error", error},
             {"failure_class", lease_lost ? std::string("worker_lost")
                                          : std::string(domain::failure_class_of(error))},
             {"retry_at", util::to_rfc3339(at)},
             {"max_attempts", opts.max_attempts},
             {"lease_lost", lease_lost}}};
  }

  bool claim_and_run(const request& q) {
    // Clustered: the holder of the source's shard runs its discovery (issue #23).
    if (!rt.holds(domain::source_stream_id(q.source_uuid))) return false;
    auto claim = leases.claim(q.request_id, "discover_source", q.attempt);
    if (!claim) return false;  // another worker holds this attempt, or it is already done
    if (claim->recovered) {
      // The previous holder died (or stalled) mid-attempt: that attempt failed. The next one
      // runs after the backoff like any retryable failure, so a source that kills its worker
      // ends in the dead letter instead of looping.
      bool settled = answer(
          q,
          retry_later(q, "worker " + claim->previous_owner + " lost its lease mid-attempt", true));
      leases.finish(*claim, settled, "lease expired: attempt recorded as failed");
      owner->failed_++;
      return settled;
    }
    answer_cmd result;
    try {
      result = run_discovery_for(q);
    } catch (const std::exception& e) {
      // Whatever went wrong stays with this source, and is worth another attempt.
      result = retry_later(q, std::string("internal error: ") + e.what());
      owner->failed_++;
    }
    if (!leases.held(*claim)) {
      // Someone else owns this attempt now; whatever we found is dropped unrecorded.
      spdlog::warn("discovery of {} attempt {}: lease lost, result dropped", q.source_identifier,
                   q.attempt);
      leases.finish(*claim, false);
      return false;
    }
    bool settled = answer(q, result);
    leases.finish(*claim, settled, result.name);
    return settled;
  }

  answer_cmd run_discovery_for(const request& q) {
    std::optional<domain::ProjectConfig> config;
    std::map<std::string, json::value> stored;
    std::optional<domain::project_hooks> hooks;
    store::with_connection(pool, [&](pqxx::connection& c) {
      {
        pqxx::read_transaction tx{c};
        if (auto stored = projections::project_configs::active_config(tx, q.project_module))
          config = domain::parse_project_config(util::parse_stored(stored->spec)).config;
        stored = projections::source_registry::archive_rows(tx, q.source_uuid);
      }
      if (config) hooks = services::bind_project_hooks(c, *config, opts.wasm);
    });
    if (!config) {
      owner->failed_++;
      return {"fail_discovery",
              {{"error", "project '" + q.project_module + "' has no active config"},
               {"retryable", false},
               {"failure_class", "configuration"}}};
    }
    auto binding = archives(*config);
    auto t0 = std::chrono::steady_clock::now();
    auto result = domain::run_discovery(*config, q.source_identifier, q.signature, stored,
                                        binding.query, hooks ? &*hooks : nullptr);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    for (const auto& w : result.warnings)
      spdlog::warn("discovery of {}: {}", q.source_identifier, w);
    if (result.outcome == domain::discovery_run_result::kind::failed) {
      owner->failed_++;
      const auto& msg = result.failure->message;
      if (result.failure->retryable && !domain::is_non_retryable_job_error("discover_batch", msg))
        return retry_later(q, msg);
      return {"fail_discovery",
              {{"error", msg},
               {"retryable", false},
               {"failure_class", std::string(domain::failure_class_of(msg))},
               {"duration_ms", ms}}};
    }
    const char* outcome = result.outcome == domain::discovery_run_result::kind::changed ? "changed"
                          : result.outcome == domain::discovery_run_result::kind::unchanged
                              ? "unchanged"
                              : "no_datasets";
    // Readiness of the source as it will be once this result is recorded.
    domain::SourceReadinessState st;
    st.enabled = q.enabled;
    st.last_checked_at_set = true;
    st.discovery_signature = result.signature;
    st.last_executed_discovery_signature = q.last_executed;
    st.metadata_rows = result.rows.empty() ? stored : result.rows;
    bool ready = !domain::source_readiness_error(q.source_identifier, st).has_value();
    json::object rows;
    for (auto& [sbid, v] : result.rows) rows[sbid] = v;
    json::array deletes;
    for (auto& s : result.delete_sbids) deletes.push_back(json::value(s));
    json::array warnings;
    for (auto& w : result.warnings) warnings.push_back(json::value(w));
    answer_cmd done{"complete_discovery",
                    {{"outcome", outcome},
                     {"signature", result.signature},
                     {"rows", std::move(rows)},
                     {"delete_sbids", std::move(deletes)},
                     {"flags", result.flags},
                     {"datasets", result.datasets},
                     {"truncated", result.truncated},
                     {"warnings", std::move(warnings)},
                     {"ready", ready}}};
    if (!result.wasm_hooks.empty())
      done.body["wasm_hooks"] = domain::hook_runs_json(result.wasm_hooks);
    owner->completed_++;
    spdlog::info("discovered {} ({}, {} datasets, {} ms, archive {})", q.source_identifier, outcome,
                 result.datasets, ms, binding.description);
    return done;
  }
};

discovery_worker::discovery_worker(runtime& rt, store::database& db, archive_provider archives,
                                   discovery_worker_options opts)
    : impl_(std::make_unique<impl>(rt, db, std::move(archives), opts, this)) {}

discovery_worker::~discovery_worker() { stop(); }

void discovery_worker::start() { impl_->loop.start(runtime_access::system(impl_->rt)); }

void discovery_worker::stop() {
  if (impl_) impl_->loop.stop();
}

}  // namespace beampipe::actors

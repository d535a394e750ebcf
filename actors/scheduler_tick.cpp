#include "actors/scheduler_tick.hpp"

#include <spdlog/spdlog.h>

#include <memory>
#include <thread>

#include "domain/aggregates.hpp"
#include "domain/project_config.hpp"
#include "store/db.hpp"
#include "util/ids.hpp"
#include "util/time.hpp"

namespace beampipe::actors {
namespace json = boost::json;

namespace {

std::optional<domain::admission_time> time_of(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return util::parse_rfc3339(f.as<std::string>());
}

struct tick_context {
  runtime& rt;
  std::string conninfo;
  domain::shaping_knobs knobs;
  std::shared_ptr<store::connection_pool> pool;
};

// Work waiting to start: outstanding discovery requests plus executions asked to run that
// have not submitted yet (the jobs queue of the spec, as this design keeps it).
int64_t queue_depth(pqxx::read_transaction& tx) {
  return tx
      .exec(
          "SELECT (SELECT count(*) FROM source_registry WHERE discovery_request_id IS NOT NULL) + "
          "(SELECT count(*) FROM batch_execution_record WHERE execute_request IS NOT NULL "
          " AND submission_state = 'not_started' "
          " AND status NOT IN ('completed','failed','cancelled','not_submitted'))")[0][0]
      .as<int64_t>();
}

json::object discovery_tick(tick_context& ctx, const std::string& module,
                            const domain::ProjectConfig& config) {
  const auto& automation = *config.automation.discovery;
  auto payload = domain::discovery_tick_payload_from(automation, ctx.knobs);
  auto policy = domain::resolve_discovery_tick(payload, ctx.knobs);
  auto now = domain::admission_clock::now();
  domain::discovery_admission_input in;
  in.payload = payload;
  in.knobs = ctx.knobs;
  in.required_adapters = config.adapters.required;
  std::vector<domain::discovery_source_snapshot> sources;
  store::with_connection(*ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    in.queue_depth = queue_depth(tx);
    auto inflight = tx.exec_params(
        "SELECT count(DISTINCT discovery_claim_token), "
        "       count(DISTINCT discovery_claim_token) FILTER (WHERE project_module = $1) "
        "FROM source_registry WHERE discovery_request_id IS NOT NULL AND discovery_claim_token IS "
        "NOT NULL",
        module);
    in.global_in_flight_batches = inflight[0][0].as<int64_t>();
    in.project_in_flight_batches = inflight[0][1].as<int64_t>();
    // An outstanding request is a live claim until claim_ttl after it was made.
    auto r = tx.exec_params(
        "SELECT source_identifier, enabled, to_json(created_at)#>>'{}', "
        "to_json(last_checked_at)#>>'{}', "
        "CASE WHEN discovery_request_id IS NULL THEN NULL ELSE "
        "  to_json(discovery_requested_at + make_interval(mins => $2::int))#>>'{}' END "
        "FROM source_registry WHERE project_module = $1 AND NOT deleted",
        module, static_cast<int>(policy.claim_ttl_minutes));
    for (const auto& row : r) {
      domain::discovery_source_snapshot s;
      s.source_identifier = row[0].as<std::string>();
      s.enabled = row[1].as<bool>();
      s.created_at = time_of(row[2]).value_or(now);
      s.last_checked_at = time_of(row[3]);
      s.discovery_claim_expires_at = time_of(row[4]);
      sources.push_back(std::move(s));
    }
  });
  in.due_sources = domain::due_sources(std::move(sources), now, policy.stale_after_hours);
  auto decision = domain::decide_discovery_admission(in);
  int64_t requested = 0;
  for (const auto& batch : decision.batches) {
    auto token = util::uuid_v7();
    for (const auto& ident : batch.source_identifiers) {
      command_request cr;
      cr.stream_id = domain::source_stream_id(domain::source_uuid(module, ident));
      cr.cmd = {"request_discovery",
                {{"reason", "scheduler"}, {"claim_token", token}},
                "system:scheduler"};
      cr.correlation_id = token;
      auto reply = ctx.rt.send_sync(std::move(cr));
      if (reply.status < 400 && reply.events_appended > 0) ++requested;
    }
    if (ctx.knobs.enqueue_pacing_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(ctx.knobs.enqueue_pacing_ms));
  }
  return {{"batches", decision.batches.size()},
          {"sources", requested},
          {"due", in.due_sources.size()},
          {"queue_depth", in.queue_depth},
          {"in_flight_batches", in.global_in_flight_batches},
          {"reasons", domain::to_json(decision.reasons)}};
}

}  // namespace

tick_function make_admission_tick(runtime& rt, std::string conninfo, domain::shaping_knobs knobs) {
  auto ctx = std::make_shared<tick_context>(
      tick_context{rt, conninfo, knobs,
                   std::make_shared<store::connection_pool>(conninfo, 2, "beampipe-scheduler")});
  return [ctx](int64_t) {
    json::object discovery;
    std::vector<std::pair<std::string, std::string>> configs;  // module, spec
    store::with_connection(*ctx->pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      for (const auto& row : tx.exec("SELECT project_id, spec::text FROM project_configs WHERE "
                                     "active ORDER BY project_id"))
        configs.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    });
    for (const auto& [module, spec] : configs) {
      try {
        auto parsed = domain::parse_project_config(json::parse(spec));
        if (!parsed.config || !parsed.config->automation.discovery ||
            !parsed.config->automation.discovery->enabled)
          continue;
        discovery[module] = discovery_tick(*ctx, module, *parsed.config);
      } catch (const std::exception& e) {
        // One project's failure never stops the others.
        spdlog::warn("scheduler: discovery admission for {} failed: {}", module, e.what());
        discovery[module] = json::object{{"error", e.what()}};
      }
    }
    return json::object{{"discovery", std::move(discovery)}};
  };
}

}  // namespace beampipe::actors

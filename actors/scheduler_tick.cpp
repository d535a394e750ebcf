#include "actors/scheduler_tick.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/project_config.hpp"
#include "projections/deployment_profiles/queries.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/source_registry/queries.hpp"
#include "services/execution_admission.hpp"
#include "store/db.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"
#include "util/time.hpp"

namespace beampipe::actors {
namespace json = boost::json;

namespace {

std::optional<domain::admission_time> time_of(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return util::parse_rfc3339(*text);
}

struct tick_context {
  runtime& rt;
  domain::shaping_knobs knobs;
  store::connection_pool* pool;  // the database's admission-tick pool
  size_t parallelism;            // admission checks at once: each holds one of its connections
  applied_wait wait_applied;
  services::admission_gate* gate = nullptr;
  int64_t last_position = 0;  // newest event this scheduler wrote

  // Sends every command at once (each to its own stream): one group commit, not one each.
  std::vector<command_reply> send_all(std::vector<command_request> reqs) {
    auto replies = rt.send_all(std::move(reqs));
    for (const auto& r : replies)
      if (r.ok()) last_position = std::max(last_position, r.position);
    return replies;
  }
};

command_request make_request(std::string stream, std::string name, json::object body,
                             const std::string& corr) {
  command_request cr;
  cr.stream_id = std::move(stream);
  cr.cmd = {std::move(name), std::move(body), "system:scheduler"};
  cr.correlation_id = corr;
  return cr;
}

// Work waiting to start: outstanding discovery requests plus executions asked to run that
// have not submitted yet (the jobs queue of the spec, as this design keeps it).
int64_t queue_depth(pqxx::read_transaction& tx) {
  return projections::source_registry::outstanding_discovery_requests(tx) +
         projections::execution_ledger::queued_execute_requests(tx);
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
    auto inflight = projections::source_registry::discovery_batches_in_flight(tx, module);
    in.global_in_flight_batches = inflight.global;
    in.project_in_flight_batches = inflight.project;
    // An outstanding request is a live claim until claim_ttl after it was made.
    for (auto& c : projections::source_registry::discovery_candidates(
             tx, module, static_cast<int>(policy.claim_ttl_minutes))) {
      domain::discovery_source_snapshot s;
      s.source_identifier = std::move(c.source_identifier);
      s.enabled = c.enabled;
      s.created_at = time_of(c.created_at).value_or(now);
      s.last_checked_at = time_of(c.last_checked_at);
      s.discovery_claim_expires_at = time_of(c.claim_expires_at);
      sources.push_back(std::move(s));
    }
  });
  in.due_sources = domain::due_sources(std::move(sources), now, policy.stale_after_hours);
  auto decision = domain::decide_discovery_admission(in);
  int64_t requested = 0;
  for (const auto& batch : decision.batches) {
    auto token = util::uuid_v7();
    std::vector<command_request> reqs;
    for (const auto& ident : batch.source_identifiers)
      reqs.push_back(make_request(domain::source_stream_id(domain::source_uuid(module, ident)),
                                  "request_discovery",
                                  {{"reason", "scheduler"}, {"claim_token", token}}, token));
    for (const auto& reply : ctx.send_all(std::move(reqs)))
      if (reply.ok() && reply.events_appended > 0) ++requested;
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

// §4.3 with the [HEAD] changes: creates executions for pending sources within the caps, asks
// each to execute, and clears the admitted sources' pending flags.
json::object execution_tick(tick_context& ctx, const std::string& module, const json::value& spec) {
  domain::execution_admission_input in;
  in.policy = domain::lenient_execution_policy(spec);
  in.knobs = ctx.knobs;
  in.now = domain::admission_clock::now();
  std::optional<std::string> profile_name = in.policy.deployment_profile_name;
  if (profile_name)
    profile_name = in.policy.deployment_profile_name = domain::trim_copy(*profile_name);
  std::optional<std::string> profile_id;
  store::with_connection(*ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    in.queue_depth = queue_depth(tx);
    // The profile automated runs use: the policy's name, else the default. A name that does
    // not exist refuses admission (decide_execution_admission): no fallback to the default.
    namespace profiles = projections::deployment_profiles;
    auto profile = profile_name ? profiles::pinnable_by_name(tx, *profile_name)
                                : profiles::pinnable_default(tx, module);
    if (profile_name) in.named_profile_missing = !profile;
    if (profile) {
      profile_id = std::string(profile->at("uuid").as_string());
      in.profile_max_concurrent_executions = util::get_int(*profile, "max_concurrent_executions");
    }
    std::vector<domain::execution_snapshot> running;
    std::set<std::string> claimed;  // sources of runs still in flight
    for (auto& run : projections::execution_ledger::in_flight(tx)) {
      domain::execution_snapshot e;
      e.project_module = std::move(run.project_module);
      e.deployment_profile_id = std::move(run.deployment_profile_id);
      e.status =
          domain::parse_execution_status(run.status).value_or(domain::execution_status::pending);
      if (e.project_module == module)
        claimed.insert(run.source_identifiers.begin(), run.source_identifiers.end());
      running.push_back(std::move(e));
    }
    auto counts = domain::count_executions_in_flight(running, module, profile_id);
    in.global_in_flight = counts.global;
    in.project_in_flight = counts.project;
    in.profile_in_flight = counts.profile;
    for (auto& p : projections::source_registry::pending_for_execution(tx, module)) {
      domain::pending_source ps;
      ps.source_identifier = std::move(p.source_identifier);
      ps.workflow_run_pending_at = time_of(p.workflow_run_pending_at);
      ps.created_at = time_of(p.created_at).value_or(in.now);
      ps.live_workflow_claim = claimed.count(ps.source_identifier) > 0;
      ps.readiness = std::move(p.readiness);
      in.pending.push_back(std::move(ps));
    }
  });
  auto decision = domain::decide_execution_admission(in);
  if (decision.error) {
    // Recorded in the tick (SchedulerTicked) and logged: the runs wait, visibly.
    spdlog::warn("scheduler: execution admission for {} refused: {}", module, *decision.error);
    return {{"executions", json::array{}},
            {"pending", decision.pending_count},
            {"run_limit", decision.run_limit},
            {"claimed", 0},
            {"reasons", domain::to_json(decision.reasons)},
            {"error", *decision.error},
            {"code", "unknown_profile"},  // as POST /executions names it
            {"deployment_profile_name", profile_name.value_or("")}};
  }
  auto claim = util::uuid_v7();
  json::array created;
  auto reasons = decision.reasons;
  std::set<std::string> admitted;
  // Admission checks run a few at a time; the creates, then the execute requests, go out
  // together (one group commit) unless the operator paces enqueues.
  struct planned {
    const domain::planned_execution* plan;
    json::object body, cmd;
    std::optional<services::admission_error> refused;
  };
  std::vector<planned> plans;
  for (const auto& plan : decision.executions) {
    json::array sources;
    for (const auto& s : plan.source_identifiers)
      sources.push_back(json::object{{"source_identifier", s}});
    json::object body{
        {"project_module", module}, {"archive_name", in.policy.archive_name}, {"sources", sources}};
    if (profile_name) body["deployment_profile_name"] = *profile_name;
    plans.push_back({&plan, body, body, std::nullopt});
  }
  const size_t parallel = ctx.knobs.enqueue_pacing_ms > 0 ? 1 : ctx.parallelism;
  std::vector<planned*> accepted;
  bool profile_full = false;
  for (size_t from = 0; from < plans.size() && !profile_full; from += parallel) {
    std::vector<std::future<void>> checks;
    for (size_t i = from; i < std::min(plans.size(), from + parallel); ++i)
      checks.push_back(std::async(std::launch::async, [&ctx, &p = plans[i]] {
        try {
          auto adm = services::admit_execution(*ctx.pool, p.body, false);
          for (auto& kv : adm.pins) p.cmd[kv.key()] = kv.value();
        } catch (const services::admission_error& e) {
          p.refused = e;
        }
      }));
    for (auto& f : checks) f.get();
    for (size_t i = from; i < std::min(plans.size(), from + parallel); ++i) {
      auto& p = plans[i];
      if (p.refused) {
        // A run the API would refuse (a source no longer ready, the profile at its limit) is
        // not created; the sources stay pending for a later tick.
        reasons.bump(p.refused->code == "profile_concurrency_limit"
                         ? domain::skip_reason::profile_in_flight_cap
                         : domain::skip_reason::sources_skipped_not_ready);
        spdlog::info("scheduler: {} not admitted: {}", module, p.refused->what());
        if (p.refused->code == "profile_concurrency_limit") {
          profile_full = true;
          break;
        }
        continue;
      }
      p.cmd.erase("deployment_profile_name");
      p.cmd["request_sha256"] = services::execution_request_sha256(p.body);
      p.cmd["automation"] = json::object{{"claim_token", claim}, {"queue_depth", in.queue_depth}};
      accepted.push_back(&p);
    }
  }
  for (size_t from = 0; from < accepted.size(); from += parallel == 1 ? 1 : accepted.size()) {
    auto to = parallel == 1 ? from + 1 : accepted.size();
    std::vector<command_request> creates;
    std::vector<std::string> ids;
    for (size_t i = from; i < to; ++i) {
      ids.push_back(util::uuid_v7());
      creates.push_back(make_request(domain::execution_stream_id(ids.back()), "create",
                                     std::move(accepted[i]->cmd), claim));
    }
    auto replies = ctx.send_all(std::move(creates));
    std::vector<command_request> executes;
    for (size_t k = 0; k < replies.size(); ++k) {
      if (!replies[k].ok()) {
        spdlog::warn("scheduler: creating an execution for {} failed: {}", module,
                     replies[k].message);
        continue;
      }
      executes.push_back(
          make_request(domain::execution_stream_id(ids[k]), "request_execute", {}, claim));
      created.push_back(json::value(ids[k]));
      for (const auto& s : accepted[from + k]->plan->source_identifiers) admitted.insert(s);
    }
    ctx.send_all(std::move(executes));
    if (ctx.knobs.enqueue_pacing_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(ctx.knobs.enqueue_pacing_ms));
  }
  std::vector<command_request> clears;
  for (const auto& s : decision.clear_pending) {
    // Only what was really admitted (or already executed) stops being pending.
    bool already =
        std::any_of(decision.skipped.begin(), decision.skipped.end(), [&](const auto& k) {
          return k.source_identifier == s && k.reason == domain::kAlreadyExecutedReason;
        });
    if (!admitted.count(s) && !already) continue;
    clears.push_back(make_request(domain::source_stream_id(domain::source_uuid(module, s)),
                                  "clear_pending",
                                  {{"reason", already ? "already_executed" : "admitted"}}, claim));
  }
  ctx.send_all(std::move(clears));
  return {{"executions", std::move(created)},
          {"pending", decision.pending_count},
          {"run_limit", decision.run_limit},
          {"claimed", decision.claimed.size()},
          {"reasons", domain::to_json(reasons)}};
}

}  // namespace

tick_counts count_admitted(const json::object& summary) {
  tick_counts n;
  auto each = [&](const char* part, auto&& fn) {
    if (const auto* p = summary.if_contains(part); p && p->is_object())
      for (const auto& kv : p->as_object())
        if (kv.value().is_object()) fn(kv.value().as_object());
  };
  each("execution", [&](const json::object& m) {
    if (const auto* e = m.if_contains("executions"); e && e->is_array())
      n.executions += e->as_array().size();
  });
  each("discovery", [&](const json::object& m) {
    if (const auto* b = m.if_contains("batches"); b && b->is_number())
      n.discovery_batches += b->to_number<uint64_t>();
  });
  return n;
}

tick_function make_admission_tick(runtime& rt, store::database& db, domain::shaping_knobs knobs,
                                  applied_wait wait_applied, services::admission_gate* gate) {
  auto ctx = std::make_shared<tick_context>(
      tick_context{rt, knobs, &db.pool(store::db_role::admission_tick),
                   std::max<size_t>(1, db.budget(store::db_role::admission_tick) - 1),
                   std::move(wait_applied), gate});
  return [ctx](int64_t) {
    if (ctx->last_position > 0 && ctx->wait_applied && !ctx->wait_applied(ctx->last_position))
      return json::object{{"skipped", "read models have not applied the previous tick yet"}};
    json::object discovery;
    auto configs = store::with_connection(*ctx->pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      return projections::project_configs::active_configs(tx);
    });
    for (const auto& stored : configs) {
      const auto& module = stored.project_id;
      try {
        auto parsed = domain::parse_project_config(util::parse_stored(stored.spec));
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
    json::object execution;
    for (const auto& stored : configs) {
      const auto& module = stored.project_id;
      try {
        auto raw = util::parse_stored(stored.spec);
        // §3.1: the raw spec's automation.execution.enabled decides, even if it no longer decodes.
        const auto* enabled = raw.is_object() ? raw.as_object().if_contains("automation") : nullptr;
        enabled = enabled && enabled->is_object() ? enabled->as_object().if_contains("execution")
                                                  : nullptr;
        enabled =
            enabled && enabled->is_object() ? enabled->as_object().if_contains("enabled") : nullptr;
        if (!enabled || !enabled->is_bool() || !enabled->as_bool()) continue;
        // Under the admission gate, until the read models show the runs it created (API
        // creates in any process count them before taking a slot).
        auto admit = [&] {
          auto out = execution_tick(*ctx, module, raw);
          if (ctx->last_position > 0 && ctx->wait_applied) ctx->wait_applied(ctx->last_position);
          return out;
        };
        execution[module] = ctx->gate ? ctx->gate->run(admit) : admit();
      } catch (const std::exception& e) {
        spdlog::warn("scheduler: execution admission for {} failed: {}", module, e.what());
        execution[module] = json::object{{"error", e.what()}};
      }
    }
    return json::object{{"discovery", std::move(discovery)}, {"execution", std::move(execution)}};
  };
}

}  // namespace beampipe::actors

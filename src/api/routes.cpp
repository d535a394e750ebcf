#include <spdlog/spdlog.h>

#include <charconv>
#include <map>
#include <set>

#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/console_site.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/readiness.hpp"
#include "domain/redaction.hpp"
#include "domain/source_record.hpp"
#include "events/validity.hpp"
#include "projections/engine.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/jobs/queries.hpp"
#include "projections/provenance/queries.hpp"
#include "projections/read_model_names.hpp"
#include "projections/source_registry/queries.hpp"
#include "services/dependency_prober.hpp"
#include "services/node_heartbeat.hpp"
#include "services/shard_keeper.hpp"
#include "store/event_store.hpp"
#include "store/leases.hpp"
#include "store/migrations.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"
#include "util/log_context.hpp"

namespace beampipe::api {
namespace json = boost::json;

namespace {

json::object source_or_404(app_context& ctx, const std::string& id) {
  std::optional<json::object> row;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    row = projections::source_registry::find(tx, id);
  });
  if (!row) fail(404, "not_found", "source not found", "id");
  return *row;
}

// ---------------------------------------------------------------- handlers

// /ready and /metrics read the read models on the control threads, which /health shares: a
// table held locked (a rebuild, a long migration, an operator's transaction) must not stall
// them, so their statements give up after a bound and report the read as unavailable.
void bounded_control_read(pqxx::transaction_base& tx) {
  tx.exec("SET LOCAL statement_timeout = 2000");
}

response get_health(app_context& ctx, request&) {
  return json_response(
      200, json::object{{"status", "ok"}, {"service", "beampipe"}, {"version", ctx.version}});
}

response get_health_tap(app_context& ctx, request&) {
  auto o = ctx.probe_tap ? ctx.probe_tap()
                         : json::object{{"casda", "not_configured"}, {"vizier", "not_configured"}};
  o["archive"] = ctx.archive;
  return json_response(200, o);
}

response get_ready(app_context& ctx, request& req) {
  json::object o{{"service", "beampipe"}, {"node_id", ctx.runtime.node_id()}};
  bool ready = true;
  try {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      auto m = store::check_migrations(c);
      o["database"] = "ok";
      o["migrations"] =
          json::object{{"applied", m.applied}, {"latest", m.latest}, {"current", m.current()}};
      if (!m.current()) ready = false;
    });
  } catch (const std::exception& e) {
    o["database"] = "error";
    o["database_error"] = e.what();
    ready = false;
  }
  json::object cps;
  for (const auto& c : ctx.watch.checkpoints()) cps[c.name] = c.at.position;
  auto lag = ctx.watch.lag();
  json::object dead;
  int64_t dead_total = 0;
  try {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      bounded_control_read(tx);
      for (const auto& [name, n] : projections::dead_letter_counts(tx)) {
        dead[name] = n;
        dead_total += n;
      }
    });
  } catch (const std::exception&) {
    // The database error is reported above.
  }
  o["projections"] =
      json::object{{"alive", ctx.watch.alive()},      {"lag", lag},
                   {"head", ctx.watch.head()},        {"checkpoints", std::move(cps)},
                   {"dead_letters", std::move(dead)}, {"dead_letters_total", dead_total}};
  if (auto why = ctx.watch.failure(); !why.empty()) o["projections"].as_object()["failure"] = why;
  // A dead letter skips one event for one read model: reported (and alerted on), not a reason
  // to take the node out of service.
  if (!ctx.watch.alive() || lag > ctx.ready_max_lag) ready = false;
  o["archive"] = ctx.archive;
  o["execution_backends"] = ctx.backends;
  try {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      auto lease = store::read_lease(c, "scheduler");
      o["scheduler"] =
          lease ? json::value(json::object{
                      {"leader", lease->expired ? json::value(nullptr) : json::value(lease->owner)},
                      {"lease_token", lease->token},
                      {"expires_at", lease->expires_at}})
                : json::value(json::object{{"leader", nullptr}});
    });
  } catch (const std::exception&) {
    o["scheduler"] = json::object{{"leader", nullptr}};
  }
  // The reference contract's fields. Rate limits live in PostgreSQL: there is no Redis. The
  // TAP services are only said to be configured here; GET /health/tap probes them.
  o["redis"] = "not_configured";
  o["tap_casda"] = tap_state(ctx, "casda");
  o["tap_vizier"] = tap_state(ctx, "vizier");
  o["queue_depth"] = nullptr;
  o["jobs_running"] = nullptr;
  try {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      bounded_control_read(tx);
      auto queue = projections::jobs::queue(tx);
      o["queue_depth"] = queue.queued;
      o["jobs_running"] = queue.running;
    });
  } catch (const std::exception&) {
    // The database error is reported above; the counts stay null.
  }
  // Dependencies as the background prober last saw them: reported, and "degraded" when one is
  // down, but only beampipe's own state (database, migrations, projections) makes it not ready.
  json::array deps;
  bool degraded = false;
  if (ctx.prober)
    for (const auto& p : ctx.prober->snapshot()) {
      degraded |= !p.up;
      deps.push_back(json::object{{"dependency", p.dependency},
                                  {"target", p.target},
                                  {"status", p.up ? "up" : "down"},
                                  {"latency_ms", static_cast<int64_t>(p.seconds * 1000)},
                                  {"detail", p.detail},
                                  {"checked_at", p.checked_at}});
    }
  o["dependencies"] = std::move(deps);
  // The processes of the cluster by their heartbeats: an API-only node is ready on its own,
  // but an operator must see when no worker is left to run discovery and executions.
  o["nodes"] = json::array{};
  o["workers_alive"] = nullptr;
  o["workers_draining"] = nullptr;
  // This node, as its last heartbeat saw it: a drained node claims no new work.
  o["node"] = json::object{{"id", ctx.runtime.node_id()}, {"draining", ctx.node_draining()}};
  if (ctx.keeper) {
    auto v = ctx.keeper->view();
    o["cluster"] =
        json::object{{"mode", "cluster"},
                     {"members", static_cast<int64_t>(v.members.size())},
                     {"shards_held", static_cast<int64_t>(v.held.size())},
                     {"error", v.error.empty() ? json::value(nullptr) : json::value(v.error)}};
  } else {
    o["cluster"] =
        json::object{{"mode", "single"}, {"members", 0}, {"shards_held", 0}, {"error", nullptr}};
  }
  try {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      bounded_control_read(tx);
      auto census = services::take_census(tx, ctx.heartbeat_every);
      o["nodes"] = std::move(census.nodes);
      o["workers_alive"] = census.workers_alive;
      o["workers_draining"] = census.draining;
    });
  } catch (const std::exception&) {
    // The database error is reported above.
  }
  o["dependencies_status"] = degraded ? "degraded" : "ok";
  o["status"] = ready ? "ready" : "not_ready";
  // Hosts, pids, dependency targets and database errors are for signed-in users; a load
  // balancer needs the status only.
  if (req.user.user_uuid.empty())
    return json_response(ready ? 200 : 503,
                         json::object{{"status", o.at("status")}, {"service", o.at("service")}});
  return json_response(ready ? 200 : 503, o);
}

response get_metrics(app_context& ctx, request&) {
  response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = ctx.stats.render();
  return r;
}

response post_source(app_context& ctx, request& req) {
  auto body = parse_body(req);
  std::string module, ident;
  if (auto e = domain::parse_source_key(body, module, ident)) fail_with(*e);
  auto uuid = domain::source_uuid(module, ident);
  return write_then_read(ctx, req, domain::source_stream_id(uuid), "register", std::move(body), 200,
                         [&ctx, uuid] { return source_or_404(ctx, uuid); });
}

response list_sources(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::source_registry});
  auto page = page_params(req, 100, 500);
  projections::source_registry::list_filter filter;
  filter.enabled = bool_param(req, "enabled");
  filter.pending = bool_param(req, "pending");
  if (auto it = req.query.find("project_module"); it != req.query.end())
    filter.project_module = it->second;
  if (auto it = req.query.find("discovery_state"); it != req.query.end()) {
    filter.discovery_state = it->second;
    if (!filter.discovery_state.empty() &&
        !projections::source_registry::is_discovery_state(filter.discovery_state))
      fail(400, "invalid_query", "discovery_state must be one of never, requested, checked, failed",
           "discovery_state");
  }
  return page_response(read_model(ctx, [&](auto& tx) {
    return projections::source_registry::list(tx, filter, page.limit, page.offset);
  }));
}

// A source's stream replayed through domain::source_record (the projection's fold), calling
// `step` after each event up to `point` (every event without one). Returns the row after the
// last event folded in and whether there was one.
template <class Step>
std::pair<domain::source_record::row, int64_t> replay_source(
    app_context& ctx, const std::string& id, const std::optional<as_of_point>& point, Step&& step) {
  domain::source_record::row row;
  bool exists = false;
  int64_t last = 0;  // the position of the last event folded in
  for (const auto& e : replayable_stream(ctx, domain::source_stream_id(id), "source", "id")) {
    if (point && !point->includes(e)) break;
    if (!domain::source_record::handles(e.type)) continue;
    domain::source_record::evolve(row, exists, e.type, events::decode(e), e.recorded_at);
    if (!exists) continue;
    row.uuid = id;
    row.stream_version = e.stream_version;
    last = e.position;
    step(e, row);
  }
  return {std::move(row), last};
}

// GET /sources/{id}?as_of_position=N | ?as_of=TIME: the source as it was then, in the live
// answer's shape (the row is shaped by the read model's own SQL; no read model is read).
response source_as_of(app_context& ctx, const as_of_point& point, const std::string& id) {
  auto [row, last] = replay_source(ctx, id, point, [](const auto&, const auto&) {});
  if (last == 0) fail(404, "not_found", "the source was not registered then", "id");
  if (row.deleted) fail(404, "not_found", "the source was deleted then", "id");
  json::object shaped;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    shaped = projections::source_registry::read_shape(tx, domain::source_record::columns(row));
  });
  return with_position(json_response(200, std::move(shaped)), last);
}

response get_source(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  if (auto point = as_of_param(req)) return source_as_of(ctx, *point, id);
  honour_min_position(ctx, req, {projections::model::source_registry});
  return json_response(200, source_or_404(ctx, id));
}

// The fields of a source's state the history shows after each event.
json::object source_history_state(const domain::source_record::row& r) {
  auto all = domain::source_record::columns(r);
  json::object out;
  out["discovery_state"] = domain::source_record::discovery_state(r);
  for (const char* k :
       {"enabled", "deleted", "stale_after_hours", "discovery_request_id", "discovery_attempt",
        "discovery_retry_at", "last_checked_at", "last_attempted_at", "last_discovery_error",
        "discovery_signature", "discovery_truncated", "last_executed_discovery_signature",
        "workflow_run_pending", "workflow_run_pending_at", "execution_failures_in_row",
        "automation_retry_at", "updated_at"})
    out[k] = all.at(k);
  domain::redact_json(out["last_discovery_error"]);
  return out;
}

// GET /sources/{id}/history: every event of the source with the state it left the source in,
// replayed from its own stream (deleted sources too: history outlives them).
response source_history(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  json::array steps;
  auto [row, last] = replay_source(ctx, id, std::nullopt, [&](const auto& e, const auto& r) {
    steps.push_back(history_step(e, source_history_state(r)));
  });
  if (last == 0) fail(404, "not_found", "source not found", "id");
  return json_response(200, json::object{{"source_id", id},
                                         {"project_module", row.project_module},
                                         {"source_identifier", row.source_identifier},
                                         {"steps", std::move(steps)}});
}

response patch_source(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  return write_then_read(ctx, req, domain::source_stream_id(id), "update", std::move(body), 200,
                         [&ctx, id] { return source_or_404(ctx, id); });
}

response delete_source(app_context& ctx, request& req) {
  return delete_and_wait(ctx, req, domain::source_stream_id(uuid_param(req, "id")), {});
}

response source_events(app_context& ctx, request& req) {
  honour_min_position(ctx, req,
                      {projections::model::source_registry, projections::model::provenance});
  auto src = source_or_404(ctx, uuid_param(req, "id"));
  auto page = page_params(req, 100, 500);
  return page_response(read_model(ctx, [&](auto& tx) {
    return projections::provenance::for_source(
        tx, std::string(src.at("project_module").as_string()),
        std::string(src.at("source_identifier").as_string()), page.limit, page.offset);
  }));
}

// POST /sources/discover: {project_module, source_identifier? | source_identifiers?}; neither
// means every enabled source of the module. Each gets one outstanding DiscoveryRequested.
response discover_sources(app_context& ctx, request& req) {
  auto body = parse_body(req);
  std::string module;
  auto m = body.find("project_module");
  if (m == body.end() || !m->value().is_string() || m->value().as_string().empty())
    fail(400, "invalid_field", "project_module is required", "project_module");
  module = std::string(m->value().as_string());
  bool one = body.contains("source_identifier"), many = body.contains("source_identifiers");
  if (one && many)
    fail(400, "invalid_field", "give source_identifier or source_identifiers, not both",
         "source_identifiers");
  std::vector<std::string> idents;
  if (one) {
    if (!body.at("source_identifier").is_string())
      fail(400, "invalid_field", "source_identifier must be a string", "source_identifier");
    idents.emplace_back(body.at("source_identifier").as_string());
  } else if (many) {
    if (!body.at("source_identifiers").is_array())
      fail(400, "invalid_field", "source_identifiers must be an array of strings",
           "source_identifiers");
    const auto& list = body.at("source_identifiers").as_array();
    if (list.size() > 1000)
      fail(400, "invalid_field", "at most 1000 source_identifiers per request",
           "source_identifiers");
    for (const auto& v : list) {
      if (!v.is_string())
        fail(400, "invalid_field", "source_identifiers must be an array of strings",
             "source_identifiers");
      idents.emplace_back(v.as_string());
    }
  } else {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      idents = projections::source_registry::enabled_identifiers(tx, module);
    });
  }
  // Only registered sources get a command: an unknown name never loads (or creates) an actor.
  std::set<std::string> known;
  if (one || many)
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      auto found = projections::source_registry::registered_identifiers(tx, module, idents);
      known = std::set<std::string>(found.begin(), found.end());
    });
  else
    known.insert(idents.begin(), idents.end());
  std::vector<actors::command_request> cmds;
  std::vector<std::string> sent;
  for (const auto& ident : idents) {
    if (!known.count(ident)) continue;
    cmds.push_back(command_for(req, domain::source_stream_id(domain::source_uuid(module, ident)),
                               "request_discovery", {{"reason", "manual"}}));
    sent.push_back(ident);
  }
  return after_replies(
      ctx, req, std::move(cmds),
      [&ctx, &req, module, one, idents = std::move(idents),
       sent = std::move(sent)](std::vector<actors::command_reply> replies) {
        std::map<std::string, const actors::command_reply*> reply_of;
        for (size_t i = 0; i < sent.size(); ++i) reply_of[sent[i]] = &replies[i];
        json::array marked, skipped;
        int64_t position = 0;
        for (const auto& ident : idents) {
          auto it = reply_of.find(ident);
          if (it == reply_of.end()) {
            skipped.push_back(
                json::object{{"source_identifier", ident}, {"reason", "source not found"}});
            continue;
          }
          const auto& r = *it->second;
          if (r.ok()) {
            marked.push_back(json::value(ident));
            position = std::max(position, r.position);
          } else if (r.system_failure()) {
            fail_with(r);
          } else {
            skipped.push_back(json::object{{"source_identifier", ident}, {"reason", r.message}});
          }
        }
        if (one && marked.empty()) {
          const auto& why = skipped.front().as_object().at("reason").as_string();
          fail(why == "source not found" ? 404 : 409,
               why == "source not found" ? "not_found" : "source_disabled", std::string(why),
               "source_identifier");
        }
        json::object answer{
            {"project_module", module},
            {"marked_count", marked.size()},
            {"source_identifiers", std::move(marked)},
            {"skipped", std::move(skipped)},
            {"message", "Sources marked for rediscovery. Discovery runs asynchronously."}};
        return after_applied(ctx, req, position, [answer, position] {
          return with_position(json_response(200, answer), position);
        });
      });
}

// GET /sources/{id}/status: readiness for execution (§5.10).
response source_status(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::source_registry});
  auto id = uuid_param(req, "id");
  // The row and its readiness inputs from one snapshot.
  auto [found, inputs] = read_model(ctx, [&](auto& tx) {
    return std::pair{projections::source_registry::find(tx, id),
                     projections::source_registry::readiness_inputs(tx, id)};
  });
  if (!found || !inputs) fail(404, "not_found", "source not found", "id");
  const auto& src = *found;
  const auto& st = *inputs;
  auto ident = std::string(src.at("source_identifier").as_string());
  auto blockers = domain::source_status_blockers(ident, st);
  json::array b;
  for (auto& x : blockers) b.push_back(json::value(x));
  bool pending = src.at("workflow_run_pending").as_bool();
  json::value age = nullptr;
  if (pending)
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      auto seconds = projections::source_registry::pending_for_seconds(tx, id);
      age = seconds ? json::value(*seconds) : json::value(nullptr);
    });
  return json_response(
      200, json::object{
               {"uuid", src.at("uuid")},
               {"source_identifier", ident},
               {"project_module", src.at("project_module")},
               {"ready_for_execution", blockers.empty()},
               {"discovery_complete", st.last_checked_at_set && !st.discovery_signature.empty() &&
                                          st.discovery_claim_token.empty()},
               {"workflow_run_pending", pending},
               {"pending_age_seconds", age},
               {"discovery_signature", src.at("discovery_signature")},
               {"last_executed_discovery_signature", src.at("last_executed_discovery_signature")},
               {"signature_matches_last_execution", domain::signature_matches_last_execution(st)},
               {"blockers", std::move(b)}});
}

// POST /sources/bulk {items:[SourceCreate]}: every item is checked before any is registered.
response bulk_sources(app_context& ctx, request& req) {
  auto body = parse_body(req);
  auto it = body.find("items");
  if (it == body.end() || !it->value().is_array())
    fail(400, "invalid_field", "items must be an array", "items");
  const auto& items = it->value().as_array();
  if (items.size() > 1000) fail(400, "invalid_field", "at most 1000 items per request", "items");
  std::vector<std::pair<std::string, json::object>> todo;
  for (size_t i = 0; i < items.size(); ++i) {
    auto path = "items[" + std::to_string(i) + "]";
    if (!items[i].is_object()) fail(400, "invalid_field", path + " must be an object", path);
    std::string module, ident;
    if (auto e = domain::parse_source_key(items[i].as_object(), module, ident))
      fail_with(*e, path + "." + e->field);
    auto en = items[i].as_object().find("enabled");
    if (en != items[i].as_object().end() && !en->value().is_bool() && !en->value().is_null())
      fail(400, "invalid_field", "enabled must be a boolean", path + ".enabled");
    todo.emplace_back(domain::source_uuid(module, ident), items[i].as_object());
  }
  // Every item validated: register them all at once (different streams share commits).
  std::vector<actors::command_request> cmds;
  std::vector<std::string> uuids;
  for (auto& [uuid, item] : todo) {
    cmds.push_back(command_for(req, domain::source_stream_id(uuid), "register", std::move(item)));
    uuids.push_back(uuid);
  }
  return after_replies(
      ctx, req, std::move(cmds),
      [&ctx, &req, uuids = std::move(uuids)](std::vector<actors::command_reply> replies) {
        int64_t position = 0;
        for (const auto& r : replies) {
          if (!r.ok()) fail_with(r);
          position = std::max(position, r.position);
        }
        return after_applied(ctx, req, position, [&ctx, uuids, position] {
          auto found = read_model(
              ctx, [&](auto& tx) { return projections::source_registry::find_many(tx, uuids); });
          json::array rows;
          rows.reserve(uuids.size());
          for (const auto& uuid : uuids) {
            auto it = found.find(uuid);
            if (it == found.end()) fail(404, "not_found", "source not found", "id");
            rows.push_back(it->second);
          }
          auto n = rows.size();
          return with_position(
              json_response(200, json::object{{"items", std::move(rows)}, {"total", n}}), position);
        });
      });
}

// GET /sources/{id}/executions: executions that selected this source, newest first.
response source_executions(app_context& ctx, request& req) {
  honour_min_position(ctx, req,
                      {projections::model::source_registry, projections::model::execution_ledger});
  auto src = source_or_404(ctx, uuid_param(req, "id"));
  auto page = page_params(req, 100, 500);
  return page_response(read_model(ctx, [&](auto& tx) {
    return projections::execution_ledger::list_for_source(
        tx, std::string(src.at("project_module").as_string()),
        std::string(src.at("source_identifier").as_string()), page.limit, page.offset);
  }));
}

response source_metadata(app_context& ctx, request& req) {
  honour_min_position(ctx, req,
                      {projections::model::source_registry, projections::model::archive_metadata});
  auto id = uuid_param(req, "id");
  auto src = source_or_404(ctx, id);
  auto rows = read_model(
      ctx, [&](auto& tx) { return projections::source_registry::archive_metadata(tx, id); });
  auto n = rows.size();
  return json_response(
      200, json::object{
               {"source", std::move(src)}, {"metadata", std::move(rows)}, {"metadata_count", n}});
}

response event_feed(app_context& ctx, request& req) {
  auto after = int_param(req, "after", 0, 0, INT64_MAX);
  auto limit = int_param(req, "limit", 100, 1, 1000);
  json::array out;
  int64_t next = after;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    auto from = read_position_or_400(c, after, "after");
    pqxx::read_transaction tx{c};
    // Events the user may not see are skipped without counting toward the page (at most ten
    // pages are read for one answer).
    auto visible = [&](const events::recorded_event& e) {
      return events::feed_visible(e, req.user.superuser);
    };
    std::vector<events::recorded_event> page;
    for (int round = 0; round < 10 && static_cast<int64_t>(page.size()) < limit; ++round) {
      auto evs = store::read_all(tx, from, limit);
      for (auto& e : evs) {
        if (static_cast<int64_t>(page.size()) == limit) break;
        from = events::position_of(e);
        next = e.position;
        if (visible(e)) page.push_back(std::move(e));
      }
      if (static_cast<int64_t>(evs.size()) < limit) break;
    }
    for (auto& e : page) out.push_back(events::feed_json(e));
  });
  return json_response(200, json::object{{"events", std::move(out)}, {"next_after", next}});
}

}  // namespace

handler route_binder::operator()(handler_fn fn) const {
  if (!ctx_)
    return [](request&) -> response {
      throw std::logic_error("this route table was built for documentation only");
    };
  auto* ctx = ctx_;
  return [ctx, fn](request& q) { return fn(*ctx, q); };
}

router build_routes(app_context& ctx) { return build_route_table(route_binder(ctx)); }

router build_documentation_routes() { return build_route_table(route_binder()); }

router build_route_table(const route_binder& bind) {
  router r;
  const auto& v2 = kApiV2;
  const auto source_id = uuid_path("id", "Source UUID");
  r.add("GET", v2 + "/health", auth_level::open, bind(get_health),
        operation("health", "Liveness", "health").returns("HealthResponse"));
  r.add("GET", v2 + "/ready", auth_level::open, bind(get_ready), [] {
    auto d = operation("ready", "Readiness", "health",
                       "503 with the same body when the database, migrations or "
                       "projections are not ready.")
                 .returns("ReadyResponse");
    d.also = {503};
    return d;
  }());
  r.add("GET", v2 + "/health/tap", auth_level::open, bind(get_health_tap),
        operation("health_tap", "Archive TAP probes", "health").returns("TapHealthResponse"));
  r.add("GET", v2 + "/metrics", auth_level::open, bind(get_metrics), [] {
    auto d = operation("metrics", "Prometheus metrics", "health",
                       "Prometheus text exposition format 0.0.4.");
    d.reply = reply_kind::text;
    return d;
  }());
  r.add("POST", v2 + "/sources", auth_level::user, bind(post_source),
        operation("create_source", "Register source", "sources",
                  "Registers a source or updates `enabled` of the registered one (an upsert).")
            .json_body("SourceCreate")
            .returns("SourceRegistryRow")
            .write());
  r.add("POST", v2 + "/sources/discover", auth_level::user, bind(discover_sources),
        operation("discover_sources", "Trigger discovery", "sources",
                  "Marks sources for rediscovery; discovery runs asynchronously.")
            .json_body("DiscoverTriggerRequest")
            .returns("DiscoverTriggerResponse")
            .write()
            .fails({404, 409}));
  r.add("GET", v2 + "/sources/{id}/metadata", auth_level::user, bind(source_metadata),
        operation("get_source_metadata", "Source archive metadata", "sources",
                  "The source and its prepared archive metadata, ordered by SBID.")
            .with_path(source_id)
            .returns("SourceMetadataResponse")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/sources/{id}/status", auth_level::user, bind(source_status),
        operation("get_source_status", "Source readiness for execution", "sources")
            .with_path(source_id)
            .returns("SourceExecutionStatus")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/sources/{id}/executions", auth_level::user, bind(source_executions),
        operation("list_source_executions", "Executions of a source", "sources",
                  "Executions that selected this source, newest first.")
            .with_path(source_id)
            .returns_list("ExecutionRow")
            .paged(100, 500)
            .read()
            .fails({404}));
  r.add("POST", v2 + "/sources/bulk", auth_level::user, bind(bulk_sources),
        operation("bulk_create_sources", "Register sources in bulk", "sources",
                  "Every item is checked before any is registered.")
            .json_body("SourceBulkCreate")
            .returns("SourceBulkCreateResponse")
            .write());
  r.add("GET", v2 + "/sources", auth_level::user, bind(list_sources),
        operation("list_sources", "List sources", "sources", "Newest first.")
            .returns_list("SourceRegistryRow")
            .with_query(text_query("project_module", "Only this project's sources"))
            .with_query(bool_query("enabled", "Only enabled (true) or disabled (false) sources"))
            .with_query(bool_query("pending", "Only sources with a workflow run pending, or none"))
            .with_query(text_query("discovery_state", "Where discovery stands",
                                   {"never", "requested", "checked", "failed"}))
            .paged(100, 500)
            .read());
  r.add("GET", v2 + "/sources/{id}", auth_level::user, bind(get_source),
        operation("get_source", "Get source", "sources",
                  "With as_of_position or as_of: the source as it was then, replayed from its own "
                  "events (404 before its registration or while it was deleted).")
            .with_path(source_id)
            .with_query(int_query("as_of_position",
                                  "The source after its last event at or before this position", 1,
                                  std::nullopt, 0))
            .with_query(text_query("as_of", "The source as it was at this RFC 3339 time"))
            .returns("SourceRegistryRow")
            .read()
            .fails({404}));
  r.add("PATCH", v2 + "/sources/{id}", auth_level::user, bind(patch_source),
        operation("update_source", "Update source", "sources")
            .with_path(source_id)
            .json_body("SourceUpdate")
            .returns("SourceRegistryRow")
            .write()
            .fails({404}));
  r.add(
      "DELETE", v2 + "/sources/{id}", auth_level::user, bind(delete_source),
      operation("delete_source", "Delete source", "sources", "Its archive metadata rows are kept.")
          .with_path(source_id)
          .no_content()
          .write()
          .fails({404}));
  r.add("GET", v2 + "/sources/{id}/history", auth_level::user, bind(source_history),
        operation("source_history", "A source's state after each of its events", "sources",
                  "Replayed from the source's own stream; deleted sources keep their history.")
            .with_path(source_id)
            .returns("SourceHistory")
            .fails({404, 422}));
  r.add("GET", v2 + "/sources/{id}/events", auth_level::user, bind(source_events),
        operation("list_source_events", "Provenance of a source", "provenance", "Newest first.")
            .with_path(source_id)
            .returns_list("ProvenanceEventRow")
            .paged(100, 500)
            .read()
            .fails({404}));
  r.add(
      "GET", v2 + "/events", auth_level::user, bind(event_feed),
      operation("list_events", "Event feed", "provenance",
                "Stored events in the store's read order, after a position.")
          .returns("EventFeed")
          .with_query(int_query("after", "Read the events after this position", 0, std::nullopt, 0))
          .with_query(int_query("limit", "Events per call", 1, 1000, 100)));
  add_stream_routes(r, bind);
  add_operator_routes(r, bind);
  add_job_routes(r, bind);
  add_user_routes(r, bind);
  add_wasm_routes(r, bind);
  add_alert_routes(r, bind);
  add_worker_routes(r, bind);
  add_config_routes(r, bind);
  add_execution_routes(r, bind);
  add_docs_routes(r, bind);
  return r;
}

namespace {
// What a request that may be put off left to do: wait for its read models (a read runs again,
// a write runs `then`) or for its command's reply.
struct put_off {
  std::optional<deferred_read> read;
  std::optional<deferred_command> command;
  std::optional<deferred_task> task;
  std::optional<deferred_stream> stream;
  explicit operator bool() const { return read || command || task || stream; }
};

// The JSON error mapping shared by HTTP requests, in-process calls and put-off answers. A
// request put off (only one that may be) ends up in *later, and the response is empty.
template <class Run>
response answered(const request& req, put_off* later, Run&& run) {
  try {
    return run();
  } catch (const deferred_read& d) {
    if (!later) throw std::logic_error("a read was put off by a request that cannot wait");
    later->read = d;
    return {};
  } catch (deferred_command& d) {
    if (!later) throw std::logic_error("a command was put off by a request that cannot wait");
    later->command = std::move(d);
    return {};
  } catch (deferred_task& d) {
    if (!later) throw std::logic_error("a task was put off by a request that cannot wait");
    later->task = std::move(d);
    return {};
  } catch (deferred_stream& d) {
    if (!later) throw std::logic_error("a stream was opened by a request that cannot wait");
    later->stream = std::move(d);
    return {};
  } catch (const api_error& e) {
    auto res = error_response(e.status, e.code, e.message, e.field, e.errors);
    if (e.status == 503) res.headers.emplace_back("Retry-After", "1");
    return res;
  } catch (const store::store_error& e) {
    return error_response(e.code() == store::store_errc::unavailable ? 503 : 500,
                          to_string(e.code()), e.what());
  } catch (const std::exception& e) {
    spdlog::error("{} {} failed: {} (correlation {})", req.method, req.path, e.what(),
                  req.correlation_id);
    return error_response(500, "internal",
                          "internal error (correlation id " + req.correlation_id + ")");
  }
}

// Routing; `guarded` runs the auth hook (rate limits, token, superuser) first.
response route_request(app_context& ctx, const router& routes, request& req, bool guarded,
                       std::string& route_name, put_off* later = nullptr) {
  return answered(req, later, [&]() -> response {
    target_problem bad;
    if (!parse_target(req.target, req.path, req.query, &bad))
      return error_response(400, "bad_request", bad.reason, bad.field);
    if (auto page = console_response(req)) {
      route_name = kConsoleRoot;
      return std::move(*page);
    }
    auto m = routes.find(req.method, req.path, req.path_params);
    if (!m.r && m.path_known) {
      std::string allow;
      for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
      auto res =
          error_response(405, "method_not_allowed", req.method + " is not allowed here", "method");
      res.headers.emplace_back("Allow", allow);
      return res;
    }
    if (!m.r) return error_response(404, "not_found", "no route for " + req.path);
    if (tls_inline_attempt && !m.r->doc.cached) throw needs_thread{};
    route_name = m.r->pattern;
    if (guarded && ctx.auth)
      if (auto refused = ctx.auth(req, *m.r)) return std::move(*refused);
    auto res = m.r->fn(req);
    // Read after the handler's queries: never below what the answer reflects.
    if (m.r->doc.consistent && req.read_at > 0 && res.status < 300)
      res =
          with_position(std::move(res), std::max(req.read_at, ctx.watch.visible(req.read_models)));
    return res;
  });
}

// One run of a request through the routes: answered, or put off until its command's reply
// arrives, or until the watch says the read models moved or its deadline passes. Then a read
// runs again from the start, and a write runs only its continuation (`then`): a command is
// never sent twice. Nothing holds a thread meanwhile.
void attempt(app_context& ctx, const router& routes, const std::shared_ptr<request>& req,
             const std::shared_ptr<exchange>& ex, std::chrono::steady_clock::time_point t0,
             std::function<response()> then = nullptr, std::string route_name = "unmatched") {
  util::correlation_scope correlation(req->correlation_id);
  put_off later;
  // The auth hook (token, rate limit) ran with the first run; a resumed request is the same one.
  auto res = then ? answered(*req, &later, then)
                  : route_request(ctx, routes, *req, !req->resumed, route_name, &later);
  if (!later) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.stats.observe_request(req->method, route_name, res.status, secs);
    spdlog::debug("{} {} {} {:.1f} ms", req->method, route_name, res.status, secs * 1000);
    ex->respond(std::move(res));
    return;
  }
  if (later.stream) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.stats.observe_request(req->method, route_name, later.stream->head.status, secs);
    ex->stream(std::move(later.stream->head), std::move(later.stream->source));
    return;
  }
  struct pending {
    std::atomic<bool> resumed{false};
    std::atomic<uint64_t> waiter{0};
    std::function<void()> cancel_timer;
  };
  auto p = std::make_shared<pending>();
  // Whichever comes first resumes the request, once, on the handler pool.
  auto resume = [&ctx, &routes, req, ex, t0, p, route_name](std::function<response()> next) {
    if (p->resumed.exchange(true)) return false;
    ex->run([&ctx, &routes, req, ex, t0, next = std::move(next), route_name] {
      req->resumed = true;
      attempt(ctx, routes, req, ex, t0, next, route_name);
    });
    return true;
  };
  if (later.task) {
    p->cancel_timer = ex->at(std::chrono::steady_clock::now() + later.task->timeout, [resume] {
      resume([]() -> response {
        fail(504, "timeout", "the request's work did not finish in time; its outcome is unknown");
      });
    });
    // Armed before the work starts: it may finish at once (a full queue).
    later.task->start([p, resume](std::function<response()> next) {
      if (resume(std::move(next))) p->cancel_timer();
    });
    return;
  }
  if (later.command) {
    // Every reply comes by the deadline (a missing one as a timeout), on an actor's thread:
    // only hand it off.
    ctx.stats.command_wait(+1);
    ctx.runtime.send_each(
        std::move(later.command->commands),
        [&ctx, resume,
         reply_to = std::move(later.command->then)](std::vector<actors::command_reply> replies) {
          ctx.stats.command_wait(-1);
          resume([reply_to, replies = std::move(replies)] { return reply_to(replies); });
        },
        later.command->timeout);
    return;
  }
  auto next = std::move(later.read->then);
  p->cancel_timer = ex->at(later.read->deadline, [&ctx, p, resume, next] {
    if (resume(next)) ctx.watch.forget(p->waiter.load());
  });
  auto id = ctx.watch.notify_when(later.read->what, [p, resume, next] {
    if (resume(next)) p->cancel_timer();
  });
  p->waiter = id;
  if (p->resumed.load()) ctx.watch.forget(id);  // the deadline came first
}

}  // namespace

namespace {
// A caller's correlation id is stored in every event it causes and echoed in a header:
// visible ASCII only, 1..128 bytes. None given: a fresh one. False when the given one is bad.
bool take_correlation_id(request& req) {
  auto given = req.header("x-correlation-id");
  bool id_ok = given.size() <= 128 && std::all_of(given.begin(), given.end(),
                                                  [](char c) { return c >= 0x21 && c <= 0x7e; });
  req.correlation_id = given.empty() || !id_ok ? util::uuid_v7() : given;
  return id_ok;
}
}  // namespace

inline_dispatch make_inline_dispatch(app_context& ctx, const router& routes) {
  return [&ctx, &routes](const std::shared_ptr<request>& req, const std::shared_ptr<exchange>& ex) {
    // Plain GETs only: no query (no wait for a position), no body; a copy, so a request that
    // needs a thread after all goes on untouched.
    if (req->method != "GET" || req->target.find('?') != std::string::npos) return false;
    auto t0 = std::chrono::steady_clock::now();
    auto trial = std::make_shared<request>(*req);
    trial->routes = &routes;
    trial->may_defer = false;
    if (!take_correlation_id(*trial)) return false;
    util::correlation_scope correlation(trial->correlation_id);
    std::string route_name = "unmatched";
    response res;
    struct inline_scope {
      inline_scope() { tls_inline_attempt = true; }
      ~inline_scope() { tls_inline_attempt = false; }
    };
    try {
      inline_scope scope;
      res = route_request(ctx, routes, *trial, true, route_name);
    } catch (const needs_thread&) {
      return false;
    } catch (const std::exception&) {
      return false;  // the handler pool runs it again and maps the error as usual
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.stats.observe_request(trial->method, route_name, res.status, secs);
    req->correlation_id = trial->correlation_id;  // the exchange echoes it
    ex->respond(std::move(res));
    return true;
  };
}

exchange_dispatch make_dispatch(app_context& ctx, const router& routes) {
  return [&ctx, &routes](std::shared_ptr<request> req, std::shared_ptr<exchange> ex) {
    auto t0 = std::chrono::steady_clock::now();
    req->routes = &routes;
    req->may_defer = true;
    if (!take_correlation_id(*req)) {
      auto res = error_response(400, "bad_request",
                                "X-Correlation-Id must be 1 to 128 visible ASCII characters",
                                "X-Correlation-Id");
      ctx.stats.observe_request(req->method, "unmatched", res.status, 0.0);
      ex->respond(std::move(res));
      return;
    }
    attempt(ctx, routes, req, ex, t0);
  };
}

response call_as(app_context& ctx, const router& routes, const principal& who, request req) {
  req.routes = &routes;
  req.user = who;
  req.correlation_id = util::uuid_v7();
  util::correlation_scope correlation(req.correlation_id);
  std::string route_name;
  return route_request(ctx, routes, req, false, route_name);
}

namespace {
// Gauges over the read models, in one read transaction per scrape: jobs by kind and status
// (job_status_now, as GET /jobs and /ready), the queue's depth and oldest age (jobs waiting
// for a worker), sources by discovery state, executions by status.
void collect_read_model_gauges(app_context& ctx, std::string& out) {
  static const char* const kQuery = R"SQL(
SELECT json_build_object(
  'dead_letters', (SELECT coalesce(json_object_agg(projection, n), '{}') FROM (
     SELECT projection, count(*) AS n FROM projection_dead_letters GROUP BY 1) t),
  'nodes', (SELECT coalesce(json_agg(t), '[]') FROM (
     SELECT roles AS role, count(*) AS n FROM node_heartbeats
     WHERE stopped_at IS NULL AND last_seen > now() - make_interval(secs => %HEARTBEAT%)
     GROUP BY 1) t)))SQL";
  json::object g;
  try {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      bounded_control_read(tx);
      std::string sql = kQuery;
      sql.replace(sql.find("%HEARTBEAT%"), 11, std::to_string(3 * ctx.heartbeat_every.count()));
      g = util::parse_stored(tx.exec(sql)[0][0].c_str()).as_object();
      auto jobs = projections::jobs::metrics(tx);
      g["jobs"] = std::move(jobs.by_kind_and_status);
      g["queued"] = jobs.queued;
      g["oldest_queued"] = jobs.oldest_queued_seconds;
      g["sources"] = projections::source_registry::discovery_state_counts(tx);
      g["executions"] = projections::execution_ledger::status_counts(tx);
      g["stuck"] = projections::execution_ledger::stuck_counts(tx);
      g["pending_runs"] = projections::source_registry::pending_run_count(tx);
    });
  } catch (const std::exception& e) {
    spdlog::warn("metrics: read-model gauges unavailable: {}", e.what());
    out += "# HELP beampipe_read_model_gauges_up 1 when the read-model gauges could be read.\n";
    out += "# TYPE beampipe_read_model_gauges_up gauge\nbeampipe_read_model_gauges_up 0\n";
    return;
  }
  out += "# HELP beampipe_read_model_gauges_up 1 when the read-model gauges could be read.\n";
  out += "# TYPE beampipe_read_model_gauges_up gauge\nbeampipe_read_model_gauges_up 1\n";
  // Prometheus reads Go float syntax: "12.5", not Boost.JSON's "1.25E1".
  auto num = [](const json::value& v) {
    return v.is_double() ? fmt::format("{}", v.as_double()) : json::serialize(v);
  };
  auto family = [&](const char* name, const char* help, const char* key,
                    std::initializer_list<const char*> labels) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" gauge\n");
    for (const auto& row : g.at(key).as_array()) {
      const auto& o = row.as_object();
      out.append(name).append("{");
      bool first = true;
      for (const char* l : labels) {
        out.append(first ? "" : ",").append(l).append("=\"");
        out.append(prom_label(std::string(o.at(l).as_string()))).append("\"");
        first = false;
      }
      out.append("} ").append(num(o.at("n"))).append("\n");
    }
  };
  family("beampipe_jobs", "Jobs by kind and status.", "jobs", {"kind", "status"});
  out += "# HELP beampipe_jobs_queue_depth Jobs waiting to run.\n";
  out += "# TYPE beampipe_jobs_queue_depth gauge\nbeampipe_jobs_queue_depth " +
         num(g.at("queued")) + "\n";
  out += "# HELP beampipe_jobs_oldest_queued_age_seconds Age of the oldest queued job.\n";
  out += "# TYPE beampipe_jobs_oldest_queued_age_seconds gauge\n";
  out += "beampipe_jobs_oldest_queued_age_seconds " + num(g.at("oldest_queued")) + "\n";
  family("beampipe_sources", "Registered sources by discovery state.", "sources", {"state"});
  out += "# HELP beampipe_sources_workflow_pending Sources waiting for an execution.\n";
  out += "# TYPE beampipe_sources_workflow_pending gauge\nbeampipe_sources_workflow_pending " +
         num(g.at("pending_runs")) + "\n";
  family("beampipe_executions", "Executions by status.", "executions", {"status"});
  family("beampipe_execution_stuck",
         "Runs past their liveness bound, flagged for an operator, by state and reason.", "stuck",
         {"state", "reason"});
  family("beampipe_nodes_alive", "Live beampipe processes by role (heartbeats).", "nodes",
         {"role"});
  out +=
      "# HELP beampipe_projection_dead_letters Events a projection could not apply and "
      "skipped.\n";
  out += "# TYPE beampipe_projection_dead_letters gauge\n";
  const auto& dead = g.at("dead_letters").as_object();
  for (const auto& c : ctx.watch.checkpoints()) {
    auto it = dead.find(c.name);
    out += "beampipe_projection_dead_letters{projection=\"" + prom_label(c.name) + "\"} " +
           (it == dead.end() ? std::string("0") : num(it->value())) + "\n";
  }
}
}  // namespace

void register_collectors(app_context& ctx) {
  ctx.stats.add_collector([&ctx](std::string& out) {
    const auto& a = ctx.runtime.appender().stats();
    out += "# HELP beampipe_event_append_batches_total Group-commit transactions.\n";
    out += "# TYPE beampipe_event_append_batches_total counter\n";
    out += "beampipe_event_append_batches_total " + std::to_string(a.batches.load()) + "\n";
    out += "# HELP beampipe_event_appends_total Append requests by outcome.\n";
    out += "# TYPE beampipe_event_appends_total counter\n";
    out += "beampipe_event_appends_total{outcome=\"ok\"} " +
           std::to_string(a.requests.load() - a.conflicts.load() - a.errors.load()) + "\n";
    out += "beampipe_event_appends_total{outcome=\"conflict\"} " +
           std::to_string(a.conflicts.load()) + "\n";
    out +=
        "beampipe_event_appends_total{outcome=\"error\"} " + std::to_string(a.errors.load()) + "\n";
    out += "# HELP beampipe_events_appended_total Events appended.\n";
    out += "# TYPE beampipe_events_appended_total counter\n";
    out += "beampipe_events_appended_total " + std::to_string(a.events.load()) + "\n";
    out +=
        "# HELP beampipe_event_append_batch_seconds_total Time spent in group-commit "
        "transactions.\n";
    out += "# TYPE beampipe_event_append_batch_seconds_total counter\n";
    out += "beampipe_event_append_batch_seconds_total " +
           std::to_string(a.latency_us_total.load() / 1e6) + "\n";
    // Histograms of the group commits: how many appends each carried and how long it took.
    auto histogram = [&out](const char* name, const char* help, const auto& bounds,
                            const auto& buckets, const std::string& sum) {
      out.append("# HELP ").append(name).append(" ").append(help).append("\n");
      out.append("# TYPE ").append(name).append(" histogram\n");
      uint64_t cumulative = 0;
      char le[32];
      for (size_t i = 0; i < bounds.size(); ++i) {
        cumulative += buckets[i].load();
        std::snprintf(le, sizeof le, "%g", static_cast<double>(bounds[i]));
        out.append(name).append("_bucket{le=\"").append(le).append("\"} ");
        out.append(std::to_string(cumulative)).append("\n");
      }
      cumulative += buckets[bounds.size()].load();
      out.append(name).append("_bucket{le=\"+Inf\"} ").append(std::to_string(cumulative));
      out.append("\n").append(name).append("_sum ").append(sum).append("\n");
      out.append(name).append("_count ").append(std::to_string(cumulative)).append("\n");
    };
    histogram("beampipe_event_append_batch_size", "Append requests per group commit.",
              store::kBatchSizeBounds, a.batch_size_buckets, std::to_string(a.requests.load()));
    histogram("beampipe_event_append_batch_duration_seconds", "Group-commit transaction time.",
              store::kBatchSecondsBounds, a.batch_seconds_buckets,
              std::to_string(a.latency_us_total.load() / 1e6));
    out += "# HELP beampipe_projection_position Last applied global position per projection.\n";
    out += "# TYPE beampipe_projection_position gauge\n";
    for (const auto& c : ctx.watch.checkpoints())
      out += "beampipe_projection_position{projection=\"" + prom_label(c.name) + "\"} " +
             std::to_string(c.at.position) + "\n";
    out +=
        "# HELP beampipe_projection_lag Head position minus the slowest projection's position.\n";
    out += "# TYPE beampipe_projection_lag gauge\n";
    out += "beampipe_projection_lag " + std::to_string(ctx.watch.lag()) + "\n";
    out += "# HELP beampipe_read_waits Reads put off until their read models reach a position.\n";
    out += "# TYPE beampipe_read_waits gauge\n";
    out += "beampipe_read_waits " + std::to_string(ctx.watch.waiting()) + "\n";
    out += "# HELP beampipe_live_actors Live aggregate actors on this node, by stream kind.\n";
    out += "# TYPE beampipe_live_actors gauge\n";
    auto rs = ctx.runtime.stats();
    for (const auto& [kind, n] : rs.live_by_kind)
      out += "beampipe_live_actors{kind=\"" + prom_label(kind) + "\"} " + std::to_string(n) + "\n";
    out +=
        "# HELP beampipe_aggregate_loads_total Aggregates this node loaded from the store "
        "(snapshot and events) to take a command.\n# TYPE beampipe_aggregate_loads_total "
        "counter\nbeampipe_aggregate_loads_total " +
        std::to_string(rs.recoveries) + "\n";
  });
  ctx.stats.add_collector([&ctx](std::string& out) { collect_read_model_gauges(ctx, out); });
  ctx.stats.add_collector([&ctx](std::string& out) {
    if (!ctx.prober) return;
    auto probes = ctx.prober->snapshot();
    auto labels = [](const services::dependency_probe& p) {
      return "{dependency=\"" + prom_label(p.dependency) + "\",target=\"" + prom_label(p.target) +
             "\"}";
    };
    out += "# HELP beampipe_dependency_up 1 when the dependency answered its last probe.\n";
    out += "# TYPE beampipe_dependency_up gauge\n";
    for (const auto& p : probes)
      out += "beampipe_dependency_up" + labels(p) + (p.up ? " 1\n" : " 0\n");
    out += "# HELP beampipe_dependency_probe_duration_seconds Latency of the last probe.\n";
    out += "# TYPE beampipe_dependency_probe_duration_seconds gauge\n";
    char buf[32];
    for (const auto& p : probes) {
      std::snprintf(buf, sizeof buf, "%.6f", p.seconds);
      out += "beampipe_dependency_probe_duration_seconds" + labels(p) + " " + buf + "\n";
    }
  });
}

}  // namespace beampipe::api

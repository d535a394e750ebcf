// Executions (§9.3, §9.5 [HEAD]): admission with its pins and Idempotency-Key, execute,
// cancel, retry, and the ledger views. Writes go to the execution aggregate; reads ask the
// slices of the execution ledger, the execution details and provenance.
#include <limits>
#include <set>

#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/discovery.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/ledger.hpp"
#include "domain/project_config.hpp"
#include "domain/readiness.hpp"
#include "domain/redaction.hpp"
#include "domain/run_diff.hpp"
#include "events/catalog.hpp"
#include "projections/execution_details/queries.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/provenance/queries.hpp"
#include "projections/read_model_names.hpp"
#include "services/execution_admission.hpp"
#include "services/run_graph.hpp"
#include "store/artifact_store.hpp"
#include "store/event_store.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"
#include "util/time.hpp"

namespace beampipe::api {
namespace json = boost::json;

namespace {

// Idempotent creates: the execution id is derived from (user, key), so a replay reaches the
// same aggregate, which compares the request hashes.
constexpr const char* kIdempotencyNamespace = "6b0f3d52-7c1e-4a8b-b2d9-0e4f5a6c7d81";

// The execution as GET /executions/{id} answers it, or nothing when there is none.
// ExecutionRead from a ledger row in its read shape: the operator debug fields added.
json::object with_debug_fields(json::object r) {
  // §8.1 operator debug fields.
  auto text = [&](const char* k) { return util::get_string_or(r, k, ""); };
  const auto& snap = r.contains("deployment_profile_snapshot") ? r.at("deployment_profile_snapshot")
                                                               : json::value();
  const json::object* dep = nullptr;
  if (snap.is_object())
    if (auto d = snap.as_object().find("deployment");
        d != snap.as_object().end() && d->value().is_object())
      dep = &d->value().as_object();
  // Always present (null when they do not apply), as ExecutionRead documents them.
  for (const char* k : {"dim_session_status_url", "dim_graph_status_url", "slurm_session_dir",
                        "slurm_login_node", "slurm_remote_user"})
    r[k] = nullptr;
  if (text("scheduler_name") == "daliuge" && !text("daliuge_manager_url").empty() &&
      !text("daliuge_session_id").empty()) {
    auto base = text("daliuge_manager_url") + "/api/sessions/" + text("daliuge_session_id");
    r["dim_session_status_url"] = base + "/status";
    r["dim_graph_status_url"] = base + "/graph/status";
  }
  if (text("scheduler_name") == "slurm") {
    r["slurm_session_dir"] =
        r.contains("remote_session_dir") ? r.at("remote_session_dir") : json::value(nullptr);
    if (dep) {
      r["slurm_login_node"] =
          dep->contains("login_node") ? dep->at("login_node") : json::value(nullptr);
      r["slurm_remote_user"] =
          dep->contains("remote_user") ? dep->at("remote_user") : json::value(nullptr);
    }
  }
  return r;
}

std::optional<json::object> execution_view(app_context& ctx, const std::string& id) {
  auto row = read_model_statement(
      ctx, [&](auto& tx) { return projections::execution_ledger::find(tx, id); });
  if (!row) return std::nullopt;
  return with_debug_fields(std::move(*row));
}

// A run's own events, oldest first (bounded: time travel and history replay them whole).
std::vector<events::recorded_event> run_events(app_context& ctx, const std::string& id) {
  return replayable_stream(ctx, domain::execution_stream_id(id), "execution", "id");
}

// GET /executions/{id}?as_of_position=N | ?as_of=TIME: the run as it was after the last of its
// events at or before that position (or recorded at or before that time), folded from its own
// events through ledger::evolve and shaped as the ledger shapes a stored row. 404 when the run
// did not exist yet.
response execution_as_of(app_context& ctx, const as_of_point& point, const std::string& id) {
  domain::ledger::row row;
  int64_t last = 0;  // the position of the last event folded in
  for (const auto& e : run_events(ctx, id)) {
    if (!point.includes(e)) break;
    domain::ledger::evolve(row, e.type, events::decode(e), e.recorded_at);
    row.uuid = id;
    row.stream_version = e.stream_version;
    last = e.position;
  }
  if (last == 0) fail(404, "not_found", "the execution did not exist then", "id");
  // Shaped by SQL, but no read model is read: the answer's position is its last event's.
  json::object shaped;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    shaped = projections::execution_ledger::read_shape(tx, domain::ledger::columns(row));
  });
  return with_position(json_response(200, with_debug_fields(std::move(shaped))), last);
}

json::object execution_or_404(app_context& ctx, const std::string& id) {
  auto view = execution_view(ctx, id);
  if (!view) fail(404, "not_found", "execution not found", "id");
  return std::move(*view);
}

// 1–128 visible ASCII characters, no whitespace (§9.5).
std::optional<std::string> idempotency_key(const request& req) {
  auto key = req.header("idempotency-key");
  if (key.empty()) {
    if (req.headers.count("idempotency-key"))
      fail(400, "invalid_header", "Idempotency-Key must be 1-128 visible ASCII characters",
           "Idempotency-Key");
    return std::nullopt;
  }
  if (key.size() > 128)
    fail(400, "invalid_header", "Idempotency-Key must be at most 128 characters",
         "Idempotency-Key");
  for (unsigned char ch : key)
    if (ch <= 0x20 || ch >= 0x7f)
      fail(400, "invalid_header", "Idempotency-Key must be visible ASCII without whitespace",
           "Idempotency-Key");
  return key;
}

response post_execution(app_context& ctx, request& req) {
  auto body = parse_body(req);
  // Only the ExecutionCreate fields: everything else in the create command is decided here.
  reject_unknown_fields(body, {"project_module", "archive_name", "sources", "deployment_profile_id",
                               "deployment_profile_name"});
  auto key = idempotency_key(req);
  auto sha = services::execution_request_sha256(body);
  std::string id = key ? util::uuid_v5(kIdempotencyNamespace, request_actor(req) + "\x1f" + *key)
                       : util::uuid_v7();
  if (key) {
    // A replay answers from the stored execution without re-running admission, whose
    // answers (readiness, concurrency) may have changed since.
    if (auto existing = read_model(ctx, [&](auto& tx) {
          return projections::execution_ledger::create_request_sha256(tx, id);
        })) {
      if (*existing != sha)
        fail(409, "idempotency_conflict",
             "Idempotency-Key was already used for a different execution request",
             "Idempotency-Key");
      return json_response(200, execution_or_404(ctx, id));
    }
  }
  // Admission counts what the read models show, so the check, the create and the wait until
  // it is visible happen under the admission gate. Owns what it uses: it may run on the gate's
  // thread after the handler returned.
  auto create = command_for(req, domain::execution_stream_id(id), "create", {});
  auto admit_and_create = [&ctx, body, sha, key, create]() {
    services::execution_admission adm;
    try {
      adm = services::admit_execution(ctx.pool, body, false);
    } catch (const services::admission_error& e) {
      fail(e.status, e.code, e.what(), e.field);
    }
    auto cr = create;
    cr.cmd.body = body;
    for (auto& kv : adm.pins) cr.cmd.body[kv.key()] = kv.value();
    cr.cmd.body.erase("deployment_profile_name");
    cr.cmd.body["request_sha256"] = sha;
    if (key) cr.cmd.body["idempotency_key"] = *key;
    auto r = run_command(ctx, std::move(cr));
    wait_for_position(ctx, r.position, ctx.max_wait);
    return r;
  };
  auto answer = [&ctx, id](const actors::command_reply& r) {
    return with_position(json_response(r.events_appended ? 201 : 200, execution_or_404(ctx, id)),
                         r.position);
  };
  if (!ctx.admission) return answer(admit_and_create());
  auto gated = [&ctx, admit_and_create] {
    try {
      return ctx.admission->run(admit_and_create);
    } catch (const services::admission_error& e) {  // the gate stayed taken: admission_busy
      fail(e.status, e.code, e.what(), e.field);
    }
  };
  if (!req.may_defer) return answer(gated());
  // The gate's thread waits in the gate's queue, not a handler thread. A create that waited
  // there past kQueued is refused unsent, so one the client gave up on is not made later.
  constexpr auto kQueued = std::chrono::seconds(30);
  auto queued_at = std::chrono::steady_clock::now();
  throw deferred_task{
      [&ctx, gated, answer, queued_at, kQueued](deferred_task::finish_fn finish) {
        auto job = [gated, answer, finish, queued_at, kQueued](bool run) {
          std::function<response()> next;
          if (!run) {
            next = []() -> response { fail(503, "shutting_down", "beampipe is shutting down"); };
          } else if (std::chrono::steady_clock::now() - queued_at > kQueued) {
            next = []() -> response {
              fail(503, "admission_busy", "execution creates queued for over 30 s; try again");
            };
          } else {
            try {
              auto r = gated();
              next = [answer, r] { return answer(r); };
            } catch (...) {
              next = [e = std::current_exception()]() -> response { std::rethrow_exception(e); };
            }
          }
          finish(std::move(next));
        };
        if (!ctx.admission->post(job))
          finish([]() -> response {
            fail(503, "admission_busy", "too many execution creates are queued; try again");
          });
      },
      std::chrono::seconds(150)};
}

response prepare_execution(app_context& ctx, request& req) {
  auto body = parse_body(req);
  services::execution_admission adm;
  try {
    adm = services::admit_execution(ctx.pool, body, true);
  } catch (const services::admission_error& e) {
    fail(e.status, e.code, e.what(), e.field);
  }
  json::array preview;
  for (auto& p : adm.preview) preview.push_back(std::move(p));
  auto valid = adm.errors.empty();
  return json_response(
      200, json::object{{"project_module", util::get_string_or(body, "project_module", "")},
                        {"valid", valid},
                        {"errors", std::move(adm.errors)},
                        {"total_datasets", adm.total_datasets},
                        {"sources_preview", std::move(preview)}});
}

// The most read answer of the API: served from the read cache while the ledger has not moved.
response get_execution(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  if (auto point = as_of_param(req)) return execution_as_of(ctx, *point, id);
  honour_min_position(ctx, req, {projections::model::execution_ledger});
  auto body = ctx.caches->execution_bodies.get(id, [&]() -> std::optional<std::string> {
    auto view = execution_view(ctx, id);
    if (!view) return std::nullopt;
    return json::serialize(*view);
  });
  if (!*body) fail(404, "not_found", "execution not found", "id");
  response r;
  r.body = **body;
  return r;
}

response list_executions(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::execution_ledger});
  auto page = numbered_page_params(req);
  auto q = [&](const char* k) { return req.query.count(k) ? req.query.at(k) : std::string(); };
  auto mod = q("project_module"), status = q("status"), scheduler = q("scheduler_name");
  if (!status.empty() && !domain::parse_execution_status(status))
    fail(400, "invalid_query", "unknown status '" + status + "'", "status");
  return numbered_page_response(read_model(ctx,
                                           [&](auto& tx) {
                                             return projections::execution_ledger::list(
                                                 tx, {mod, status, scheduler}, page.items_per_page,
                                                 page.offset());
                                           }),
                                page);
}

// [HEAD]: the only operator patch is a cancel; it is recorded as cancelled once the backend
// confirms (202 until then).
response patch_execution(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  reject_unknown_fields(body, {"status", "reason"});
  auto st = body.find("status");
  if (st == body.end() || !st->value().is_string() || st->value().as_string() != "cancelled")
    fail(400, "invalid_field", "status must be \"cancelled\"", "status");
  return after_recorded(ctx, req, domain::execution_stream_id(id), "cancel", std::move(body),
                        [&ctx, id](const actors::command_reply& r) -> response {
                          auto row = execution_or_404(ctx, id);
                          int status = row.at("status").as_string() == "cancelled" ? 200 : 202;
                          return with_position(json_response(status, row), r.position);
                        });
}

response execute_execution(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = req.body.empty() ? json::object{} : parse_body(req);
  reject_unknown_fields(body, {"do_stage", "do_submit"});
  body["correlation_id"] = req.correlation_id;  // the worker's events and logs carry it on
  return after_recorded(ctx, req, domain::execution_stream_id(id), "request_execute",
                        std::move(body), [&ctx, id](const actors::command_reply& r) -> response {
                          auto row = execution_or_404(ctx, id);
                          const auto& x = row.at("execute_request").as_object();
                          return with_position(
                              json_response(202, json::object{{"status", "accepted"},
                                                              {"execution_id", id},
                                                              {"job_id", x.at("job_id")},
                                                              {"do_stage", x.at("do_stage")},
                                                              {"do_submit", x.at("do_submit")}}),
                              r.position);
                        });
}

response retry_execution(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  reject_unknown_fields(body, {"reason"});
  body["correlation_id"] = req.correlation_id;
  return after_recorded(
      ctx, req, domain::execution_stream_id(id), "retry", std::move(body),
      [&ctx, id](const actors::command_reply& r) -> response {
        auto row = execution_or_404(ctx, id);
        const auto& x = row.at("execute_request").as_object();
        // The status the retry left the run in: the worker may already have started it again by
        // the time the row is read (the executions read models run ahead of the others).
        return with_position(json_response(202, json::object{{"status", "retrying"},
                                                             {"execution_id", id},
                                                             {"job_id", x.at("job_id")},
                                                             {"retry_count", row.at("retry_count")},
                                                             {"stage", row.at("retry_stage")},
                                                             {"do_stage", x.at("do_stage")},
                                                             {"do_submit", x.at("do_submit")}}),
                             r.position);
      });
}

const json::value& member(const json::value& v, std::initializer_list<const char*> path) {
  static const json::value null_value;
  const json::value* cur = &v;
  for (const char* k : path) {
    if (!cur->is_object()) return null_value;
    auto it = cur->as_object().find(k);
    if (it == cur->as_object().end()) return null_value;
    cur = &it->value();
  }
  return *cur;
}

response execution_status(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::execution_ledger});
  auto id = uuid_param(req, "id");
  auto row = execution_or_404(ctx, id);
  json::value rr =
      row.contains("beampipe_run_record") ? row.at("beampipe_run_record") : json::value(nullptr);
  const auto& slurm_at = member(rr, {"slurm", "last_observation", "observed_at"});
  const auto& dim_at = member(rr, {"dim", "last_observation", "observed_at"});
  json::value last = nullptr;
  if (slurm_at.is_string() && dim_at.is_string())
    last = slurm_at.as_string() > dim_at.as_string() ? slurm_at : dim_at;
  else if (slurm_at.is_string())
    last = slurm_at;
  else if (dim_at.is_string())
    last = dim_at;
  json::value duration = nullptr;
  if (auto d = read_model(
          ctx, [&](auto& tx) { return projections::execution_ledger::duration_seconds(tx, id); }))
    duration = *d;
  json::object out;
  for (const char* k :
       {"uuid", "project_module", "status", "execution_phase", "control_phase", "submission_state",
        "scheduler_state", "daliuge_state", "output_state", "terminal_outcome", "scheduler_name",
        "scheduler_job_id", "daliuge_session_id", "last_error", "retry_count", "started_at",
        "completed_at", "cancel_requested", "reconciliation_code"})
    out[k] = row.contains(k) ? row.at(k) : json::value(nullptr);
  out["slurm_state"] = member(rr, {"slurm", "last_observation", "state"});
  out["dim_state"] = member(rr, {"dim", "last_observation", "session_state"});
  out["last_observation_at"] = last;
  out["duration_seconds"] = duration;
  return json_response(200, out);
}

response execution_summary(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::execution_ledger});
  auto row = execution_or_404(ctx, uuid_param(req, "id"));
  json::array idents;
  for (const auto& s : row.at("sources").as_array())
    idents.push_back(s.as_object().at("source_identifier"));
  auto n = idents.size();
  return json_response(200, json::object{{"uuid", row.at("uuid")},
                                         {"project_module", row.at("project_module")},
                                         {"archive_name", row.at("archive_name")},
                                         {"status", row.at("status")},
                                         {"requested_source_count", n},
                                         {"requested_source_identifiers", std::move(idents)},
                                         {"scheduler_name", row.at("scheduler_name")},
                                         {"scheduler_job_id", row.at("scheduler_job_id")},
                                         {"last_error", row.at("last_error")}});
}

// The ledger snapshot with the baseline quirks fixed (§9.3): the pinned config version, the
// aggregate discovery signature, and the most recent events.
response ledger_snapshot(app_context& ctx, request& req) {
  honour_min_position(ctx, req,
                      {projections::model::execution_ledger, projections::model::provenance});
  auto id = uuid_param(req, "id");
  auto row = execution_or_404(ctx, id);
  auto recent = read_model(
      ctx, [&](auto& tx) { return projections::provenance::recent_for_execution(tx, id, 5); });
  json::object out;
  for (const char* k : {"uuid", "status", "execution_phase", "scheduler_name", "scheduler_job_id",
                        "workflow_manifest", "last_error"})
    out[k] = row.at(k);
  out["provenance_summary"] = json::object{{"config_version", row.at("project_config_version")},
                                           {"discovery_signature", row.at("discovery_signature")},
                                           {"recent_events", std::move(recent)}};
  return json_response(200, out);
}

response execution_events(app_context& ctx, request& req) {
  honour_min_position(ctx, req,
                      {projections::model::execution_ledger, projections::model::provenance});
  auto id = uuid_param(req, "id");
  execution_or_404(ctx, id);
  auto page = page_params(req, 100, 500);
  return page_response(read_model(ctx, [&](auto& tx) {
    return projections::provenance::for_execution(tx, id, page.limit, page.offset);
  }));
}

// The fields of a run's state the history shows after each event (secrets redacted as in
// every API answer).
json::object history_state(const domain::ledger::row& r) {
  auto all = domain::ledger::columns(r);
  json::object out;
  for (const char* k : {"status",
                        "control_phase",
                        "execution_phase",
                        "submission_state",
                        "scheduler_state",
                        "daliuge_state",
                        "output_state",
                        "terminal_outcome",
                        "failure_class",
                        "reconciliation_code",
                        "last_error",
                        "retry_count",
                        "retry_stage",
                        "cancel_requested",
                        "cancel_reason",
                        "submission_abandoned",
                        "poll_budget_exhausted",
                        "manifest_sha256",
                        "source_graph_sha256",
                        "patched_graph_sha256",
                        "wasm_hooks",
                        "backend_kind",
                        "daliuge_session_id",
                        "scheduler_name",
                        "scheduler_job_id",
                        "execute_requested_at",
                        "started_at",
                        "completed_at",
                        "updated_at"})
    out[k] = all.at(k);
  domain::redact_json(out["last_error"]);
  domain::redact_json(out["cancel_reason"]);
  return out;
}

// GET /executions/{id}/history: every event of the run with the state it left the run in,
// replayed from the run's own stream through ledger::evolve (the fold the aggregate and the
// ledger projection apply); no read model is consulted, so it is never behind.
response execution_history(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto evs = run_events(ctx, id);
  domain::ledger::row row;
  json::array steps;
  for (const auto& e : evs) {
    domain::ledger::evolve(row, e.type, events::decode(e), e.recorded_at);
    row.uuid = id;
    row.stream_version = e.stream_version;
    steps.push_back(history_step(e, history_state(row)));
  }
  return json_response(200, json::object{{"execution_id", id}, {"steps", std::move(steps)}});
}

// GET /executions/{id}/diff/{other}: what differs from one run to the other (domain/run_diff):
// the pinned configs, profile snapshots, sources and signatures, manifests and patched graphs.
response execution_diff(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::execution_ledger});
  auto facts = [&](const char* param) {
    auto id = uuid_param(req, param);
    domain::run_facts f;
    auto view = execution_view(ctx, id);
    if (!view) fail(404, "not_found", "execution not found", param);
    f.row = std::move(*view);
    if (const auto* cfg = f.row.if_contains("project_config_id"); cfg && cfg->is_string()) {
      auto stored = read_model(ctx, [&](auto& tx) {
        return projections::project_configs::config_by_id(tx, std::string(cfg->as_string()));
      });
      if (stored) f.config_spec = util::parse_stored(stored->spec);
    }
    if (const auto* sha = f.row.if_contains("patched_graph_sha256"); sha && sha->is_string()) {
      std::optional<store::artifact_blob> blob;
      store::with_connection(ctx.pool, [&](pqxx::connection& c) {
        blob = store::get_artifact(c, std::string(sha->as_string()));
      });
      if (blob) f.patched_graph = services::parse_graph(blob->content);
    }
    return f;
  };
  auto a = facts("id");
  auto b = facts("other");
  return json_response(200, domain::run_diff(a, b));
}

response execution_observations(app_context& ctx, request& req) {
  honour_min_position(
      ctx, req, {projections::model::execution_ledger, projections::model::execution_details});
  auto id = uuid_param(req, "id");
  execution_or_404(ctx, id);
  auto page = page_params(req, 500, 1000);
  return page_response(read_model(ctx, [&](auto& tx) {
    return projections::execution_details::observations(tx, id, page.limit, page.offset);
  }));
}

response execution_artifacts(app_context& ctx, request& req) {
  honour_min_position(
      ctx, req, {projections::model::execution_ledger, projections::model::execution_details});
  auto id = uuid_param(req, "id");
  execution_or_404(ctx, id);
  auto page = page_params(req, 500, 1000);
  return page_response(read_model(ctx, [&](auto& tx) {
    return projections::execution_details::artifacts(tx, id, page.limit, page.offset);
  }));
}

// The newest artifact of a kind, byte for byte as stored (its SHA-256 in a header).
response execution_artifact_content(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto kind = req.path_params.at("kind");
  auto newest = read_model(ctx, [&](auto& tx) {
    return projections::execution_details::newest_artifact_sha256(tx, id, kind);
  });
  if (!newest) fail(404, "not_found", "execution has no " + kind + " artifact", "kind");
  const auto& sha = *newest;
  std::optional<store::artifact_blob> blob;
  store::with_connection(ctx.pool,
                         [&](pqxx::connection& c) { blob = store::get_artifact(c, sha); });
  if (!blob) fail(404, "not_found", "artifact content " + sha + " is missing", "kind");
  response r;
  r.content_type = blob->media_type;
  r.body = std::move(blob->content);
  r.headers.emplace_back("X-Content-SHA256", sha);
  return r;
}

// §12.4: the output inventory gate (superuser). The report is stored content-addressed first,
// then the aggregate checks it and completes the run in one event.
response verify_outputs(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  execution_or_404(ctx, id);
  auto text = domain::stable_json(json::value(body));
  std::string sha;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    sha = store::put_artifact(c, "application/json", text);
  });
  return after_recorded(
      ctx, req, domain::execution_stream_id(id), "verify_outputs",
      {{"inventory", body}, {"artifact_sha256", sha}, {"artifact_size", text.size()}},
      [&ctx, id, sha](const actors::command_reply& r) -> response {
        auto row = execution_or_404(ctx, id);
        auto art = read_model(ctx, [&](auto& tx) {
          return projections::execution_details::artifact(tx, id, "output_inventory", sha);
        });
        return with_position(
            json_response(200,
                          json::object{{"execution", std::move(row)},
                                       {"artifact", art ? json::value(std::move(*art)) : nullptr}}),
            r.position);
      });
}

// §12.3 (superuser): gives up on a run that stopped moving once every safety condition
// holds: an unresolved submission whose lookups ran out of budget, or a submitted run past
// its polling budget or with an unconfirmed cancel (issue #17). The aggregate checks them.
response abandon_submission(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  static const std::set<std::string> known{
      "reason", "expected_submission_state", "expected_daliuge_session_id",
      "expected_submission_deadline_at", "acknowledge_external_job_may_exist"};
  for (const auto& kv : body)
    if (!known.count(std::string(kv.key())))
      fail(400, "unknown_field", "unknown field '" + std::string(kv.key()) + "'",
           std::string(kv.key()));
  execution_or_404(ctx, id);
  body["now"] = util::now_rfc3339();
  return write_then_read(ctx, req, domain::execution_stream_id(id), "abandon", std::move(body), 200,
                         [&ctx, id] { return execution_or_404(ctx, id); });
}

}  // namespace

void add_execution_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  const auto id = uuid_path("id", "Execution UUID");
  r.add("POST", v2 + "/executions", auth_level::user, bind(post_execution), [] {
    auto d = operation("create_execution", "Create execution", "executions",
                       "Admission (spec §9.5): readiness, the profile and its concurrency. With "
                       "Idempotency-Key, a replay of the same request answers 200 with the "
                       "existing execution and a different request 409.")
                 .json_body("ExecutionCreate")
                 .returns("ExecutionRead", 201)
                 .write()
                 .fails({409})
                 .limited();
    d.also = {200};
    param_doc key;
    key.name = "Idempotency-Key";
    key.description = "1-128 visible ASCII characters, no whitespace";
    d.headers.push_back(key);
    return d;
  }());
  r.add("POST", v2 + "/executions/prepare", auth_level::user, bind(prepare_execution),
        operation("prepare_execution", "Preview an execution", "executions",
                  "Checks the request and previews the datasets; records nothing.")
            .json_body("ExecutionCreate")
            .returns("ExecutionPrepareResponse"));
  r.add("GET", v2 + "/executions", auth_level::user, bind(list_executions),
        operation("list_executions", "List executions", "executions", "Newest first.")
            .returns("PaginatedExecutions")
            .with_query(text_query("project_module", "Only this project's executions"))
            .with_query(text_query("status", "Only executions in this status",
                                   {"pending", "running", "awaiting_scheduler", "not_submitted",
                                    "completed", "failed", "retrying", "cancelled"}))
            .with_query(text_query("scheduler_name", "Only executions on this scheduler"))
            .numbered_pages()
            .read());
  r.add("GET", v2 + "/executions/{id}", auth_level::user, bind(get_execution),
        operation("get_execution", "Get execution", "executions",
                  "With as_of_position or as_of: the run as it was then, replayed from its own "
                  "events (never a read model), in the same shape; 404 when it did not exist "
                  "yet.")
            .with_path(id)
            .with_query(int_query("as_of_position",
                                  "The run after its last event at or before this position", 1,
                                  std::nullopt, 0))
            .with_query(text_query("as_of", "The run as it was at this RFC 3339 time"))
            .returns("ExecutionRead")
            .read()
            .from_cache()
            .fails({404}));
  r.add("PATCH", v2 + "/executions/{id}", auth_level::user, bind(patch_execution), [&id] {
    auto d = operation("patch_execution", "Cancel execution", "executions",
                       "The only patch is {\"status\": \"cancelled\"}: 200 once cancelled, "
                       "202 while the backend confirms.")
                 .with_path(id)
                 .json_body("ExecutionPatchRequest")
                 .returns("ExecutionRead")
                 .write()
                 .fails({404, 409});
    d.also = {202};
    return d;
  }());
  r.add("POST", v2 + "/executions/{id}/execute", auth_level::user, bind(execute_execution),
        operation("execute_execution", "Execute", "executions",
                  "Enqueues staging and submission; a repeat answers the same job.")
            .with_path(id)
            .json_body("ExecuteRequest", false)
            .returns("ExecuteAccepted", 202)
            .write()
            .fails({404, 409})
            .limited());
  r.add("POST", v2 + "/executions/{id}/retry", auth_level::user, bind(retry_execution),
        operation("retry_execution", "Retry a failed execution", "executions")
            .with_path(id)
            .json_body("RetryRequest")
            .returns("RetryAccepted", 202)
            .write()
            .fails({404, 409})
            .limited());
  r.add("GET", v2 + "/executions/{id}/status", auth_level::user, bind(execution_status),
        operation("execution_status", "Execution status", "executions")
            .with_path(id)
            .returns("ExecutionStatusResponse")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/executions/{id}/summary", auth_level::user, bind(execution_summary),
        operation("execution_summary", "Execution summary", "executions")
            .with_path(id)
            .returns("ExecutionSummary")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/executions/{id}/ledger-snapshot", auth_level::user, bind(ledger_snapshot),
        operation("execution_ledger_snapshot", "Ledger snapshot", "executions",
                  "The pinned config version, the discovery signature and the 5 most recent "
                  "events.")
            .with_path(id)
            .returns("LedgerSnapshot")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/executions/{id}/events", auth_level::user, bind(execution_events),
        operation("list_execution_events", "Provenance of an execution", "provenance",
                  "Oldest first.")
            .with_path(id)
            .returns_list("ProvenanceEventRow")
            .paged(100, 500)
            .read()
            .fails({404}));
  r.add("GET", v2 + "/executions/{id}/diff/{other}", auth_level::user, bind(execution_diff),
        operation("execution_diff", "What differs between two runs", "executions",
                  "From run {id} to run {other}: the pinned config revisions (a structural diff "
                  "at YAML paths), the deployment profile snapshots, the sources and their "
                  "discovery signatures, the manifests without their run records (JSON Pointer "
                  "paths) and the patched graphs (nodes and fields). Lists of changes keep the "
                  "first 500, with the total.")
            .with_path(id)
            .with_path(uuid_path("other", "The run to compare with"))
            .returns("ExecutionDiff")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/executions/{id}/history", auth_level::user, bind(execution_history),
        operation("execution_history", "A run's state after each of its events", "executions",
                  "Replayed from the run's own events through the same fold the aggregate and "
                  "the ledger use (never from a read model): each event with the status, the "
                  "four status axes, phase, outcome, error and digests it left the run in. "
                  "Oldest first.")
            .with_path(id)
            .returns("ExecutionHistory")
            .fails({404, 422}));
  r.add("GET", v2 + "/executions/{id}/observations", auth_level::user, bind(execution_observations),
        operation("list_execution_observations", "Backend observations", "executions",
                  "What the DALiuGE and Slurm backends were seen to report, oldest first.")
            .with_path(id)
            .returns_list("ExecutionObservationRow")
            .paged(500, 1000)
            .read()
            .fails({404}));
  r.add("GET", v2 + "/executions/{id}/artifacts", auth_level::user, bind(execution_artifacts),
        operation("list_execution_artifacts", "Execution artifacts", "executions")
            .with_path(id)
            .returns_list("ExecutionArtifactRow")
            .paged(500, 1000)
            .read()
            .fails({404}));
  r.add("GET", v2 + "/executions/{id}/artifacts/{kind}", auth_level::user,
        bind(execution_artifact_content), [&id] {
          auto d = operation("get_execution_artifact", "Artifact content", "executions",
                             "The newest artifact of the kind, byte for byte as stored, in its "
                             "media type; X-Content-SHA256 carries its digest.")
                       .with_path(id)
                       .with_path(text_path("kind", "Artifact kind, e.g. manifest"))
                       .fails({404});
          d.reply = reply_kind::binary;
          return d;
        }());
  r.add("POST", v2 + "/executions/{id}/submission/abandon", auth_level::superuser,
        bind(abandon_submission),
        operation("abandon_execution_submission", "Abandon an unresolved submission", "executions",
                  "Spec §12.3 with issue #17's liveness rule: an unresolved submission whose name "
                  "lookups exhausted their budget without a match, or a submitted run whose "
                  "polling budget is exhausted or whose cancel was never confirmed. The orphan "
                  "risk must be acknowledged.")
            .with_path(id)
            .json_body("AbandonSubmissionRequest")
            .returns("ExecutionRead")
            .write()
            .fails({404, 409})
            .limited());
  r.add("POST", v2 + "/executions/{id}/outputs/verify", auth_level::superuser, bind(verify_outputs),
        operation("verify_execution_outputs", "Verify outputs", "executions",
                  "Spec §12.4: the output inventory gate.")
            .with_path(id)
            .json_body("OutputInventoryReport")
            .returns("VerifyOutputsResponse")
            .write()
            .fails({404, 409})
            .limited());
}

}  // namespace beampipe::api

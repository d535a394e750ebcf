// The operator surface (issue #21, spec §9.5): inspection endpoints operators run every day.
// So far: the overview, the diagnostics, the graph preview, and the Slurm SSH credential slots
// (names and which files are present, never contents).
#include "adapters/credential_slots.hpp"
#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/graph_prep.hpp"
#include "domain/project_config.hpp"
#include "domain/slurm.hpp"
#include "projections/alerting/queries.hpp"
#include "projections/deployment_profiles/queries.hpp"
#include "projections/engine.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/jobs/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/provenance/queries.hpp"
#include "projections/read_model_names.hpp"
#include "projections/source_registry/queries.hpp"
#include "services/node_heartbeat.hpp"
#include "services/project_hooks.hpp"
#include "services/run_graph.hpp"
#include "store/leases.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/time.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace {

json::object slot_json(const adapters::credential_slot& s) {
  return {{"name", s.name},
          {"private_key", s.private_key},
          {"public_key", s.public_key},
          {"passphrase", s.passphrase},
          {"known_hosts", s.known_hosts},
          {"safe_permissions", s.safe_permissions}};
}

response list_credentials(app_context& ctx, request&) {
  json::array slots;
  for (const auto& s : adapters::list_credential_slots(ctx.ssh_credentials_dir))
    slots.push_back(slot_json(s));
  return json_response(200, json::object{{"configured", !ctx.ssh_credentials_dir.empty()},
                                         {"slots", std::move(slots)}});
}

response get_credential(app_context& ctx, request& req) {
  const auto& name = req.path_params.at("slot");
  if (!adapters::valid_slot_name(name))
    fail(400, "invalid_parameter", "a slot name is 1..64 of A-Z a-z 0-9 . _ - (no leading dot)",
         "slot");
  auto s = adapters::find_credential_slot(ctx.ssh_credentials_dir, name);
  if (!s) fail(404, "not_found", "no credential slot named " + name, "slot");
  return json_response(200, slot_json(*s));
}

// What an operator looks at first. Every count comes from a read model's own query; the
// backends are described, not probed (GET /diagnostics probes).
response get_overview(app_context& ctx, request&) {
  json::object o{{"generated_at", util::now_rfc3339()}};
  read_model(ctx, [&](pqxx::transaction_base& tx) {
    json::object by_state;
    int64_t registered = 0;
    for (const auto& r : projections::source_registry::discovery_state_counts(tx)) {
      const auto& row = r.as_object();
      auto n = row.at("n").to_number<int64_t>();
      by_state[row.at("state").as_string()] = n;
      if (row.at("state").as_string() != "disabled") registered += n;
    }
    o["registered_sources"] = registered;
    o["pending_admissions"] = projections::source_registry::pending_run_count(tx);
    json::object by_status;
    for (const auto& r : projections::execution_ledger::status_counts(tx))
      by_status[r.at("status").as_string()] = r.at("n");
    o["running_executions"] = projections::execution_ledger::in_flight_count(tx);
    o["failed_executions"] = by_status.contains("failed") ? by_status.at("failed") : json::value(0);
    auto queue = projections::jobs::queue(tx);
    o["queue_depth"] = queue.queued;
    o["jobs_running"] = queue.running;
    auto census = services::take_census(tx, ctx.heartbeat_every);
    o["active_workers"] = census.workers_alive;
    o["stale_workers"] = census.stale;
    o["draining_workers"] = census.draining;
    o["recent_alerts"] = projections::alerting::deliveries_since(tx, 24);
    o["sources_by_state"] = std::move(by_state);
    o["executions_by_status"] = std::move(by_status);
    o["recent_failures"] = projections::execution_ledger::recent_failures(tx, 10);
    int64_t dead = 0;
    for (const auto& [name, n] : projections::dead_letter_counts(tx)) dead += n;
    o["projections"] = json::object{{"alive", ctx.watch.alive()},
                                    {"lag", ctx.watch.lag()},
                                    {"head", ctx.watch.head()},
                                    {"dead_letters_total", dead}};
    return 0;
  });
  auto lease = store::with_connection(
      ctx.pool, [&](pqxx::connection& c) { return store::read_lease(c, "scheduler"); });
  o["scheduler_leader"] =
      lease && !lease->expired ? json::value(lease->owner) : json::value(nullptr);
  o["casda"] = tap_state(ctx, "casda");
  // Real backends take their endpoints from the deployment profiles.
  o["daliuge"] = ctx.backends == "real" ? "profile_managed" : "simulated";
  o["scheduler"] = ctx.backends == "real" ? "profile_managed" : "simulated";
  return json_response(200, o);
}

response get_diagnostics(app_context& ctx, request& req) {
  auto profile = profile_param(req);
  if (!ctx.diagnose) fail(503, "unavailable", "diagnostics are not available on this node");
  return json_response(200, ctx.diagnose(profile));
}

// The runs on Slurm: in flight, or every one with ?include_finished=true.
response scheduler_jobs(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::execution_ledger});
  auto page = numbered_page_params(req);
  bool finished = bool_param(req, "include_finished").value_or(false);
  return numbered_page_response(read_model(ctx,
                                           [&](auto& tx) {
                                             return projections::execution_ledger::slurm_runs(
                                                 tx, finished, page.items_per_page, page.offset());
                                           }),
                                page);
}

// The profile a view is about: ?profile=NAME, else the global default, else the only default.
std::pair<std::string, domain::DeploymentProfile> profile_for(app_context& ctx, request& req) {
  auto name = profile_param(req);
  auto row = read_model(ctx, [&](pqxx::transaction_base& tx) {
    return name ? projections::deployment_profiles::pinnable_by_name(tx, *name)
                : projections::deployment_profiles::operator_default(tx);
  });
  if (!row && name) fail(404, "not_found", "no deployment profile named " + *name, "profile");
  if (!row)
    fail(400, "invalid_parameter", "no default deployment profile: pass ?profile=NAME", "profile");
  std::string resolved(row->at("name").as_string());
  auto v = domain::validate_stored_profile(*row);
  if (!v.valid())
    fail(400, "invalid_profile", "deployment profile '" + resolved + "' is not valid", "profile");
  return {resolved, *v.profile};
}

// What the profile's DALiuGE managers say now; 400 when its backend has none standing.
json::object inspect_daliuge_of(app_context& ctx, const std::string& name,
                                const domain::DeploymentProfile& profile) {
  auto backend = ctx.execution_backends ? ctx.execution_backends(profile) : nullptr;
  auto seen = backend ? backend->inspect_daliuge(profile, std::chrono::seconds(5)) : std::nullopt;
  if (!seen)
    fail(400, "no_daliuge_manager",
         "profile '" + name + "' has no standing DALiuGE manager to ask (" +
             (backend ? backend->description() : std::string("no backend")) + ")",
         "profile");
  return *seen;
}

response daliuge_inspect(app_context& ctx, request& req) {
  auto [name, profile] = profile_for(ctx, req);
  auto seen = inspect_daliuge_of(ctx, name, profile);
  seen["profile"] = name;
  return json_response(200, seen);
}

// The manager's sessions, as DALiuGE lists them; 502 when it does not answer.
response daliuge_sessions(app_context& ctx, request& req) {
  auto [name, profile] = profile_for(ctx, req);
  auto seen = inspect_daliuge_of(ctx, name, profile);
  auto& dim = seen.at("manager").as_object();
  if (!dim.at("reachable").as_bool())
    fail(502, "daliuge_unreachable",
         "the Data Island Manager of '" + name + "' at " +
             std::string(dim.at("endpoint").as_string()) +
             " does not answer: " + json::serialize(dim.at("detail")));
  return json_response(200, json::object{{"profile", name},
                                         {"endpoint", dim.at("endpoint")},
                                         {"sessions", dim.at("sessions")}});
}

// A Slurm profile as Slurm would take it: the login node asked now (null with the simulated
// backend), and the resources each job asks for, as #SBATCH lines.
response scheduler_status(app_context& ctx, request& req) {
  auto [name, profile] = profile_for(ctx, req);
  const auto* slurm = std::get_if<domain::SlurmRemoteDeployment>(&profile.deployment);
  if (!slurm)
    fail(400, "not_slurm", "deployment profile '" + name + "' is not slurm_remote", "profile");
  auto backend = ctx.execution_backends ? ctx.execution_backends(profile) : nullptr;
  auto seen =
      backend ? backend->inspect_scheduler(profile, std::chrono::seconds(10)) : std::nullopt;
  json::object resources;
  for (const auto& [option, value] : domain::slurm_resource_options(*slurm))
    resources[option] = value;
  auto rendered = domain::slurm_sbatch_directives(*slurm);
  return json_response(
      200, json::object{{"profile", name},
                        {"backend", backend ? backend->description() : std::string("none")},
                        {"connectivity", seen ? json::value(*seen) : json::value(nullptr)},
                        {"resource_request", std::move(resources)},
                        {"rendered_resource_request", rendered}});
}

// What a run of these sources would submit, built as the execute step builds it (the records
// as discovered, no staging), without creating anything.
struct graph_prepare_request {
  std::string project_module;
  std::vector<std::string> source_identifiers;
};

graph_prepare_request decode_graph_prepare(const json::object& body) {
  reject_unknown_fields(body, {"project_module", "source_identifiers"});
  graph_prepare_request r;
  const auto* m = body.if_contains("project_module");
  if (!m || !m->is_string() || m->as_string().empty() || m->as_string().size() > 50)
    fail(400, "invalid_field", "project_module is a string of 1..50 characters", "project_module");
  r.project_module = std::string(m->as_string());
  const auto* ids = body.if_contains("source_identifiers");
  if (!ids || !ids->is_array() || ids->as_array().empty() || ids->as_array().size() > 500)
    fail(400, "invalid_field", "source_identifiers is a list of 1..500 names",
         "source_identifiers");
  std::set<std::string> seen;
  for (size_t i = 0; i < ids->as_array().size(); ++i) {
    const auto& v = ids->as_array()[i];
    auto field = "source_identifiers[" + std::to_string(i) + "]";
    if (!v.is_string() || v.as_string().empty() || v.as_string().size() > 200)
      fail(400, "invalid_field", "a source identifier is a string of 1..200 characters", field);
    if (!seen.insert(std::string(v.as_string())).second)
      fail(400, "invalid_field", "a source is named twice", field);
    r.source_identifiers.emplace_back(v.as_string());
  }
  return r;
}

response prepare_graph(app_context& ctx, request& req) {
  auto want = decode_graph_prepare(parse_body(req));
  std::optional<projections::project_configs::stored_config> stored;
  json::array records;
  read_model(ctx, [&](pqxx::transaction_base& tx) {
    stored = projections::project_configs::active_config(tx, want.project_module);
    if (!stored) return 0;
    for (size_t i = 0; i < want.source_identifiers.size(); ++i) {
      const auto& ident = want.source_identifiers[i];
      auto found = projections::source_registry::readiness_inputs(
          tx, domain::source_uuid(want.project_module, ident));
      if (!found)
        fail(400, "unknown_source",
             "source '" + ident + "' is not registered in " + want.project_module,
             "source_identifiers[" + std::to_string(i) + "]");
      for (const auto& [sbid, meta] : found->metadata_rows) {
        const auto* ds = meta.is_object() ? meta.as_object().if_contains("datasets") : nullptr;
        if (ds && ds->is_array())
          for (const auto& d : ds->as_array()) records.push_back(d);
      }
    }
    return 0;
  });
  if (!stored)
    fail(400, "no_active_config", "project '" + want.project_module + "' has no active config",
         "project_module");
  boost::system::error_code ec;
  auto doc = json::parse(stored->spec, ec);
  auto parsed = ec ? domain::ConfigParseResult{} : domain::parse_project_config(doc);
  if (!parsed.config)
    fail(400, "invalid_config", "the active config of '" + want.project_module + "' does not parse",
         "project_module");
  std::optional<domain::project_hooks> hooks;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    hooks = services::bind_project_hooks(c, *parsed.config, ctx.wasm);
  });
  std::vector<events::hook_run> ran;
  json::object out;
  try {
    auto graph_bytes = services::fetch_project_graph(*parsed.config, ctx.graphs);
    auto graph = services::parse_graph(graph_bytes);
    if (graph_bytes.empty()) graph_bytes = json::serialize(graph);
    auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    auto built = services::build_run_graph(*parsed.config, records, {}, graph, util::uuid_v7(),
                                           now_s, hooks ? &*hooks : nullptr, &ran);
    auto manifest_text = domain::stable_json(json::value(built.manifest));
    auto patched = services::patched_graph(graph, built);
    json::array idents;
    for (const auto& i : want.source_identifiers) idents.emplace_back(i);
    out = {{"project_module", want.project_module},
           {"source_identifiers", std::move(idents)},
           {"project_config_id", stored->id},
           {"project_config_version", stored->version},
           {"project_spec_sha256", stored->spec_sha256},
           {"manifest_sha256", util::sha256_hex(manifest_text)},
           {"source_graph_sha256", util::sha256_hex(graph_bytes)},
           {"patched_graph_sha256", util::sha256_hex(json::serialize(patched))},
           {"wasm_hooks", domain::hook_runs_json(ran)},
           {"patch_summary", domain::patch_summary(graph, patched)},
           {"manifest", std::move(built.manifest)},
           {"source_graph", std::move(graph)},
           {"patched_graph", std::move(patched)}};
  } catch (const services::run_graph_error& e) {
    fail(400, "prepare_failed", e.what(), "project_module");
  }
  return json_response(200, out);
}

// Read-model retention: provenance rows older than `before` leave the read model (of one
// project, or all); the events stay, and the purge is itself an event, so a rebuild agrees.
response purge_provenance(app_context& ctx, request& req) {
  auto body = parse_body(req);
  reject_unknown_fields(body, {"before", "project_module", "reason"});
  body["requested_at"] = util::now_rfc3339();
  auto text = [&](const char* k) {
    auto it = body.find(k);
    return it != body.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                       : std::string();
  };
  // As the decider records it (a refused body never reaches the answer).
  auto scope = text("project_module"), reason = text("reason");
  auto when = util::parse_rfc3339(text("before"));
  auto before = when ? util::to_rfc3339(*when) : std::string();
  return after_recorded(
      ctx, req, domain::kMaintenanceStream, "purge_provenance", std::move(body),
      [&ctx, scope, reason, before](const actors::command_reply& r) {
        auto left = read_model(ctx, [&](pqxx::transaction_base& tx) {
          return projections::provenance::extent_of(tx, scope);
        });
        return with_position(
            json_response(200,
                          json::object{{"before", before},
                                       {"project_module",
                                        scope.empty() ? json::value(nullptr) : json::value(scope)},
                                       {"reason", reason},
                                       {"remaining_rows", left.rows},
                                       {"oldest_remaining", left.oldest ? json::value(*left.oldest)
                                                                        : json::value(nullptr)}}),
            r.position);
      });
}

}  // namespace

void add_operator_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  r.add("GET", v2 + "/overview", auth_level::user, bind(get_overview),
        operation("get_overview", "Operator overview", "operator",
                  "Counts an operator checks first: sources by discovery state, executions by "
                  "status, the job queue, workers by heartbeat, projection lag and dead letters, "
                  "alerts of the last day and the latest failures.")
            .returns("OperatorOverview"));
  r.add("GET", v2 + "/diagnostics", auth_level::user, bind(get_diagnostics),
        operation("get_diagnostics", "Doctor-style diagnostics", "operator",
                  "The checks of `beampipe doctor`, run now: settings, security policy, TAP "
                  "services, database and migrations, projections, project configs, the "
                  "profile (?profile=NAME, else the global default) and its DALiuGE or Slurm "
                  "targets, workers and the scheduler. Passes are listed too; `ok` is false "
                  "when a check fails.")
            .with_query(text_query("profile",
                                   "Deployment profile name (default: the global "
                                   "default profile)"))
            .returns("Diagnostics"));
  r.add("POST", v2 + "/graphs/prepare", auth_level::user, bind(prepare_graph),
        operation("prepare_graph", "Preview a run's manifest and graph", "operator",
                  "What a run of these sources would submit, built as the execute step builds it "
                  "(records as discovered, no staging) and nothing recorded: the config revision, "
                  "the manifest, the source and patched graphs with their SHA-256, and a summary "
                  "of the nodes the preparation added, modified (with the fields) or removed.")
            .json_body("GraphPrepareRequest")
            .returns("GraphPrepareResponse")
            .limited());
  r.add("GET", v2 + "/daliuge/inspect", auth_level::user, bind(daliuge_inspect),
        operation("inspect_daliuge", "A profile's DALiuGE managers, now", "operator",
                  "Asks the Translator Manager (its submission methods) and the Data Island "
                  "Manager (its sessions) of a DALiuGE REST profile: ?profile=NAME, else the "
                  "global default, else the only default. Each part says whether it answered.")
            .with_query(text_query("profile", "Deployment profile name"))
            .returns("DaliugeInspect")
            .fails({404}));
  r.add("GET", v2 + "/daliuge/sessions", auth_level::user, bind(daliuge_sessions),
        operation("list_daliuge_sessions", "A profile's DIM sessions", "operator",
                  "GET /api/sessions of the profile's Data Island Manager, as DALiuGE answers "
                  "it (the status is DALiuGE's own); 502 when the manager does not answer.")
            .with_query(text_query("profile", "Deployment profile name"))
            .returns("DaliugeSessions")
            .fails({404, 502}));
  r.add("GET", v2 + "/scheduler/status", auth_level::user, bind(scheduler_status),
        operation("get_scheduler_status", "A Slurm profile, as Slurm would take it", "operator",
                  "The profile's login node asked now (reachable, Slurm's version, which of "
                  "sbatch squeue sacct scancel the remote user lacks; null with the simulated "
                  "backend) and the resources each job asks for, also as #SBATCH lines. "
                  "?profile=NAME, else the global default, else the only default.")
            .with_query(text_query("profile", "Deployment profile name (slurm_remote)"))
            .returns("SchedulerStatus")
            .fails({404}));
  r.add("GET", v2 + "/scheduler/jobs", auth_level::user, bind(scheduler_jobs),
        operation("list_scheduler_jobs", "Runs on Slurm", "operator",
                  "The executions on a Slurm profile with their scheduler job, states and remote "
                  "session directory, newest first: those in flight, or all with "
                  "include_finished=true. From the ledger; Slurm is not asked.")
            .with_query(bool_query("include_finished", "Also the runs that ended"))
            .numbered_pages()
            .returns("PaginatedSchedulerJobs")
            .read());
  r.add("POST", v2 + "/provenance/purge", auth_level::superuser, bind(purge_provenance),
        operation("purge_provenance", "Purge old provenance rows", "operator",
                  "Read-model retention: provenance rows that occurred before `before` (of one "
                  "project, or all) leave the provenance read model. The events are never "
                  "deleted; the purge is recorded as ProvenancePurged, so a rebuild drops the "
                  "same rows. `before` may not be in the future.")
            .json_body("ProvenancePurgeRequest")
            .returns("ProvenancePurge")
            .write());
  r.add("GET", v2 + "/slurm/credentials", auth_level::user, bind(list_credentials),
        operation("list_slurm_credentials", "Slurm SSH credential slots", "slurm-credentials",
                  "The slots under BEAMPIPE_SSH_CREDENTIALS_DIR and which files each holds "
                  "(private_key, private_key.pub, passphrase, known_hosts); never their contents.")
            .returns("SlurmCredentialList"));
  r.add("GET", v2 + "/slurm/credentials/{slot}", auth_level::user, bind(get_credential),
        operation("get_slurm_credential", "One Slurm SSH credential slot", "slurm-credentials",
                  "Which files the slot holds, and whether the private key and passphrase are "
                  "readable by their owner only; never their contents.")
            .with_path(text_path("slot", "Slot name (deployment.ssh_credential)"))
            .returns("SlurmCredentialSlot")
            .fails({404}));
}

}  // namespace beampipe::api

// Executions (§9.3, §9.5 [HEAD]): admission with its pins and Idempotency-Key, execute,
// cancel, retry, and the ledger views. Writes go to the execution aggregate; reads come from
// the batch_execution_record, execution_observations, execution_artifacts and
// provenance_events read models.
#include <set>

#include "api/app.hpp"
#include "api/handler_support.hpp"
#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/discovery.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/project_config.hpp"
#include "domain/readiness.hpp"
#include "store/artifact_store.hpp"
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

// ExecutionRead: the ledger row without bookkeeping columns, plus the run record at top level.
const char* kExecutionRead =
    "SELECT (to_jsonb(x) - 'stream_version' - 'created_at_ms') || "
    "jsonb_build_object('beampipe_run_record', "
    "x.workflow_manifest->'beampipe_run_record') FROM batch_execution_record x";

json::object execution_or_404(app_context& ctx, const std::string& id) {
  auto row = query_row(ctx, std::string(kExecutionRead) + " WHERE uuid = $1::uuid", id);
  if (!row) fail(404, "not_found", "execution not found", "id");
  auto& r = *row;
  // §8.1 operator debug fields.
  auto text = [&](const char* k) { return util::get_string_or(r, k, ""); };
  const auto& snap = r.contains("deployment_profile_snapshot") ? r.at("deployment_profile_snapshot")
                                                               : json::value();
  const json::object* dep = nullptr;
  if (snap.is_object())
    if (auto d = snap.as_object().find("deployment");
        d != snap.as_object().end() && d->value().is_object())
      dep = &d->value().as_object();
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

const char* kProvenanceRow =
    "SELECT json_build_object('id', id, 'occurred_at', occurred_at, 'event_type', event_type, "
    "'project_module', "
    "project_module, 'source_identifier', source_identifier, 'execution_id', execution_id, "
    "'actor', actor, "
    "'correlation_id', correlation_id, 'payload', payload)";

std::string str_field(const json::object& b, const char* k) {
  return util::get_string_or(b, k, "");
}

std::string trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// §9.5 canonical request hash of an ExecutionCreate body.
std::string request_sha256(const json::object& body) {
  json::array sources;
  if (auto it = body.find("sources"); it != body.end() && it->value().is_array())
    for (const auto& s : it->value().as_array()) {
      if (!s.is_object()) continue;
      const auto& o = s.as_object();
      json::value sbids = nullptr;
      if (auto sb = o.find("sbids"); sb != o.end() && sb->value().is_array()) {
        json::array a;
        for (const auto& v : sb->value().as_array())
          a.push_back(v.is_string() ? json::value(trimmed(v.as_string())) : v);
        sbids = std::move(a);
      }
      sources.push_back(json::object{
          {"sbids", sbids}, {"source_identifier", trimmed(str_field(o, "source_identifier"))}});
    }
  auto opt = [&](const char* k) {
    auto it = body.find(k);
    return it == body.end() || it->value().is_null() ? json::value(nullptr)
           : it->value().is_string()                 ? json::value(trimmed(it->value().as_string()))
                                                     : it->value();
  };
  json::object canon{{"archive_name", opt("archive_name")},
                     {"deployment_profile_id", opt("deployment_profile_id")},
                     {"deployment_profile_name", opt("deployment_profile_name")},
                     {"project_module", opt("project_module")},
                     {"sources", std::move(sources)}};
  return util::sha256_hex(domain::stable_json(canon));
}

struct admission {
  json::object pins;  // fields added to the create command
  json::array errors;
  std::vector<json::object> preview;
  int64_t total_datasets = 0;
};

// Everything §9.5 checks before an execution may exist. Throws api_error on the first
// request-level problem; per-source readiness problems are collected.
admission admit(app_context& ctx, const json::object& body, bool preview_only) {
  admission a;
  auto module = trimmed(str_field(body, "project_module"));
  auto archive = trimmed(str_field(body, "archive_name"));
  if (module.empty()) fail(400, "invalid_field", "project_module is required", "project_module");
  if (!preview_only && archive.empty())
    fail(400, "invalid_field", "archive_name is required", "archive_name");
  auto src_it = body.find("sources");
  if (src_it == body.end() || !src_it->value().is_array() || src_it->value().as_array().empty())
    fail(400, "invalid_field", "sources must be a non-empty array", "sources");
  const auto& sources = src_it->value().as_array();
  bool by_id =
      body.contains("deployment_profile_id") && !body.at("deployment_profile_id").is_null();
  bool by_name =
      body.contains("deployment_profile_name") && !body.at("deployment_profile_name").is_null();
  if (by_id && by_name)
    fail(400, "invalid_field",
         "give at most one of deployment_profile_id and deployment_profile_name",
         "deployment_profile_name");

  std::optional<domain::ProjectConfig> config;
  std::string config_id;
  int64_t config_version = 0;
  std::string spec_sha;
  json::value spec;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(
        "SELECT uuid::text, version, spec_sha256, spec::text FROM project_configs WHERE project_id "
        "= $1 AND active",
        module);
    if (r.empty()) return;
    config_id = r[0][0].as<std::string>();
    config_version = r[0][1].as<int64_t>();
    spec_sha = r[0][2].as<std::string>();
    spec = json::parse(r[0][3].c_str());
    config = domain::parse_project_config(spec).config;
  });
  if (!config)
    fail(400, "project_not_configured", "project '" + module + "' has no active config",
         "project_module");
  if (!preview_only) {
    const auto& req = config->adapters.required;
    if (std::find(req.begin(), req.end(), archive) == req.end())
      fail(400, "invalid_field",
           "archive_name '" + archive + "' is not one of the project's adapters.required",
           "archive_name");
    auto policy = domain::lenient_execution_policy(spec);
    if (config->automation.execution && config->automation.execution->max_sources_per_execution &&
        static_cast<int64_t>(sources.size()) > policy.max_sources_per_execution)
      fail(400, "too_many_sources",
           "at most " + std::to_string(policy.max_sources_per_execution) +
               " source(s) per execution",
           "sources");
  }

  // Readiness per source, with the SBID filter ([HEAD] §12.7).
  std::map<std::string, std::string> signatures;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    for (size_t i = 0; i < sources.size(); ++i) {
      auto path = "sources[" + std::to_string(i) + "]";
      if (!sources[i].is_object()) fail(400, "invalid_field", path + " must be an object", path);
      const auto& sel = sources[i].as_object();
      auto ident = trimmed(str_field(sel, "source_identifier"));
      if (ident.empty())
        fail(400, "invalid_field", path + ".source_identifier is required",
             path + ".source_identifier");
      std::vector<std::string> filter;
      if (auto sb = sel.find("sbids"); sb != sel.end() && sb->value().is_array())
        for (const auto& v : sb->value().as_array())
          if (v.is_string()) filter.push_back(trimmed(v.as_string()));
      auto uuid = domain::source_uuid(module, ident);
      std::optional<domain::SourceReadinessState> st;
      auto s = tx.exec_params(
          "SELECT coalesce(discovery_signature, ''), enabled, last_checked_at IS NOT NULL, "
          "coalesce(discovery_request_id::text, ''), coalesce(last_executed_discovery_signature, "
          "'') "
          "FROM source_registry WHERE uuid = $1::uuid AND NOT deleted",
          uuid);
      if (!s.empty()) {
        st.emplace();
        st->discovery_signature = s[0][0].as<std::string>();
        st->enabled = s[0][1].as<bool>();
        st->last_checked_at_set = s[0][2].as<bool>();
        st->discovery_claim_token = s[0][3].as<std::string>();
        st->last_executed_discovery_signature = s[0][4].as<std::string>();
        auto m = tx.exec_params(
            "SELECT sbid, metadata_json::text FROM archive_metadata WHERE source_uuid = $1::uuid",
            uuid);
        for (const auto& row : m)
          st->metadata_rows[row[0].as<std::string>()] = json::parse(row[1].c_str());
        signatures[ident] = st->discovery_signature;
      }
      int64_t sbid_count = 0, datasets = 0;
      if (st)
        for (const auto& [sbid, meta] : st->metadata_rows) {
          if (!filter.empty() && std::find(filter.begin(), filter.end(), sbid) == filter.end())
            continue;
          ++sbid_count;
          if (meta.is_object())
            if (auto d = meta.as_object().find("datasets");
                d != meta.as_object().end() && d->value().is_array())
              datasets += static_cast<int64_t>(d->value().as_array().size());
        }
      a.total_datasets += datasets;
      a.preview.push_back(
          {{"source_identifier", ident}, {"sbid_count", sbid_count}, {"dataset_count", datasets}});
      if (auto err = domain::source_readiness_error(
              ident, st, preview_only ? std::vector<std::string>{} : filter)) {
        if (!preview_only) fail(400, "source_not_ready", *err, path);
        a.errors.push_back(json::value(*err));
      }
    }
  });
  if (preview_only) return a;

  // The deployment profile: by id, by name, else the project's (or the global) default.
  json::object profile;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    const char* cols =
        "SELECT json_build_object('uuid', uuid, 'name', name, 'description', description, "
        "'project_module', "
        "project_module, 'is_default', is_default, 'max_concurrent_executions', "
        "max_concurrent_executions, "
        "'translation', translation, 'deployment', deployment, 'revision', revision, "
        "'spec_sha256', spec_sha256)::text "
        "FROM daliuge_deployment_profile ";
    pqxx::result r;
    if (by_id) {
      auto pid = str_field(body, "deployment_profile_id");
      if (!util::is_uuid(pid))
        fail(400, "invalid_field", "deployment_profile_id must be a UUID", "deployment_profile_id");
      r = tx.exec_params(std::string(cols) + "WHERE uuid = $1::uuid", pid);
      if (r.empty())
        fail(400, "unknown_profile", "deployment profile " + pid + " does not exist",
             "deployment_profile_id");
    } else if (by_name) {
      auto name = trimmed(str_field(body, "deployment_profile_name"));
      r = tx.exec_params(std::string(cols) + "WHERE name = $1", name);
      if (r.empty())
        fail(400, "unknown_profile", "deployment profile '" + name + "' does not exist",
             "deployment_profile_name");
    } else {
      r = tx.exec_params(std::string(cols) +
                             "WHERE is_default AND (project_module = $1 OR project_module IS NULL) "
                             "ORDER BY project_module NULLS LAST LIMIT 1",
                         module);
      if (r.empty())
        fail(400, "no_default_profile",
             "project '" + module + "' has no default deployment profile; select one explicitly",
             "deployment_profile_name");
    }
    profile = json::parse(r[0][0].c_str()).as_object();
    const auto& pm = profile.at("project_module");
    if (!pm.is_null() && pm.as_string() != module)
      fail(400, "profile_scope",
           "deployment profile '" + std::string(profile.at("name").as_string()) +
               "' belongs to project '" + std::string(pm.as_string()) + "'",
           by_name ? "deployment_profile_name" : "deployment_profile_id");
    // Profile concurrency ([HEAD] §12.11): every non-terminal run counts.
    if (auto limit = util::get_int(profile, "max_concurrent_executions")) {
      auto n = tx.exec_params(
                     "SELECT count(*) FROM batch_execution_record WHERE deployment_profile_id = "
                     "$1::uuid "
                     "AND status NOT IN ('completed','failed','cancelled','not_submitted')",
                     std::string(profile.at("uuid").as_string()))[0][0]
                   .as<int64_t>();
      if (n >= *limit)
        fail(409, "profile_concurrency_limit",
             "deployment profile '" + std::string(profile.at("name").as_string()) +
                 "' already runs " + std::to_string(n) + " execution(s) (limit " +
                 std::to_string(*limit) + ")",
             "deployment_profile_id");
    }
  });
  json::object snapshot = profile;
  auto profile_id = snapshot.at("uuid");
  snapshot.erase("uuid");
  json::object sigs;
  for (const auto& [k, v] : signatures) sigs[k] = v;
  a.pins = {{"project_config_id", config_id},
            {"project_config_version", config_version},
            {"project_spec_sha256", spec_sha},
            {"deployment_profile_id", profile_id},
            {"deployment_profile_snapshot", std::move(snapshot)},
            {"discovery_signature", domain::aggregate_discovery_signature(signatures)},
            {"source_signatures", std::move(sigs)},
            {"output_verification_required",
             config->output_verification.has_value() && config->output_verification->required},
            {"output_verification_policy",
             config->output_verification
                 ? json::value(json::object{
                       {"required", config->output_verification->required},
                       {"inventory_schema", config->output_verification->inventory_schema}})
                 : json::value(nullptr)}};
  return a;
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
  auto key = idempotency_key(req);
  auto sha = request_sha256(body);
  std::string user = "anonymous";  // the authenticated user id once #7 lands; keys are per user
  std::string id =
      key ? util::uuid_v5(kIdempotencyNamespace, user + "\x1f" + *key) : util::uuid_v7();
  if (key) {
    // A replay answers from the stored execution without re-running admission, whose
    // answers (readiness, concurrency) may have changed since.
    if (auto existing = query_row(ctx,
                                  "SELECT json_build_object('sha', create_request_sha256) FROM "
                                  "batch_execution_record WHERE uuid = $1::uuid",
                                  id)) {
      if (util::get_string_or(*existing, "sha", "") != sha)
        fail(409, "idempotency_conflict",
             "Idempotency-Key was already used for a different execution request",
             "Idempotency-Key");
      return json_response(200, execution_or_404(ctx, id));
    }
  }
  auto adm = admit(ctx, body, false);
  json::object cmd = body;
  for (auto& kv : adm.pins) cmd[kv.key()] = kv.value();
  cmd.erase("deployment_profile_name");
  cmd["request_sha256"] = sha;
  if (key) cmd["idempotency_key"] = *key;
  auto r = run_command(ctx, req, domain::execution_stream_id(id), "create", std::move(cmd));
  wait_for_position(ctx, r.position, ctx.max_wait);
  return with_position(json_response(r.events_appended ? 201 : 200, execution_or_404(ctx, id)),
                       r.position);
}

response prepare_execution(app_context& ctx, request& req) {
  auto body = parse_body(req);
  auto adm = admit(ctx, body, true);
  json::array preview;
  for (auto& p : adm.preview) preview.push_back(std::move(p));
  auto valid = adm.errors.empty();
  return json_response(200,
                       json::object{{"project_module", trimmed(str_field(body, "project_module"))},
                                    {"valid", valid},
                                    {"errors", std::move(adm.errors)},
                                    {"total_datasets", adm.total_datasets},
                                    {"sources_preview", std::move(preview)}});
}

response get_execution(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  return json_response(200, execution_or_404(ctx, uuid_param(req, "id")));
}

response list_executions(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  auto page = int_param(req, "page", 1, 1, 1'000'000);
  auto per = int_param(req, "items_per_page", 50, 1, 500);
  auto q = [&](const char* k) { return req.query.count(k) ? req.query.at(k) : std::string(); };
  auto mod = q("project_module"), status = q("status"), scheduler = q("scheduler_name");
  if (!status.empty() && !domain::parse_execution_status(status))
    fail(400, "invalid_query", "unknown status '" + status + "'", "status");
  const std::string where =
      " WHERE ($1 = '' OR project_module = $1) AND ($2 = '' OR status = $2) AND ($3 = '' OR "
      "scheduler_name = $3)";
  int64_t total = 0;
  auto items =
      query_rows(ctx,
                 std::string(kExecutionRead) + where +
                     " ORDER BY created_at DESC, uuid DESC LIMIT $4::bigint OFFSET $5::bigint",
                 {mod, status, scheduler, std::to_string(per), std::to_string((page - 1) * per)});
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    total = tx.exec_params("SELECT count(*) FROM batch_execution_record" + where, mod, status,
                           scheduler)[0][0]
                .as<int64_t>();
  });
  return json_response(
      200,
      json::object{
          {"items", std::move(items)}, {"total", total}, {"page", page}, {"items_per_page", per}});
}

// [HEAD]: the only operator patch is a cancel; it is recorded as cancelled once the backend
// confirms (202 until then).
response patch_execution(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  for (const auto& kv : body)
    if (kv.key() != "status" && kv.key() != "reason")
      fail(400, "unknown_field", "unknown field '" + std::string(kv.key()) + "'",
           std::string(kv.key()));
  auto st = body.find("status");
  if (st == body.end() || !st->value().is_string() || st->value().as_string() != "cancelled")
    fail(400, "invalid_field", "status must be \"cancelled\"", "status");
  auto r = run_command(ctx, req, domain::execution_stream_id(id), "cancel", std::move(body));
  wait_for_position(ctx, r.position, ctx.max_wait);
  auto row = execution_or_404(ctx, id);
  int status = row.at("status").as_string() == "cancelled" ? 200 : 202;
  return with_position(json_response(status, row), r.position);
}

response execute_execution(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = req.body.empty() ? json::object{} : parse_body(req);
  for (const auto& kv : body)
    if (kv.key() != "do_stage" && kv.key() != "do_submit")
      fail(400, "unknown_field", "unknown field '" + std::string(kv.key()) + "'",
           std::string(kv.key()));
  auto r =
      run_command(ctx, req, domain::execution_stream_id(id), "request_execute", std::move(body));
  wait_for_position(ctx, r.position, ctx.max_wait);
  auto row = execution_or_404(ctx, id);
  const auto& x = row.at("execute_request").as_object();
  return with_position(json_response(202, json::object{{"status", "accepted"},
                                                       {"execution_id", id},
                                                       {"job_id", x.at("job_id")},
                                                       {"do_stage", x.at("do_stage")},
                                                       {"do_submit", x.at("do_submit")}}),
                       r.position);
}

response retry_execution(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  for (const auto& kv : body)
    if (kv.key() != "reason")
      fail(400, "unknown_field", "unknown field '" + std::string(kv.key()) + "'",
           std::string(kv.key()));
  auto r = run_command(ctx, req, domain::execution_stream_id(id), "retry", std::move(body));
  wait_for_position(ctx, r.position, ctx.max_wait);
  auto row = execution_or_404(ctx, id);
  const auto& x = row.at("execute_request").as_object();
  return with_position(json_response(202, json::object{{"status", row.at("status")},
                                                       {"execution_id", id},
                                                       {"job_id", x.at("job_id")},
                                                       {"retry_count", row.at("retry_count")},
                                                       {"stage", row.at("retry_stage")},
                                                       {"do_stage", x.at("do_stage")},
                                                       {"do_submit", x.at("do_submit")}}),
                       r.position);
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
  honour_min_position(ctx, req);
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
  for (auto& v :
       query_rows(ctx,
                  "SELECT to_json(extract(epoch FROM coalesce(completed_at, now()) - started_at)) "
                  "FROM batch_execution_record WHERE uuid = $1::uuid AND started_at IS NOT NULL",
                  {id}))
    duration = v;
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
  honour_min_position(ctx, req);
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
  honour_min_position(ctx, req);
  auto id = uuid_param(req, "id");
  auto row = execution_or_404(ctx, id);
  auto recent = query_rows(
      ctx,
      "SELECT x FROM (" + std::string(kProvenanceRow) +
          " AS x, occurred_at, position FROM provenance_events WHERE execution_id = $1::uuid "
          "ORDER BY occurred_at DESC, position DESC LIMIT 5) t ORDER BY occurred_at, position",
      {id});
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
  honour_min_position(ctx, req);
  auto id = uuid_param(req, "id");
  execution_or_404(ctx, id);
  auto limit = int_param(req, "limit", 100, 1, 500);
  return json_response(200, query_rows(ctx,
                                       std::string(kProvenanceRow) +
                                           " FROM provenance_events WHERE execution_id = $1::uuid "
                                           "ORDER BY occurred_at, position LIMIT $2::bigint",
                                       {id, std::to_string(limit)}));
}

response execution_observations(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  auto id = uuid_param(req, "id");
  execution_or_404(ctx, id);
  return json_response(200,
                       query_rows(ctx,
                                  "SELECT to_jsonb(o) - 'position' FROM execution_observations o "
                                  "WHERE execution_id = $1::uuid ORDER BY observed_at, position",
                                  {id}));
}

response execution_artifacts(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  auto id = uuid_param(req, "id");
  execution_or_404(ctx, id);
  return json_response(
      200,
      query_rows(ctx,
                 "SELECT to_jsonb(a) || jsonb_build_object('content_url', '/api/v2/executions/' "
                 "|| execution_id || '/artifacts/' || kind) FROM execution_artifacts a "
                 "WHERE execution_id = $1::uuid ORDER BY created_at, kind",
                 {id}));
}

// The newest artifact of a kind, byte for byte as stored (its SHA-256 in a header).
response execution_artifact_content(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto kind = req.path_params.at("kind");
  auto rows = query_rows(
      ctx,
      "SELECT to_json(sha256) FROM execution_artifacts WHERE execution_id = $1::uuid AND kind = $2 "
      "ORDER BY created_at DESC LIMIT 1",
      {id, kind});
  if (rows.empty()) fail(404, "not_found", "execution has no " + kind + " artifact", "kind");
  auto sha = std::string(rows.front().as_string());
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
  auto r =
      run_command(ctx, req, domain::execution_stream_id(id), "verify_outputs",
                  {{"inventory", body}, {"artifact_sha256", sha}, {"artifact_size", text.size()}});
  wait_for_position(ctx, r.position, ctx.max_wait);
  auto row = execution_or_404(ctx, id);
  auto arts =
      query_rows(ctx,
                 "SELECT to_jsonb(a) FROM execution_artifacts a WHERE execution_id = $1::uuid "
                 "AND kind = 'output_inventory' AND sha256 = $2",
                 {id, sha});
  return with_position(
      json_response(200,
                    json::object{{"execution", std::move(row)},
                                 {"artifact", arts.empty() ? json::value(nullptr) : arts.front()}}),
      r.position);
}

// §12.3 (superuser): gives up on an unresolved submission once every safety condition holds;
// the aggregate checks them against the lookups it has recorded and this server's clock.
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
                         [&] { return execution_or_404(ctx, id); });
}

}  // namespace

void add_execution_routes(router& r, app_context& ctx) {
  auto bind = [&ctx](response (*fn)(app_context&, request&)) {
    return [&ctx, fn](request& q) { return fn(ctx, q); };
  };
  const std::string v2 = "/api/v2";
  r.add("POST", v2 + "/executions", auth_level::user, bind(post_execution));
  r.add("POST", v2 + "/executions/prepare", auth_level::user, bind(prepare_execution));
  r.add("GET", v2 + "/executions", auth_level::user, bind(list_executions));
  r.add("GET", v2 + "/executions/{id}", auth_level::user, bind(get_execution));
  r.add("PATCH", v2 + "/executions/{id}", auth_level::user, bind(patch_execution));
  r.add("POST", v2 + "/executions/{id}/execute", auth_level::user, bind(execute_execution));
  r.add("POST", v2 + "/executions/{id}/retry", auth_level::user, bind(retry_execution));
  r.add("GET", v2 + "/executions/{id}/status", auth_level::user, bind(execution_status));
  r.add("GET", v2 + "/executions/{id}/summary", auth_level::user, bind(execution_summary));
  r.add("GET", v2 + "/executions/{id}/ledger-snapshot", auth_level::user, bind(ledger_snapshot));
  r.add("GET", v2 + "/executions/{id}/events", auth_level::user, bind(execution_events));
  r.add("GET", v2 + "/executions/{id}/observations", auth_level::user,
        bind(execution_observations));
  r.add("GET", v2 + "/executions/{id}/artifacts", auth_level::user, bind(execution_artifacts));
  r.add("GET", v2 + "/executions/{id}/artifacts/{kind}", auth_level::user,
        bind(execution_artifact_content));
  r.add("POST", v2 + "/executions/{id}/submission/abandon", auth_level::superuser,
        bind(abandon_submission));
  r.add("POST", v2 + "/executions/{id}/outputs/verify", auth_level::superuser,
        bind(verify_outputs));
}

}  // namespace beampipe::api

// Project configs (§1.3, §10) and deployment profiles (§1.4): uploads and edits go to their
// aggregates; reads come from the project_configs and daliuge_deployment_profile read models.
#include <regex>

#include "api/handler_support.hpp"
#include "domain/aggregates.hpp"
#include "domain/project_config.hpp"
#include "util/ids.hpp"

namespace beampipe::api {
namespace json = boost::json;

namespace {

const char* kConfigRow =
    "SELECT json_build_object('uuid', uuid, 'project_id', project_id, 'version', version, 'spec', "
    "spec, "
    "'spec_sha256', spec_sha256, 'active', active, 'uploaded_at', uploaded_at, 'warnings', "
    "warnings)";

const char* kProfileRow =
    "SELECT json_build_object('uuid', uuid, 'name', name, 'description', description, "
    "'project_module', "
    "project_module, 'is_default', is_default, 'translation', translation, 'deployment', "
    "deployment, "
    "'max_concurrent_executions', max_concurrent_executions, 'revision', revision, 'spec_sha256', "
    "spec_sha256, "
    "'created_at', created_at, 'updated_at', updated_at)";

json::array diagnostics(const std::vector<domain::Diagnostic>& ds) {
  json::array a;
  for (const auto& d : ds) a.push_back(domain::to_json(d));
  return a;
}

// The module name is a path segment, a stream key and a column value everywhere.
bool valid_project_id(const std::string& id) {
  static const std::regex re("^[A-Za-z0-9._-]{1,50}$");
  return std::regex_match(id, re);
}

json::object active_config_or_404(app_context& ctx, const std::string& project_id) {
  auto row = query_row(
      ctx, std::string(kConfigRow) + " FROM project_configs WHERE project_id = $1 AND active",
      project_id);
  if (!row) fail(404, "not_found", "no active config for project '" + project_id + "'", "id");
  return *row;
}

json::value contract_of(const json::object& row) {
  auto report = domain::validate_project_config_text(json::serialize(row.at("spec")));
  auto out = report.to_json().as_object();
  out["version"] = row.at("version");
  return out;
}

response post_config(app_context& ctx, request& req) {
  auto ct = req.header("content-type");
  auto media = ct.substr(0, ct.find(';'));
  for (auto& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::vector<std::string> accepted = {
      "",          "application/json", "application/yaml", "application/x-yaml",
      "text/yaml", "text/x-yaml",      "text/plain"};
  if (std::find(accepted.begin(), accepted.end(), media) == accepted.end())
    fail(415, "unsupported_media_type", "project configs are YAML or JSON", "Content-Type");
  auto report = domain::validate_project_config_text(req.body);
  if (!report.valid) {
    auto first = report.errors.empty() ? std::string("body") : report.errors.front().path;
    throw api_error{422, "invalid_config", "project config is invalid", first,
                    diagnostics(report.errors)};
  }
  if (!valid_project_id(report.project_id))
    fail(422, "invalid_config",
         "metadata.id must be 1-50 characters of letters, digits, '.', '_' or '-'", "metadata.id");
  auto r = run_command(ctx, req, domain::project_stream_id(report.project_id), "upload",
                       {{"text", req.body}});
  wait_for_position(ctx, r.position, ctx.max_wait);
  auto row = active_config_or_404(ctx, report.project_id);
  auto out = report.to_json().as_object();
  if (!row.at("warnings").as_array().empty()) out["warnings"] = row.at("warnings");
  out["uuid"] = row.at("uuid");
  out["version"] = row.at("version");
  out["created"] = r.events_appended > 0;  // an identical re-upload makes no new revision
  return with_position(json_response(r.events_appended > 0 ? 201 : 200, out), r.position);
}

response get_config(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  return json_response(200, active_config_or_404(ctx, req.path_params.at("id")));
}

response config_versions(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  auto rows = query_rows(
      ctx,
      std::string(kConfigRow) + " FROM project_configs WHERE project_id = $1 ORDER BY version DESC",
      {req.path_params.at("id")});
  if (rows.empty())
    fail(404, "not_found", "no configs for project '" + req.path_params.at("id") + "'", "id");
  return json_response(200, rows);
}

response list_projects(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  return json_response(
      200,
      query_rows(ctx,
                 "SELECT json_build_object('project_id', project_id, 'version', version, 'active', "
                 "active, 'spec_sha256', spec_sha256) FROM project_configs WHERE active "
                 "ORDER BY project_id",
                 {}));
}

response list_contracts(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  json::array out;
  for (auto& row : query_rows(
           ctx, std::string(kConfigRow) + " FROM project_configs WHERE active ORDER BY project_id",
           {}))
    out.push_back(contract_of(row.as_object()));
  return json_response(200, out);
}

response get_contract(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  return json_response(200, contract_of(active_config_or_404(ctx, req.path_params.at("id"))));
}

response project_events(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  auto limit = int_param(req, "limit", 50, 1, 500);
  auto offset = int_param(req, "offset", 0, 0, INT64_MAX);
  return json_response(
      200,
      query_rows(
          ctx,
          "SELECT json_build_object('id', id, 'occurred_at', occurred_at, 'event_type', "
          "event_type, "
          "'project_module', project_module, 'source_identifier', source_identifier, "
          "'execution_id', "
          "execution_id, 'actor', actor, 'correlation_id', correlation_id, 'payload', payload) "
          "FROM provenance_events WHERE project_module = $1 ORDER BY occurred_at DESC, position "
          "DESC "
          "LIMIT $2::bigint OFFSET $3::bigint",
          {req.path_params.at("module"), std::to_string(limit), std::to_string(offset)}));
}

json::object profile_or_404(app_context& ctx, const std::string& id) {
  auto row = query_row(
      ctx, std::string(kProfileRow) + " FROM daliuge_deployment_profile WHERE uuid = $1::uuid", id);
  if (!row) fail(404, "not_found", "deployment profile not found", "id");
  return *row;
}

response list_profiles(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  auto it = req.query.find("project_module");
  auto module = it == req.query.end() ? std::string() : it->second;
  // A project's view includes the global profiles it may fall back to.
  return json_response(
      200,
      query_rows(ctx,
                 std::string(kProfileRow) +
                     " FROM daliuge_deployment_profile WHERE $1 = '' OR project_module = $1 OR "
                     "project_module IS NULL ORDER BY created_at DESC, uuid",
                 {module}));
}

response post_profile(app_context& ctx, request& req) {
  auto body = parse_body(req);
  auto id = util::uuid_v7();
  return write_then_read(ctx, req, domain::kProfileRegistryStream, "create",
                         {{"uuid", id}, {"profile", body}}, 201,
                         [&] { return profile_or_404(ctx, id); });
}

response get_profile(app_context& ctx, request& req) {
  honour_min_position(ctx, req);
  return json_response(200, profile_or_404(ctx, uuid_param(req, "id")));
}

response patch_profile(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  return write_then_read(ctx, req, domain::kProfileRegistryStream, "update",
                         {{"uuid", id}, {"patch", body}}, 200,
                         [&] { return profile_or_404(ctx, id); });
}

response make_default(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  return write_then_read(ctx, req, domain::kProfileRegistryStream, "make_default", {{"uuid", id}},
                         200, [&] { return profile_or_404(ctx, id); });
}

response delete_profile(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto r = run_command(ctx, req, domain::kProfileRegistryStream, "delete", {{"uuid", id}});
  wait_for_position(ctx, r.position, ctx.max_wait);
  response res;
  res.status = 204;
  return with_position(res, r.position);
}

}  // namespace

void add_config_routes(router& r, app_context& ctx) {
  auto bind = [&ctx](response (*fn)(app_context&, request&)) { return bound(ctx, fn); };
  const auto& v2 = kApiV2;
  r.add("POST", v2 + "/project-configs", auth_level::superuser, bind(post_config));
  r.add("GET", v2 + "/project-configs/{id}", auth_level::user, bind(get_config));
  r.add("GET", v2 + "/project-configs/{id}/versions", auth_level::user, bind(config_versions));
  r.add("GET", v2 + "/projects", auth_level::user, bind(list_projects));
  r.add("GET", v2 + "/projects/contracts", auth_level::user, bind(list_contracts));
  r.add("GET", v2 + "/projects/contracts/{id}", auth_level::user, bind(get_contract));
  r.add("GET", v2 + "/projects/{module}/events", auth_level::user, bind(project_events));
  r.add("GET", v2 + "/deployment-profiles", auth_level::user, bind(list_profiles));
  r.add("POST", v2 + "/deployment-profiles", auth_level::superuser, bind(post_profile));
  r.add("GET", v2 + "/deployment-profiles/{id}", auth_level::user, bind(get_profile));
  r.add("PATCH", v2 + "/deployment-profiles/{id}", auth_level::superuser, bind(patch_profile));
  r.add("DELETE", v2 + "/deployment-profiles/{id}", auth_level::superuser, bind(delete_profile));
  r.add("POST", v2 + "/deployment-profiles/{id}/default", auth_level::superuser,
        bind(make_default));
}

}  // namespace beampipe::api

// Project configs (§1.3, §10) and deployment profiles (§1.4): uploads and edits go to their
// aggregates; reads come from the project_configs and daliuge_deployment_profile read models.
#include <regex>

#include "api/api_schemas.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "domain/config_record.hpp"
#include "domain/project_config.hpp"
#include "events/catalog.hpp"
#include "projections/deployment_profiles/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/provenance/queries.hpp"
#include "projections/read_model_names.hpp"
#include "util/ids.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace configs = projections::project_configs;
namespace profiles = projections::deployment_profiles;

namespace {

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
  auto row = read_model(ctx, [&](auto& tx) { return configs::active(tx, project_id); });
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
  auto answer = [&ctx, out = report.to_json().as_object(),
                 project_id = report.project_id](const actors::command_reply& r) mutable {
    auto row = active_config_or_404(ctx, project_id);
    if (!row.at("warnings").as_array().empty()) out["warnings"] = row.at("warnings");
    out["uuid"] = row.at("uuid");
    out["version"] = row.at("version");
    bool created = r.events_appended > 0;  // an identical re-upload makes no new revision
    out["created"] = created;
    return with_position(json_response(created ? 201 : 200, out), r.position);
  };
  return after_recorded(ctx, req, domain::project_stream_id(report.project_id), "upload",
                        {{"text", req.body}}, answer);
}

// GET /project-configs/{id}?as_of_position=N | ?as_of=TIME: the revision that was active then,
// replayed from the project's stream through domain::config_record (the projection's fold) and
// shaped by the read model's SQL; 404 when none was active yet.
response config_as_of(app_context& ctx, const as_of_point& point, const std::string& project_id) {
  std::map<std::string, domain::config_record::revision> revisions;
  int64_t last = 0;
  for (const auto& e : replayable_stream(ctx, domain::project_stream_id(project_id),
                                         "project '" + project_id + "'", "id")) {
    if (!point.includes(e)) break;
    if (!domain::config_record::handles(e.type)) continue;
    domain::config_record::evolve(revisions, e.type, events::decode(e), e.recorded_at);
    last = e.position;
  }
  const auto* active = domain::config_record::active(revisions);
  if (!active)
    fail(404, "not_found", "no config of project '" + project_id + "' was active then", "id");
  json::object shaped;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    shaped = configs::read_shape(tx, domain::config_record::columns(*active));
  });
  return with_position(json_response(200, std::move(shaped)), last);
}

response get_config(app_context& ctx, request& req) {
  const auto& project_id = req.path_params.at("id");
  if (auto point = as_of_param(req)) {
    if (!valid_project_id(project_id))
      fail(404, "not_found", "no config for project '" + project_id + "'", "id");
    return config_as_of(ctx, *point, project_id);
  }
  honour_min_position(ctx, req, {projections::model::project_configs});
  return json_response(200, active_config_or_404(ctx, project_id));
}

response config_versions(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::project_configs});
  auto want = page_params(req, 100, 500);
  const auto& project = req.path_params.at("id");
  auto page = read_model(
      ctx, [&](auto& tx) { return configs::versions(tx, project, want.limit, want.offset); });
  if (page.total == 0)
    fail(404, "not_found", "no configs for project '" + req.path_params.at("id") + "'", "id");
  return page_response(std::move(page));
}

response list_projects(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::project_configs});
  auto page = page_params(req, 100, 500);
  return page_response(read_model(
      ctx, [&](auto& tx) { return configs::list_projects(tx, page.limit, page.offset); }));
}

response list_contracts(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::project_configs});
  auto want = page_params(req, 100, 500);
  auto page =
      read_model(ctx, [&](auto& tx) { return configs::list_active(tx, want.limit, want.offset); });
  for (auto& row : page.rows) row = contract_of(row.as_object());
  return page_response(std::move(page));
}

response get_contract(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::project_configs});
  return json_response(200, contract_of(active_config_or_404(ctx, req.path_params.at("id"))));
}

response project_events(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::provenance});
  auto page = page_params(req, 50, 500);
  const auto& module = req.path_params.at("module");
  return page_response(read_model(ctx, [&](auto& tx) {
    return projections::provenance::for_project(tx, module, page.limit, page.offset);
  }));
}

json::object profile_or_404(app_context& ctx, const std::string& id) {
  auto row = read_model(ctx, [&](auto& tx) { return profiles::find(tx, id); });
  if (!row) fail(404, "not_found", "deployment profile not found", "id");
  return *row;
}

response list_profiles(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::deployment_profiles});
  auto it = req.query.find("project_module");
  auto module = it == req.query.end() ? std::string() : it->second;
  // A project's view includes the global profiles it may fall back to.
  auto page = page_params(req, 100, 500);
  return page_response(read_model(
      ctx, [&](auto& tx) { return profiles::list(tx, module, page.limit, page.offset); }));
}

response post_profile(app_context& ctx, request& req) {
  auto body = parse_body(req);
  auto id = util::uuid_v7();
  return write_then_read(ctx, req, domain::kProfileRegistryStream, "create",
                         {{"uuid", id}, {"profile", body}}, 201,
                         [&ctx, id] { return profile_or_404(ctx, id); });
}

response get_profile(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::deployment_profiles});
  return json_response(200, profile_or_404(ctx, uuid_param(req, "id")));
}

response patch_profile(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  return write_then_read(ctx, req, domain::kProfileRegistryStream, "update",
                         {{"uuid", id}, {"patch", body}}, 200,
                         [&ctx, id] { return profile_or_404(ctx, id); });
}

response make_default(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  return write_then_read(ctx, req, domain::kProfileRegistryStream, "make_default", {{"uuid", id}},
                         200, [&ctx, id] { return profile_or_404(ctx, id); });
}

response delete_profile(app_context& ctx, request& req) {
  return delete_and_wait(ctx, req, domain::kProfileRegistryStream,
                         {{"uuid", uuid_param(req, "id")}});
}

}  // namespace

void add_config_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  const auto project_id = text_path("id", "Project id (the config's metadata.id)");
  const auto profile_id = uuid_path("id", "Deployment profile UUID");
  r.add("POST", v2 + "/project-configs", auth_level::superuser, bind(post_config), [] {
    auto d = operation("upload_project_config", "Upload project config", "project-configs",
                       "YAML or JSON text. 201 with a new active revision; 200 when identical "
                       "to the active one (nothing recorded).")
                 .returns("ConfigUploadReport", 201)
                 .write()
                 .fails({422})
                 .limited();
    d.body = body_kind::config_text;
    d.also = {200};
    return d;
  }());
  r.add("GET", v2 + "/project-configs/{id}", auth_level::user, bind(get_config),
        operation("get_project_config", "Active project config", "project-configs",
                  "With as_of_position or as_of: the revision that was active then, replayed "
                  "from the project's own events.")
            .with_path(project_id)
            .with_query(int_query("as_of_position",
                                  "The revision active after the project's last event at or "
                                  "before this position",
                                  1, std::nullopt, 0))
            .with_query(text_query("as_of", "The revision active at this RFC 3339 time"))
            .returns("ProjectConfigRow")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/project-configs/{id}/versions", auth_level::user, bind(config_versions),
        operation("list_project_config_versions", "Project config revisions", "project-configs",
                  "Newest version first.")
            .with_path(project_id)
            .returns_list("ProjectConfigRow")
            .paged(100, 500)
            .read()
            .fails({404}));
  r.add("GET", v2 + "/projects", auth_level::user, bind(list_projects),
        operation("list_projects", "List projects", "project-configs",
                  "The active config revision of each project.")
            .returns_list("ProjectSummary")
            .paged(100, 500)
            .read());
  r.add("GET", v2 + "/projects/contracts", auth_level::user, bind(list_contracts),
        operation("list_project_contracts", "Validation reports of the active configs",
                  "project-configs")
            .returns_list("ProjectContract")
            .paged(100, 500)
            .read());
  r.add("GET", v2 + "/projects/contracts/{id}", auth_level::user, bind(get_contract),
        operation("get_project_contract", "Validation report of a project's active config",
                  "project-configs")
            .with_path(project_id)
            .returns("ProjectContract")
            .read()
            .fails({404}));
  r.add("GET", v2 + "/projects/{module}/events", auth_level::user, bind(project_events),
        operation("list_project_events", "Provenance of a project", "provenance", "Newest first.")
            .with_path(text_path("module", "Project module"))
            .returns_list("ProvenanceEventRow")
            .paged(50, 500)
            .read());
  r.add("GET", v2 + "/deployment-profiles", auth_level::user, bind(list_profiles),
        operation("list_deployment_profiles", "List deployment profiles", "deployment-profiles",
                  "Newest first; with project_module, that project's and the global ones.")
            .returns_list("DeploymentProfileRow")
            .with_query(text_query("project_module", "A project's profiles and the global ones"))
            .paged(100, 500)
            .read());
  r.add("POST", v2 + "/deployment-profiles", auth_level::superuser, bind(post_profile),
        operation("create_deployment_profile", "Create deployment profile", "deployment-profiles")
            .json_body("DeploymentProfile")
            .returns("DeploymentProfileRow", 201)
            .write()
            .fails({409, 422}));
  r.add("GET", v2 + "/deployment-profiles/{id}", auth_level::user, bind(get_profile),
        operation("get_deployment_profile", "Get deployment profile", "deployment-profiles")
            .with_path(profile_id)
            .returns("DeploymentProfileRow")
            .read()
            .fails({404}));
  r.add("PATCH", v2 + "/deployment-profiles/{id}", auth_level::superuser, bind(patch_profile),
        operation("update_deployment_profile", "Update deployment profile", "deployment-profiles",
                  "A JSON merge patch; the resulting profile is validated in full.")
            .with_path(profile_id)
            .json_body("DeploymentProfilePatch")
            .returns("DeploymentProfileRow")
            .write()
            .fails({404, 409, 422}));
  r.add("DELETE", v2 + "/deployment-profiles/{id}", auth_level::superuser, bind(delete_profile),
        operation("delete_deployment_profile", "Delete deployment profile", "deployment-profiles")
            .with_path(profile_id)
            .no_content()
            .write()
            .fails({404, 409}));
  r.add("POST", v2 + "/deployment-profiles/{id}/default", auth_level::superuser, bind(make_default),
        operation("make_default_deployment_profile", "Make the default profile",
                  "deployment-profiles",
                  "Demotes the current default of the profile's scope in the same write.")
            .with_path(profile_id)
            .returns("DeploymentProfileRow")
            .write()
            .fails({404}));
}

}  // namespace beampipe::api

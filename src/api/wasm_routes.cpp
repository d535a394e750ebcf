// WASM hook modules (§9.3): POST /project-configs/{id}/wasm stores a validated module for the
// project {id}; GET /project-configs/{id}/wasm/{sha256} answers its metadata, or the bytes with
// ?download=true. The bytes are a content-addressed artifact; the ProjectWasmUploaded event
// names them by digest. A module that imports anything, or whose initial memory exceeds the cap,
// is refused: hooks run without imports (adapters/wasm_hooks.hpp).
#include "adapters/wasm_validator.hpp"
#include "api/handler_support.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "projections/project_configs/queries.hpp"
#include "store/artifact_store.hpp"
#include "store/db.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace configs = projections::project_configs;
namespace {

response upload_wasm(app_context& ctx, request& req) {
  const auto& project = req.path_params.at("id");
  if (!read_model(ctx, [&](auto& tx) { return configs::active_config(tx, project); }))
    fail(404, "no_active_config", "no active config for project '" + project + "'", "id");
  if (req.body.empty())
    fail(400, "invalid_body", "the request body must be a WebAssembly module", "body");
  std::optional<std::string> invalid;
  try {
    invalid = adapters::wasm_module_error(req.body);
  } catch (const std::runtime_error& e) {
    fail(503, "validator_unavailable", e.what());
  }
  if (invalid) fail(400, "invalid_wasm", "invalid WebAssembly module: " + *invalid, "body");
  // Hooks run with no imports and under the memory cap: a module that needs either could
  // never run, so it is refused now rather than at its first execution.
  if (ctx.wasm)
    if (auto refused = ctx.wasm->check_module(req.body, {}, false))
      fail(400, "invalid_wasm", "WebAssembly module refused: " + *refused, "body");
  // Bytes first, event second: an event never names bytes that are not stored.
  auto sha = store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    return store::put_artifact(c, "application/wasm", req.body);
  });
  return after_recorded(
      ctx, req, domain::project_stream_id(project), "attach_wasm",
      {{"wasm_sha256", sha}, {"size_bytes", static_cast<int64_t>(req.body.size())}},
      [&ctx, project = std::string(project), sha](const actors::command_reply& r) -> response {
        auto row = read_model(ctx, [&](auto& tx) { return configs::wasm(tx, project, sha); });
        if (!row) fail(500, "internal", "the uploaded module is not in the read model");
        return with_position(json_response(201, *row), r.position);
      });
}

response get_wasm(app_context& ctx, request& req) {
  const auto& project = req.path_params.at("id");
  const auto& sha = req.path_params.at("sha256");
  auto row = read_model(ctx, [&](auto& tx) { return configs::wasm(tx, project, sha); });
  if (!row)
    fail(404, "not_found", "no WebAssembly module " + sha + " for '" + project + "'", "sha256");
  if (!bool_param(req, "download").value_or(false)) return json_response(200, *row);
  auto blob = store::with_connection(
      ctx.pool, [&](pqxx::connection& c) { return store::get_artifact(c, sha); });
  if (!blob) fail(404, "not_found", "the module's bytes are missing", "sha256");
  response res;
  res.content_type = "application/wasm";
  res.body = std::move(blob->content);
  res.headers.emplace_back("X-Content-SHA256", sha);
  return res;
}

}  // namespace

void add_wasm_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  param_doc project{"id", "string", "Project id (the config's metadata.id)", "", {}, {}, {},
                    {},   true};
  param_doc digest{"sha256", "string", "The module's SHA-256 (hex)", "", {}, {}, {}, {}, true};
  param_doc download{"download", "boolean", "true: answer the module's bytes (application/wasm)",
                     "",         {},        {},
                     {},         {},        false};
  auto upload = operation("upload_project_config_wasm", "Upload a WASM hook module", "projects",
                          "Raw module bytes; validated with WABT before they are stored. An "
                          "upload of stored bytes is an upsert. Superuser only.")
                    .returns("WasmModule", 201)
                    .with_path(project)
                    .write()
                    .limited()
                    .fails({404, 503});
  upload.body = body_kind::binary;
  r.add("POST", v2 + "/project-configs/{id}/wasm", auth_level::superuser, bind(upload_wasm),
        upload);
  auto get = operation("get_project_config_wasm", "A WASM module's metadata or bytes", "projects")
                 .returns("WasmModule")
                 .with_path(project)
                 .with_path(digest)
                 .with_query(download)
                 .fails({404});
  r.add("GET", v2 + "/project-configs/{id}/wasm/{sha256}", auth_level::user, bind(get_wasm), get);
}

}  // namespace beampipe::api

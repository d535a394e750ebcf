#include "api/openapi.hpp"

#include <cstdint>
#include <set>

#include "api/api_schemas.hpp"
#include "api/route_table.hpp"

// The Redoc bundle, embedded by the generated assembler source (see CMakeLists.txt).
extern "C" const char beampipe_redoc_js_start[];
extern "C" const std::uint64_t beampipe_redoc_js_size;
extern "C" const char beampipe_redoc_license_start[];
extern "C" const std::uint64_t beampipe_redoc_license_size;

namespace beampipe::api {
namespace json = boost::json;

namespace {

const char* auth_name(auth_level a) {
  switch (a) {
    case auth_level::open:
      return "open";
    case auth_level::user:
      return "user";
    case auth_level::superuser:
      return "superuser";
  }
  return "user";
}

json::object schema_ref(const std::string& name) {
  std::string target = "#/components/schemas/";
  target.append(name);
  return {{"$ref", target}};
}

json::object header_ref(const char* name) {
  std::string target = "#/components/headers/";
  target.append(name);
  return {{"$ref", target}};
}

const char* error_description(int status) {
  switch (status) {
    case 400:
      return "Invalid request: a malformed body, parameter or field (`field` names it)";
    case 401:
      return "Missing, invalid, expired or revoked bearer token";
    case 403:
      return "Authenticated, but the route needs a superuser";
    case 404:
      return "Not found";
    case 409:
      return "Conflicts with the current state (`code` says how)";
    case 415:
      return "Unsupported Content-Type";
    case 422:
      return "Invalid document (`errors` lists the diagnostics with their paths)";
    case 429:
      return "Rate limit exceeded: retry after Retry-After seconds";
    case 502:
      return "A backend (DALiuGE, Slurm, archive) answered with an error";
    case 503:
      return "Read models not caught up within the wait, or the store is unavailable: retry";
  }
  return "Error";
}

json::object param_schema(const param_doc& p) {
  json::object s{{"type", p.type}};
  if (!p.format.empty()) s["format"] = p.format;
  if (p.type == "integer") s["format"] = "int64";
  if (p.minimum) s["minimum"] = *p.minimum;
  if (p.maximum) s["maximum"] = *p.maximum;
  if (p.fallback) s["default"] = *p.fallback;
  if (!p.one_of.empty()) {
    json::array e;
    for (const auto& v : p.one_of) e.emplace_back(v);
    s["enum"] = std::move(e);
  }
  return s;
}

json::object parameter(const param_doc& p, const char* in) {
  json::object o{{"name", p.name}, {"in", in}, {"schema", param_schema(p)}};
  if (!p.description.empty()) o["description"] = p.description;
  if (p.required || std::string_view(in) == "path") o["required"] = true;
  return o;
}

json::object success_content(const route_doc& d) {
  auto text = [](const char* media) {
    return json::object{{media, json::object{{"schema", json::object{{"type", "string"}}}}}};
  };
  switch (d.reply) {
    case reply_kind::json: {
      json::object schema = schema_ref(d.schema);
      if (d.array) schema = json::object{{"type", "array"}, {"items", std::move(schema)}};
      return {{"application/json", json::object{{"schema", std::move(schema)}}}};
    }
    case reply_kind::text:
      return text("text/plain");
    case reply_kind::html:
      return text("text/html");
    case reply_kind::javascript:
      return text("application/javascript");
    case reply_kind::event_stream:
      return text("text/event-stream");
    case reply_kind::binary:
      return {{"*/*",
               json::object{{"schema", json::object{{"type", "string"}, {"format", "binary"}}}}}};
    case reply_kind::empty:
      break;
  }
  return {};
}

json::object success_response(const route_doc& d, int status) {
  json::object r{{"description", status == 201   ? "Created"
                                 : status == 202 ? "Accepted"
                                 : status == 204 ? "No content"
                                 : status == 302 ? "Found: the Location header names the page"
                                                 : "Successful response"}};
  auto content = success_content(d);
  if (!content.empty()) r["content"] = std::move(content);
  // The headers are promised on the main success status (an idempotent replay, say, has no
  // position of its own).
  json::object headers;
  if (d.total_count && status == d.status) headers["X-Total-Count"] = header_ref("XTotalCount");
  if ((d.position || d.consistent) && status == d.status)
    headers["X-Beampipe-Position"] = header_ref("XBeampipePosition");
  if (!headers.empty()) r["headers"] = std::move(headers);
  return r;
}

json::object error_response_doc(int status) {
  json::object r{{"description", error_description(status)},
                 {"content", json::object{{"application/json",
                                           json::object{{"schema", schema_ref("ErrorDetail")}}}}}};
  if (status == 429 || status == 503)
    r["headers"] = json::object{{"Retry-After", header_ref("RetryAfter")}};
  return r;
}

std::vector<std::string> path_params(const route& r) {
  std::vector<std::string> out;
  for (const auto& s : r.segments)
    if (s.size() > 2 && s.front() == '{' && s.back() == '}')
      out.push_back(s.substr(1, s.size() - 2));
  return out;
}

std::string undocumented_id(const route& r) {
  std::string id = "undocumented_";
  for (char c : r.method)
    id.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (char c : r.pattern) id.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return id;
}

json::object operation_of(const route& r) {
  const auto& d = r.doc;
  json::object op;
  if (d.operation_id.empty()) {
    // Served but not described: visible here, refused by the contract tests.
    op["operationId"] = undocumented_id(r);
    op["summary"] = "Undocumented route";
    op["x-beampipe-undocumented"] = true;
  } else {
    op["operationId"] = d.operation_id;
    op["summary"] = d.summary;
    if (!d.description.empty()) op["description"] = d.description;
    if (!d.tag.empty()) op["tags"] = json::array{json::value(d.tag)};
  }

  std::set<int> errors(d.errors.begin(), d.errors.end());
  json::array params;
  for (const auto& name : path_params(r)) {
    param_doc p;
    p.name = name;
    for (const auto& described : d.path)
      if (described.name == name) p = described;
    if (p.format == "uuid") errors.insert(400);  // not a UUID
    params.push_back(parameter(p, "path"));
  }
  for (const auto& q : d.query) params.push_back(parameter(q, "query"));
  if (d.consistent) {
    param_doc pos;
    pos.name = "min_position";
    pos.type = "integer";
    pos.description = "Wait until the read models have applied this event position";
    pos.minimum = 0;
    param_doc wait;
    wait.name = "wait_ms";
    wait.type = "integer";
    wait.description = "How long to wait for min_position (server maximum: 30000 by default)";
    wait.minimum = 0;
    wait.fallback = 5000;
    params.push_back(parameter(pos, "query"));
    params.push_back(parameter(wait, "query"));
    errors.insert({400, 503});
  }
  if (!d.query.empty()) errors.insert(400);
  for (const auto& h : d.headers) params.push_back(parameter(h, "header"));
  if (!params.empty()) op["parameters"] = std::move(params);

  if (d.body != body_kind::none) {
    json::object content;
    if (d.body == body_kind::json || d.body == body_kind::json_or_form)
      content["application/json"] = json::object{{"schema", schema_ref(d.body_schema)}};
    if (d.body == body_kind::json && r.method == "PATCH")  // a JSON merge patch (RFC 7396)
      content["application/merge-patch+json"] = json::object{{"schema", schema_ref(d.body_schema)}};
    if (d.body == body_kind::json_or_form)
      content["application/x-www-form-urlencoded"] =
          json::object{{"schema", schema_ref(d.body_schema)}};
    if (d.body == body_kind::binary)
      for (const char* media : {"application/wasm", "application/octet-stream"})
        content[media] =
            json::object{{"schema", json::object{{"type", "string"}, {"format", "binary"}}}};
    if (d.body == body_kind::config_text) {
      // YAML or JSON text, validated as a project config (spec §10).
      for (const char* media : {"application/yaml", "application/x-yaml", "text/yaml",
                                "text/x-yaml", "application/json", "text/plain"})
        content[media] = json::object{{"schema", json::object{{"type", "string"}}}};
    }
    op["requestBody"] =
        json::object{{"required", d.body_required}, {"content", std::move(content)}};
    errors.insert({400, 415});
  }
  if (d.position) errors.insert(503);  // the write waits for the read models
  if (r.auth != auth_level::open) errors.insert(401);
  if (r.auth == auth_level::superuser) errors.insert(403);
  if (d.rate_limited) errors.insert(429);

  json::object responses;
  if (!d.operation_id.empty()) {
    responses[std::to_string(d.status)] = success_response(d, d.status);
    for (int s : d.also) responses[std::to_string(s)] = success_response(d, s);
  }
  for (int s : errors)
    if (!responses.contains(std::to_string(s)))
      responses[std::to_string(s)] = error_response_doc(s);
  responses["default"] = json::object{
      {"description", "Any other error (500 internal, 503 store unavailable), same shape"},
      {"content",
       json::object{{"application/json", json::object{{"schema", schema_ref("ErrorDetail")}}}}}};
  op["responses"] = std::move(responses);

  if (r.auth != auth_level::open)
    op["security"] = json::array{json::object{{"bearerAuth", json::array{}}}};
  op["x-beampipe-auth"] = auth_name(r.auth);
  op["x-beampipe-rate-limited"] = d.rate_limited;
  return op;
}

json::array tags() {
  static const std::pair<const char*, const char*> all[] = {
      {"health", "Liveness, readiness, metrics and archive TAP probes."},
      {"auth", "Sign-in: access and refresh tokens, logout, the current user."},
      {"sources", "Source registry: register sources, trigger discovery, read archive metadata."},
      {"executions",
       "Batch execution ledger: admission, execute, cancel, retry, status and artifacts."},
      {"project-configs", "Registered project modules and their versioned configuration."},
      {"deployment-profiles", "DALiuGE deployment profiles (translation and deployment)."},
      {"jobs", "The durable work view: discovery and execute jobs with their leases."},
      {"provenance", "Provenance, the raw event feed and the live event stream."},
      {"operator",
       "What operators run every day: the overview counts and doctor-style diagnostics."},
      {"slurm-credentials",
       "Installed Slurm SSH credential slots: names and which files are present, no key "
       "material."},
      {"docs", "This contract and its Redoc page."}};
  json::array out;
  for (const auto& [name, description] : all)
    out.push_back(json::object{{"name", name}, {"description", description}});
  return out;
}

}  // namespace

json::object openapi_document(const router& routes, const std::string& version) {
  json::object paths;
  for (const auto& r : routes.routes()) {
    std::string method = r.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& item = paths[r.pattern];
    if (!item.is_object()) item = json::object{};
    item.as_object()[method] = operation_of(r);
  }
  json::object headers{
      {"XTotalCount",
       json::object{{"description", "Rows matching the list's filters, over every page"},
                    {"schema", json::object{{"type", "integer"}, {"minimum", 0}}}}},
      {"XBeampipePosition",
       json::object{{"description",
                     "A write: the position of its event. A read: the position its read models had "
                     "applied. Pass it as ?min_position= to a later read to see at least that"},
                    {"schema", json::object{{"type", "integer"}, {"minimum", 0}}}}},
      {"RetryAfter", json::object{{"description", "Seconds to wait before retrying"},
                                  {"schema", json::object{{"type", "integer"}, {"minimum", 0}}}}}};
  return json::object{
      {"openapi", "3.0.3"},
      {"info",
       json::object{
           {"title", "Beampipe"},
           {"version", version},
           {"description",
            "The beampipe control plane API (/api/v2). Sign in with POST /api/v2/login and send "
            "`Authorization: Bearer <access_token>`. Every error answers ErrorDetail "
            "{detail, code, field?, errors?}. Lists answer arrays with X-Total-Count; writes "
            "answer X-Beampipe-Position for read-your-writes (?min_position=), and reads "
            "answer the position they reflect, so a read of one model can wait for what "
            "another showed."},
           {"license", json::object{{"name", "MIT"}}}}},
      {"servers", json::array{json::object{
                      {"url", "/"}, {"description", "This server (routes are under /api/v2)"}}}},
      {"tags", tags()},
      {"paths", std::move(paths)},
      {"components",
       json::object{{"schemas", component_schemas()},
                    {"headers", std::move(headers)},
                    {"securitySchemes",
                     json::object{{"bearerAuth", json::object{{"type", "http"},
                                                              {"scheme", "bearer"},
                                                              {"bearerFormat", "JWT"}}}}}}}};
}

const std::string& documentation_openapi_json(const std::string& version) {
  // One process, one version: built on first use.
  static const std::string doc =
      json::serialize(openapi_document(build_documentation_routes(), version));
  return doc;
}

std::string docs_page_html() {
  return "<!DOCTYPE html>\n"
         "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>Beampipe API</title>\n"
         "<style>body { margin: 0; padding: 0; }</style>\n</head>\n<body>\n"
         "<redoc spec-url=\"/api/v2/openapi.json\"></redoc>\n"
         "<script src=\"/api/v2/docs/redoc.standalone.js\"></script>\n"
         "</body>\n</html>\n";
}

std::string_view redoc_bundle() {
  return {beampipe_redoc_js_start, static_cast<size_t>(beampipe_redoc_js_size)};
}

std::string_view redoc_license() {
  return {beampipe_redoc_license_start, static_cast<size_t>(beampipe_redoc_license_size)};
}

std::string_view redoc_version() { return BEAMPIPE_REDOC_VERSION; }

}  // namespace beampipe::api

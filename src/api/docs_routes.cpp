// The contract (issue #7): GET /openapi.json, the Redoc page at GET /docs and the Redoc bundle
// it loads, all open and all served from the binary (no network at run time).
#include "api/console_site.hpp"
#include "api/handler_support.hpp"
#include "api/openapi.hpp"
#include "api/route_table.hpp"

namespace beampipe::api {
namespace {

// The document of the table that dispatched the request: every route this server serves.
response get_openapi(app_context& ctx, request& req) {
  if (!req.routes) throw std::logic_error("GET /openapi.json needs the dispatching route table");
  response r;
  r.body = boost::json::serialize(openapi_document(*req.routes, ctx.version));
  return r;
}

response get_docs(app_context&, request&) {
  response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = docs_page_html();
  return r;
}

response get_redoc(app_context&, request&) {
  response r;
  r.content_type = "application/javascript; charset=utf-8";
  r.body = std::string(redoc_bundle());
  r.headers.emplace_back("Cache-Control", "public, max-age=86400");
  return r;
}

// A browser opening the server's address lands on the operator console.
response get_root(app_context&, request&) {
  response r;
  r.status = 302;
  r.content_type.clear();
  r.headers.emplace_back("Location", kConsoleRoot);
  return r;
}

// The bundle's header points here for its licence notices.
response get_redoc_license(app_context&, request&) {
  response r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::string(redoc_license());
  return r;
}

}  // namespace

void add_docs_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  auto root = operation("root_redirect", "Server root", "docs",
                        "Redirects a browser to the operator console (/console).");
  root.reply = reply_kind::empty;
  root.status = 302;
  r.add("GET", "/", auth_level::open, bind(get_root), root);
  r.add("GET", v2 + "/openapi.json", auth_level::open, bind(get_openapi),
        operation("openapi_document", "OpenAPI document", "docs",
                  "This contract (OpenAPI 3.0.3), generated from the server's route table.")
            .returns("OpenApiDocument"));
  auto page = operation("api_docs", "API reference page", "docs",
                        "A Redoc page rendering /api/v2/openapi.json; works offline.");
  page.reply = reply_kind::html;
  r.add("GET", v2 + "/docs", auth_level::open, bind(get_docs), page);
  auto script = operation("redoc_bundle", "Redoc bundle", "docs",
                          "The Redoc standalone bundle the reference page loads.");
  script.reply = reply_kind::javascript;
  r.add("GET", v2 + "/docs/redoc.standalone.js", auth_level::open, bind(get_redoc), script);
  auto notices = operation("redoc_license", "Redoc licence notices", "docs");
  notices.reply = reply_kind::text;
  r.add("GET", v2 + "/docs/redoc.standalone.js.LICENSE.txt", auth_level::open,
        bind(get_redoc_license), notices);
}

}  // namespace beampipe::api

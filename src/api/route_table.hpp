#pragma once
// Building the route table. The server builds it bound to its app_context; the OpenAPI
// document (GET /openapi.json, `beampipe openapi export`) is generated from the same
// registrations built with no context at all, so documenting needs no database, runtime or
// pool, and no reference is ever bound to an object that does not exist.
#include "api/app.hpp"

namespace beampipe::api {

using handler_fn = response (*)(app_context&, request&);

class route_binder {
 public:
  route_binder() = default;  // documentation only: handlers throw if they are ever called
  explicit route_binder(app_context& ctx) : ctx_(&ctx) {}
  handler operator()(handler_fn fn) const;
  app_context* context() const { return ctx_; }

 private:
  app_context* ctx_ = nullptr;
};

// Every route of /api/v2; build_routes(ctx) is build_route_table(route_binder(ctx)).
router build_route_table(const route_binder& bind);
// The same table for documentation: no context, handlers never run.
router build_documentation_routes();

void add_config_routes(router& r, const route_binder& bind);
void add_execution_routes(router& r, const route_binder& bind);
void add_job_routes(router& r, const route_binder& bind);
void add_docs_routes(router& r, const route_binder& bind);  // openapi.json, docs, redoc
// The sign-in routes (user_routes.cpp), with api_schemas.hpp's doc_login() and friends.
void add_user_routes(router& r, const route_binder& bind);
// WASM hook modules of a project (wasm_routes.cpp).
void add_wasm_routes(router& r, const route_binder& bind);
// The operator surface (operator_routes.cpp).
void add_operator_routes(router& r, const route_binder& bind);
// The live event stream and its tickets (stream_routes.cpp).
void add_stream_routes(router& r, const route_binder& bind);
// Notification channels, alert rules and deliveries (alert_routes.cpp).
void add_alert_routes(router& r, const route_binder& bind);
// Workers: heartbeats, registrations, leases, drain and resume (worker_routes.cpp).
void add_worker_routes(router& r, const route_binder& bind);

}  // namespace beampipe::api

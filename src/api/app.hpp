#pragma once
// Wires the route table to the actor runtime and the read models.
#include <chrono>
#include <functional>
#include <optional>

#include "actors/runtime.hpp"
#include "adapters/execution_backend.hpp"
#include "adapters/graph_source.hpp"
#include "adapters/notifier.hpp"
#include "adapters/wasm_hooks.hpp"
#include "api/auth_tokens.hpp"
#include "api/http.hpp"
#include "api/metrics.hpp"
#include "api/read_cache.hpp"
#include "projections/read_model_names.hpp"
#include "projections/runner.hpp"
#include "projections/users/queries.hpp"
#include "store/db.hpp"

namespace beampipe::services {
class admission_gate;
class dependency_prober;
class shard_keeper;
}  // namespace beampipe::services

namespace beampipe::api {

class live_feed;

// Per-route authentication hook. Returns a response to refuse the request (401/403, 429), or
// nothing to let it through after filling req.user. Unset: everything passes (unit harnesses).
using auth_hook = std::function<std::optional<response>(request&, const route&)>;

// The read caches of the hottest reads (read_cache.hpp).
struct read_caches {
  explicit read_caches(projections::projection_watch& watch)
      : signed_in(watch, {projections::model::users, projections::model::auth_sessions}),
        execution_bodies(watch, {projections::model::execution_ledger}) {}
  // By token subject and family: every authenticated request's check.
  read_cache<std::optional<projections::users::signed_in_user>> signed_in;
  // GET /executions/{id}'s body, by id.
  read_cache<std::optional<std::string>> execution_bodies;
};

struct app_context {
  actors::runtime& runtime;
  store::connection_pool& pool;  // read models
  projections::projection_watch& watch;
  metrics& stats;
  std::string version;
  std::chrono::milliseconds default_wait{5000};
  std::chrono::milliseconds max_wait{30000};
  int64_t ready_max_lag = 10000;
  auth_hook auth;
  std::string archive = "simulated";   // which archive discovery uses, reported by /ready
  std::string backends = "simulated";  // where executions run (simulated | real), ditto
  std::function<boost::json::object()> probe_tap = nullptr;  // GET /health/tap
  // GET /diagnostics: the doctor's checks, for a profile by name or the global default.
  std::function<boost::json::object(const std::optional<std::string>& profile)> diagnose = nullptr;
  services::admission_gate* admission = nullptr;  // serialises execution creates (cluster-wide)
  services::dependency_prober* prober = nullptr;  // background dependency probes (/ready, metrics)
  services::shard_keeper* keeper = nullptr;  // clustered nodes: GET /cluster, /ready (none: single)
  // Whether an operator drained this node (its heartbeat's view): /ready says so.
  std::function<bool()> node_draining = [] { return false; };
  std::chrono::seconds heartbeat_every{10};  // a node is alive within three of these
  std::string jwt_secret = std::string();    // BEAMPIPE_JWT_SECRET
  std::chrono::seconds access_token_ttl{std::chrono::minutes(30)};
  std::chrono::seconds refresh_token_ttl{std::chrono::hours(24 * 7)};
  adapters::notify_options notify = adapters::notify_options();  // alert deliveries (tests)
  std::shared_ptr<read_caches> caches = std::make_shared<read_caches>(watch);
  live_feed* feed = nullptr;                        // GET /events/stream (none: 503)
  std::string ssh_credentials_dir = std::string();  // BEAMPIPE_SSH_CREDENTIALS_DIR
  adapters::graph_source_options graphs = adapters::graph_source_options();  // POST /graphs/prepare
  adapters::backend_factory execution_backends =
      nullptr;  // GET /daliuge/* asks a profile's backend
  std::chrono::seconds stream_ticket_ttl{60};
  std::shared_ptr<spent_tickets> tickets = std::make_shared<spent_tickets>();
  // Checks uploaded hook modules (imports, memory cap); none: only WABT validates them.
  std::shared_ptr<adapters::wasm_hook_runner> wasm = nullptr;
};

router build_routes(app_context& ctx);
// Routing, auth, JSON error mapping, correlation ids and metrics around the handlers; a read
// waiting for its read models is put off on the exchange instead of holding a thread.
using exchange_dispatch = std::function<void(std::shared_ptr<request>, std::shared_ptr<exchange>)>;
exchange_dispatch make_dispatch(app_context& ctx, const router& routes);
// The same, tried on the I/O thread for routes answered from read caches: true when it answered,
// false when the request needs the handler pool (a cache miss, another route, a query).
using inline_dispatch =
    std::function<bool(const std::shared_ptr<request>&, const std::shared_ptr<exchange>&)>;
inline_dispatch make_inline_dispatch(app_context& ctx, const router& routes);
// An in-process request (the demo loader) answered by the same handlers and error mapping as
// HTTP, acting as `who` without a token: nothing is recorded as a sign-in, and the auth hook
// does not run, so only trusted code may call it.
response call_as(app_context& ctx, const router& routes, const principal& who, request req);
// Registers the scrape-time gauges (appends, projection lag, live aggregates).
void register_collectors(app_context& ctx);

}  // namespace beampipe::api

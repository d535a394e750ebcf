#include "app/node.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <vector>

#include "actors/alert_worker.hpp"
#include "actors/discovery_worker.hpp"
#include "actors/execution_worker.hpp"
#include "actors/runtime.hpp"
#include "actors/scheduler.hpp"
#include "actors/scheduler_tick.hpp"
#include "api/app.hpp"
#include "api/auth_guard.hpp"
#include "api/live_feed.hpp"
#include "api/metrics.hpp"
#include "api/server.hpp"
#include "app/archives.hpp"
#include "app/backends.hpp"
#include "app/demo.hpp"
#include "app/diagnostics.hpp"
#include "app/security.hpp"
#include "app/users.hpp"
#include "projections/engine.hpp"
#include "projections/runner.hpp"
#include "services/audit_checkpointer.hpp"
#include "services/dependency_prober.hpp"
#include "services/execution_admission.hpp"
#include "services/node_heartbeat.hpp"
#include "services/shard_keeper.hpp"
#include "store/db.hpp"
#include "store/event_store.hpp"
#include "store/migrations.hpp"
#include "store/signing_secret.hpp"

#ifndef BEAMPIPE_VERSION
#define BEAMPIPE_VERSION "0.0.0"
#endif

namespace beampipe::app {

void enforce_security_gates(const settings& s) {
  std::string failures;
  for (const auto& f : security_findings(s)) {
    if (f.status == "warn") spdlog::warn("security: {}: {}", f.check, f.message);
    if (f.status == "fail") failures.append("\n  ").append(f.check).append(": ").append(f.message);
  }
  if (!failures.empty())
    throw std::runtime_error(
        "BEAMPIPE_ENV=production refuses to start with insecure settings (see `beampipe "
        "security check`):" +
        failures);
}

namespace {

// The connections each part may hold, from the settings: a pool as large as the threads that
// use it (plus one for the odd extra reader), one dedicated connection per holder.
store::db_budgets budgets_from(const settings& s) {
  using store::db_role;
  store::db_budgets b;
  b.set(db_role::api, static_cast<size_t>(s.api_threads) + 2)
      .set(db_role::aggregates, actors::runtime_options{}.blocking_threads + 1)
      .set(db_role::discovery, static_cast<size_t>(s.discovery_source_concurrency) + 1)
      .set(db_role::executions, static_cast<size_t>(s.worker_concurrency) + 1)
      .set(db_role::job_leases, 6)  // the discovery, execution and alert workers' renewals
      .set(db_role::appender, static_cast<size_t>(s.append_writers))
      .set(db_role::projections, projections::standard_engines_by_group().size());
  return b;
}

// What this node may open, said once at start, and a warning when the server could not take it
// (other nodes and tools share the server too).
void check_connection_budget(store::database& db) {
  auto c = db.connect(store::db_role::maintenance, "budget");
  pqxx::read_transaction tx{*c};
  auto room = tx.exec1(
                    "SELECT current_setting('max_connections')::int - "
                    "current_setting('superuser_reserved_connections')::int")[0]
                  .as<int64_t>();
  std::string roles;
  for (const auto& u : db.usage())
    roles += (roles.empty() ? "" : ", ") + std::string(store::to_string(u.role)) + " " +
             std::to_string(u.budget);
  auto total = static_cast<int64_t>(db.total_budget());
  spdlog::info("database: this node holds at most {} connections ({}); the server takes {}", total,
               roles, room);
  if (total > room)
    spdlog::warn(
        "database: this node alone may open {} connections but the server takes {} "
        "(max_connections less superuser_reserved_connections): raise max_connections or lower "
        "BEAMPIPE_API_THREADS / BEAMPIPE_WORKER_CONCURRENCY",
        total, room);
}

// The database's connections per role, for /metrics.
void collect_connections(const store::database& db, std::string& out) {
  out += "# HELP beampipe_db_connections Connections this node holds, by role.\n";
  out += "# TYPE beampipe_db_connections gauge\n";
  for (const auto& u : db.usage())
    out += "beampipe_db_connections{role=\"" + std::string(store::to_string(u.role)) + "\"} " +
           std::to_string(u.open) + "\n";
  out += "# HELP beampipe_db_connection_budget Connections each role may hold.\n";
  out += "# TYPE beampipe_db_connection_budget gauge\n";
  for (const auto& u : db.usage())
    out += "beampipe_db_connection_budget{role=\"" + std::string(store::to_string(u.role)) +
           "\"} " + std::to_string(u.budget) + "\n";
}

// Each part's options, from the settings alone.
actors::runtime_options runtime_options_from(const settings& s) {
  actors::runtime_options o;
  o.node_id = s.node_id;
  o.idle_after = s.idle_actor;
  o.append_writers = static_cast<size_t>(s.append_writers);
  o.cluster_addr = s.cluster_bind_addr;
  o.cluster_tls = {s.cluster_tls_cert, s.cluster_tls_key, s.cluster_tls_ca};
  o.move_wait = s.cluster_lease;  // a lost owner's shards move within one lease
  return o;
}

api::rate_limit_options rate_limits_from(const settings& s) {
  api::rate_limit_options o;
  o.requests = s.rate_limit_requests;
  o.period = s.rate_limit_period;
  o.trusted_proxies = s.trusted_proxy_cidrs;
  api::check_cidrs(o.trusted_proxies);
  o.fail_closed = s.production() || s.require_rate_limiter;
  return o;
}

// Durable work (§2.4 [HEAD]): lease length, attempts per round and the backoff base.
actors::discovery_worker_options discovery_options_from(
    const settings& s, std::shared_ptr<adapters::wasm_hook_runner> wasm) {
  actors::discovery_worker_options o;
  o.wasm = std::move(wasm);
  o.concurrency = static_cast<size_t>(s.discovery_source_concurrency);
  o.lock = s.worker_lock;
  o.max_attempts = static_cast<int>(s.worker_max_attempts);
  o.retry_base_ms = s.worker_retry_base.count();
  return o;
}

// Where a project's graph may come from: graph.path under BEAMPIPE_HOME, graph.url on the allowed
// hosts (production: never an internal address). Runs and POST /graphs/prepare alike.
adapters::graph_source_options graph_options_from(const settings& s) {
  adapters::graph_source_options g;
  g.home = s.home;
  g.url_allow = s.graph_url_allow;
  g.refuse_internal = s.production();
  return g;
}

std::shared_ptr<adapters::wasm_hook_runner> make_wasm_runner(const settings& s) {
  adapters::wasm_limits limits;
  limits.max_memory_bytes = static_cast<size_t>(s.wasm_max_memory_mb) << 20;
  limits.timeout = s.wasm_timeout;
  return std::make_shared<adapters::wasm_hook_runner>(limits);
}

actors::execution_worker_options execution_options_from(
    const settings& s, std::shared_ptr<adapters::wasm_hook_runner> wasm) {
  actors::execution_worker_options o;
  o.wasm = std::move(wasm);
  o.concurrency = static_cast<size_t>(s.worker_concurrency);
  o.lock = s.worker_lock;
  o.max_attempts = static_cast<int>(s.worker_max_attempts);
  o.scan_every = s.execution_scan;
  o.dim_poll_every = s.dim_poll_interval;
  o.slurm_poll_every = s.slurm_poll_interval;
  o.lookup_every = s.reconcile_interval;
  o.dim_poll_budget = s.dim_poll_budget;
  o.slurm_poll_budget = s.slurm_poll_budget;
  o.submission_timeout = s.submission_timeout;
  o.dim_lookup_budget = s.dim_lookup_budget;
  o.slurm_lookup_budget = s.slurm_lookup_budget;
  o.cancel_attempts = static_cast<int>(s.cancel_attempts);
  o.redeploy_grace = s.redeploy_grace;
  o.graphs = graph_options_from(s);
  o.fault = s.fault_inject;
  return o;
}

actors::alert_worker_options alert_options_from(const settings& s) {
  actors::alert_worker_options o;
  o.scan_every = s.alert_scan;
  o.evaluate_every = s.alert_evaluate_every;
  o.backoff = s.alert_backoff;
  o.backoff_cap = s.alert_backoff_cap;
  o.trigger_lookback = s.alert_trigger_lookback;
  o.max_attempts = static_cast<int>(s.alert_delivery_max_attempts);
  o.notify.timeout = s.alert_webhook_timeout;
  o.notify.ca_file = s.alert_ca_file;
  return o;
}

services::dependency_prober_options prober_options_from(const settings& s) {
  services::dependency_prober_options o;
  o.every = s.dependency_probe_every;
  for (const auto& [name, url] :
       {std::pair{"tap_casda", &s.casda_tap_url}, std::pair{"tap_vizier", &s.vizier_tap_url}})
    if (!url->empty()) o.tap_urls.emplace_back(name, *url);
  o.real_backends = s.use_real_backends;
  return o;
}

std::string node_host() {
  char hostname[256] = {0};
  gethostname(hostname, sizeof hostname - 1);
  return hostname;
}

// How this process shows in GET /workers: its capabilities are the kinds of work it claims.
services::node_identity identity_from(const settings& s, const node_options& o) {
  services::node_identity who;
  who.node_id = s.node_id;
  who.host = node_host();
  who.roles = o.role.api && o.role.workers ? "api,workers" : (o.role.api ? "api" : "workers");
  who.version = BEAMPIPE_VERSION;
  who.pid = static_cast<int>(getpid());
  who.instance_name = s.worker_instance_name;
  who.pool = s.worker_pool;
  if (o.role.workers) {
    who.capabilities = {"discover_source", "execute", "execution_poll", "alert_delivery"};
    if (s.scheduler_enabled) who.capabilities.push_back("scheduler");
  }
  who.concurrency_limit = o.role.workers ? s.worker_concurrency : 0;
  return who;
}

api::live_feed_options live_feed_options_from(const settings& s) {
  api::live_feed_options o;
  o.max_streams = static_cast<size_t>(s.max_streams);
  o.buffer_bytes = static_cast<size_t>(s.stream_buffer_bytes);
  o.heartbeat = s.stream_heartbeat;
  return o;
}

api::server_options api_server_options_from(const settings& s) {
  api::server_options o;
  o.bind_addr = s.bind_addr;
  o.handler_threads = static_cast<size_t>(s.api_threads);
  o.header_limit = static_cast<size_t>(s.max_header_bytes);
  o.body_limit = static_cast<size_t>(s.max_body_bytes);
  o.read_timeout_seconds = static_cast<int>(s.read_timeout.count());
  o.max_connections = static_cast<size_t>(s.max_connections);
  o.control_paths = {"/api/v2/health", "/api/v2/ready", "/api/v2/metrics"};
  return o;
}

}  // namespace

// Declared in construction order: each part may use those above it; the destructor tears
// them down in reverse after stop().
struct node::parts {
  const settings& s;
  node_options o;
  store::database db;
  actors::runtime rt;
  projections::projection_watch watch;
  // One runner per group of read models: a slow or failing one delays no other.
  std::vector<std::unique_ptr<projections::runner>> runners;
  store::connection_pool& read_pool;
  api::metrics stats;
  services::admission_gate admission;
  api::live_feed feed;
  api::app_context ctx;
  services::node_heartbeat heartbeat;
  // Clustered nodes only (BEAMPIPE_CLUSTER_BIND_ADDR): the shards this node may append to.
  std::unique_ptr<services::shard_keeper> keeper;
  services::audit_checkpointer checkpoints;
  // One set of backends for the executions and the prober: a probe uses the same pooled SSH
  // sessions and credentials as the runs.
  adapters::backend_factory backends;
  services::dependency_prober prober;
  // Projects' WebAssembly hooks, for discovery, the runs and the API's uploads and previews.
  std::shared_ptr<adapters::wasm_hook_runner> wasm;
  actors::discovery_worker discovery;
  actors::execution_worker executions;
  actors::alert_worker alerts;
  actors::scheduler sched;
  std::unique_ptr<api::server> metrics_srv;
  api::router routes;
  std::unique_ptr<api::server> srv;
  bool started = false, stopped = false;

  parts(const settings& s_, node_options o_)
      : s(s_),
        o(std::move(o_)),
        db(o.conninfo, budgets_from(s)),
        rt(db, runtime_options_from(s)),
        read_pool(db.pool(store::db_role::api)),
        admission(db, s.admission_lock_wait),
        feed(read_pool, watch, live_feed_options_from(s)),
        ctx{rt,
            read_pool,
            watch,
            stats,
            BEAMPIPE_VERSION,
            std::chrono::milliseconds(5000),
            std::chrono::milliseconds(30000),
            s.ready_max_lag,
            nullptr},
        heartbeat(db, identity_from(s, o), s.heartbeat_every),
        checkpoints(db, o.role.workers ? s.audit_checkpoint_every : std::chrono::seconds(0)),
        backends(make_backend_factory(s)),
        prober(db, with_backends(prober_options_from(s), backends)),
        wasm(make_wasm_runner(s)),
        discovery(rt, db, make_archive_provider(s), discovery_options_from(s, wasm)),
        executions(rt, db, backends, make_stager(s), execution_options_from(s, wasm)),
        alerts(rt, db, alert_options_from_node(s)),
        sched(rt, db, scheduler_options_from(s), scheduler_tick()),
        routes(build_api()) {
    for (auto& eng : projections::standard_engines_by_group())
      runners.push_back(
          std::make_unique<projections::runner>(db, eng, watch, 1000, s.projection_coalesce));
    if (!s.cluster_bind_addr.empty()) {
      services::shard_keeper_options ko;
      ko.node = s.node_id;
      ko.addr = s.cluster_bind_addr;
      ko.shards = static_cast<int>(s.cluster_shards);
      ko.lease = s.cluster_lease;
      ko.reach = [this](const std::map<std::string, std::string>& members) {
        return rt.set_peers(members, std::chrono::seconds(5), true);
      };
      ko.tls = !s.cluster_tls_cert.empty();
      keeper = std::make_unique<services::shard_keeper>(
          db, std::move(ko), [this](const services::cluster_view& v) {
            std::map<std::string, std::string> members;
            for (const auto& m : v.members) members[m.node] = m.addr;
            rt.set_peers(members, std::chrono::seconds(5));
          });
      stats.track_forwards();
      rt.on_forwarded([this](double seconds) { stats.observe_forward(seconds); });
      rt.set_placement([k = keeper.get()](const std::string& stream, std::string& holder) {
        return k->fence_for(stream, holder);
      });
      ctx.keeper = keeper.get();
      stats.add_collector([this, k = keeper.get()](std::string& out) {
        auto v = k->view();
        out +=
            "# HELP beampipe_cluster_members Members renewing their cluster membership\n"
            "# TYPE beampipe_cluster_members gauge\nbeampipe_cluster_members " +
            std::to_string(v.members.size()) +
            "\n# HELP beampipe_cluster_shards_owned Shards this node holds\n"
            "# TYPE beampipe_cluster_shards_owned gauge\nbeampipe_cluster_shards_owned " +
            std::to_string(v.held.size()) +
            "\n# HELP beampipe_cluster_shard_moves_total Shards this node took, released or "
            "lost to another\n# TYPE beampipe_cluster_shard_moves_total counter\n"
            "beampipe_cluster_shard_moves_total{move=\"taken\"} " +
            std::to_string(v.taken) + "\nbeampipe_cluster_shard_moves_total{move=\"released\"} " +
            std::to_string(v.released) + "\nbeampipe_cluster_shard_moves_total{move=\"lost\"} " +
            std::to_string(v.lost) +
            "\n# HELP beampipe_cluster_forwarded_commands_total Commands sent on to the member "
            "holding their stream's shard\n"
            "# TYPE beampipe_cluster_forwarded_commands_total counter\n"
            "beampipe_cluster_forwarded_commands_total " +
            std::to_string(rt.stats().forwarded) + "\n";
        out +=
            "# HELP beampipe_cluster_move_waits_total Commands that waited for their shard's "
            "owner (a move, or a member not connected yet)\n"
            "# TYPE beampipe_cluster_move_waits_total counter\nbeampipe_cluster_move_waits_total " +
            std::to_string(rt.stats().move_waits) + "\n";
      });
    }
  }

  static services::dependency_prober_options with_backends(services::dependency_prober_options po,
                                                           const adapters::backend_factory& b) {
    if (po.real_backends) po.backends = b;
    return po;
  }

  actors::alert_worker_options alert_options_from_node(const settings& s_) {
    auto awo = alert_options_from(s_);
    awo.dependencies = [this] {
      std::map<std::string, bool> up;
      for (const auto& p : prober.snapshot()) {
        auto [it, fresh] = up.emplace(p.dependency, p.up);
        if (!fresh) it->second = it->second && p.up;
      }
      return up;
    };
    awo.projection_lag = [this] { return watch.lag(); };
    awo.on_delivery = [this](const std::string& outcome) { stats.count_alert_delivery(outcome); };
    return awo;
  }

  static actors::scheduler_options scheduler_options_from(const settings& s_) {
    actors::scheduler_options o_;
    o_.interval = s_.scheduler_interval;
    o_.lease_ttl = s_.scheduler_lease;
    return o_;
  }

  // The scheduler's tick: admission under the gate, waiting for its own writes' read models.
  actors::tick_function scheduler_tick() {
    auto tick = actors::make_admission_tick(
        rt, db, s.shaping,
        [this](int64_t position) {
          std::optional<events::read_position> target;
          store::with_connection(read_pool, [&](pqxx::connection& c) {
            target = store::read_position_of(c, position);
          });
          return target && watch.wait_until(*target, std::chrono::steady_clock::now() +
                                                         std::chrono::seconds(30));
        },
        &admission);
    return [this, tick](int64_t token) {
      auto t0 = std::chrono::steady_clock::now();
      auto summary = tick(token);
      auto n = actors::count_admitted(summary);
      stats.observe_scheduler_tick(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
          n.executions, n.discovery_batches);
      return summary;
    };
  }

  // The API's context past its constructor: signing secret, token lifetimes, auth guard,
  // what /ready reports, the metric collectors; then the routes over it.
  api::router build_api() {
    ctx.admission = &admission;
    ctx.feed = &feed;
    ctx.ssh_credentials_dir = s.ssh_credentials_dir;
    ctx.graphs = graph_options_from(s);
    ctx.execution_backends = backends;
    ctx.wasm = wasm;
    ctx.jwt_secret = configured_jwt_secret(s);
    if (ctx.jwt_secret.empty()) {
      // Never a constant: a random key made once per database, shared by its nodes.
      auto c = db.connect(store::db_role::maintenance, "secret");
      auto secret = store::ensure_signing_secret(*c);
      ctx.jwt_secret = secret.secret;
      spdlog::info("{}", secret.generated_now
                             ? "generated the token signing secret; it is kept in the database "
                               "(set BEAMPIPE_JWT_SECRET_FILE to manage your own)"
                             : "tokens are signed with the secret kept in the database "
                               "(BEAMPIPE_JWT_SECRET is not set)");
    }
    ctx.access_token_ttl = s.access_token_ttl;
    ctx.refresh_token_ttl = s.refresh_token_ttl;
    ctx.auth = api::make_auth_guard(ctx, rate_limits_from(s));
    ctx.heartbeat_every = s.heartbeat_every;
    ctx.node_draining = [this] { return heartbeat.draining(); };
    ctx.prober = &prober;
    ctx.archive = describe_archive_environment(s);
    ctx.diagnose = [this](const std::optional<std::string>& profile) {
      diagnostics_options d;
      d.profile = profile;
      d.backends = backends;
      return to_json(diagnose(db, s, d));
    };
    ctx.backends = describe_backends(s);
    ctx.probe_tap = [casda = s.casda_tap_url, vizier = s.vizier_tap_url] {
      return probe_tap_services(casda, vizier);
    };
    ctx.notify = alert_options_from(s).notify;
    api::register_collectors(ctx);
    stats.add_collector([this](std::string& out) { collect_connections(db, out); });
    stats.add_collector([this](std::string& out) {
      out +=
          "# HELP beampipe_event_streams Open event streams (GET /events/stream)\n"
          "# TYPE beampipe_event_streams gauge\nbeampipe_event_streams " +
          std::to_string(feed.open_streams()) +
          "\n# HELP beampipe_event_stream_overflows_total Event streams ended with `overflow`: "
          "their clients fell behind by more than BEAMPIPE_STREAM_BUFFER_BYTES\n"
          "# TYPE beampipe_event_stream_overflows_total counter\n"
          "beampipe_event_stream_overflows_total " +
          std::to_string(feed.overflows()) + "\n";
    });
    return api::build_routes(ctx);
  }
};

namespace {
// Runs before any part exists: the gates and the schema.
node_options prepared(const settings& s, node_options o) {
  enforce_security_gates(s);
  auto c = store::connect(o.conninfo, "beampipe-migrate");
  for (const auto& m : store::migrate(*c)) spdlog::info("applied migration {}", m);
  return o;
}
}  // namespace

node::node(const settings& s, node_options o)
    : p_(std::make_unique<parts>(s, prepared(s, std::move(o)))) {}

node::~node() { stop(); }

void node::start() {
  auto& p = *p_;
  if (p.started) return;
  p.started = true;
  const auto& s = p.s;
  const auto& role = p.o.role;
  check_connection_budget(p.db);
  for (auto& r : p.runners) r->start();
  p.heartbeat.start();
  if (p.keeper) p.keeper->start();  // after the heartbeat row it renews
  p.checkpoints.start();
  p.prober.start();
  if (role.api) {
    // The first superuser can sign in as soon as the API answers.
    auto password_file = p.o.demo ? std::filesystem::path(s.data_dir) / "demo-admin.password"
                                  : std::filesystem::path();
    if (auto pos = bootstrap_first_superuser(p.rt, p.db, s, password_file)) {
      std::optional<events::read_position> at;
      store::with_connection(p.read_pool,
                             [&](pqxx::connection& c) { at = store::read_position_of(c, pos); });
      if (at) p.watch.wait_until(*at, std::chrono::steady_clock::now() + std::chrono::seconds(30));
    }
  }
  if (role.workers) {
    p.discovery.start();
    p.executions.start();
    p.alerts.start();
    if (s.scheduler_enabled) p.sched.start();
  }
  if (!s.use_real_backends)
    spdlog::warn(
        "executions use the SIMULATED DALiuGE/Slurm backends (BEAMPIPE_USE_REAL_BACKENDS is not "
        "true)");
  if (p.ctx.archive == "simulated")
    spdlog::warn(
        "discovery uses the SIMULATED archive (no TAP URL configured): bundled WALLABY rows only");
  else
    spdlog::info("discovery archive: {}", p.ctx.archive);
  // The scrape endpoint of every process, API or worker, on its own listener: Prometheus
  // reaches it without a token and without going through the API's address.
  if (s.metrics_server_enabled) {
    api::server_options mo;
    mo.bind_addr = s.metrics_bind_addr;
    mo.handler_threads = 1;
    mo.body_limit = 1024;
    mo.max_connections = 32;
    p.metrics_srv = std::make_unique<api::server>(mo, [&stats = p.stats](api::request& req) {
      auto path = req.target.substr(0, req.target.find('?'));
      if (path != "/metrics")
        return api::error_response(404, "not_found", "the metrics listener serves /metrics only");
      if (req.method != "GET") return api::error_response(405, "method_not_allowed", "GET only");
      api::response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = stats.render();
      return r;
    });
    try {
      p.metrics_srv->start();
    } catch (const std::exception& e) {
      throw std::runtime_error("the metrics listener cannot bind " + mo.bind_addr + " (" +
                               e.what() +
                               "); set BEAMPIPE_METRICS_BIND_ADDR or "
                               "BEAMPIPE_METRICS_SERVER_ENABLED=false");
    }
    std::cout << "beampipe metrics on " << p.metrics_srv->url() << "/metrics" << std::endl;
  }
  if (p.o.demo) {
    if (!role.workers) throw std::invalid_argument("--demo needs the workers (discovery)");
    demo_options d;
    d.db = &p.db;
    d.home = s.home;
    d.stopping = p.o.stopping;
    load_demo(p.ctx, p.routes, d);
  }
  if (role.api) {
    p.feed.start();
    auto so = api_server_options_from(s);
    so.try_inline = api::make_inline_dispatch(p.ctx, p.routes);
    p.srv = std::make_unique<api::server>(std::move(so), api::make_dispatch(p.ctx, p.routes));
    p.srv->start();
    spdlog::info("beampipe {} node {} serving {}/api/v2", BEAMPIPE_VERSION, s.node_id,
                 p.srv->url());
    std::cout << "beampipe is serving " << p.srv->url() << "/api/v2" << std::endl;
  } else {
    spdlog::info("beampipe {} node {} runs workers only (no API)", BEAMPIPE_VERSION, s.node_id);
    std::cout << "beampipe worker " << s.node_id << " running" << std::endl;
  }
}

void node::stop() {
  auto& p = *p_;
  if (p.stopped) return;
  p.stopped = true;
  p.watch.shutdown();  // no thread waits for a read model past this point
  p.admission.stop();  // queued creates answer 503 while the handlers still run
  p.feed.stop();       // open streams end, their clients resume elsewhere or later
  if (p.srv) p.srv->stop();
  if (p.metrics_srv) p.metrics_srv->stop();
  p.prober.stop();
  p.checkpoints.stop();
  p.heartbeat.stop();
  p.sched.stop();
  p.alerts.stop();
  p.executions.stop();
  p.discovery.stop();
  if (p.keeper) p.keeper->stop();  // a graceful leave: the shards are free for the others now
  for (auto& r : p.runners) r->stop();
  p.rt.shutdown();
}

std::string node::url() const { return p_->srv ? p_->srv->url() : std::string(); }

}  // namespace beampipe::app

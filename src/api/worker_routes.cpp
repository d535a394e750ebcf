// Workers (issue #21, spec §9.5): the cluster's processes by their heartbeats, workers
// registered through the API, the leases they hold, and the operator's drain and resume
// (events on the worker's stream; a drained worker claims nothing new, see schema/0019).
#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "projections/jobs/queries.hpp"
#include "projections/read_model_names.hpp"
#include "projections/workers/queries.hpp"
#include "services/node_heartbeat.hpp"
#include "services/shard_keeper.hpp"
#include "store/shard_leases.hpp"
#include "util/ids.hpp"
#include "util/input_rules.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace {

const projections::model::set kReads{projections::model::worker_drains};

// A worker id from the path: what a node id or a registration may be.
std::string worker_id_param(const request& req) {
  const auto& id = req.path_params.at("id");
  if (id.empty() || id.size() > domain::kMaxWorkerIdBytes || id.find('/') != std::string::npos)
    fail(400, "invalid_parameter", "a worker id is 1..200 characters", "id");
  return id;
}

json::object worker_or_404(app_context& ctx, const std::string& id) {
  auto row = read_model(ctx, [&](pqxx::transaction_base& tx) {
    return projections::workers::find(tx, ctx.heartbeat_every, id);
  });
  if (!row) fail(404, "not_found", "no worker " + id, "id");
  return *row;
}

response list_workers(app_context& ctx, request& req) {
  honour_min_position(ctx, req, kReads);
  auto page = numbered_page_params(req);
  projections::workers::list_filter f;
  if (auto it = req.query.find("status"); it != req.query.end()) {
    f.status = it->second;
    if (f.status != "active" && f.status != "draining" && f.status != "stopped")
      fail(400, "invalid_query", "status must be one of active, draining, stopped", "status");
  }
  if (auto it = req.query.find("pool"); it != req.query.end()) {
    f.pool = it->second;
    if (!util::is_short_name(f.pool))
      fail(400, "invalid_query", "pool must be 1 to 64 of A-Z a-z 0-9 . _ -", "pool");
  }
  return numbered_page_response(read_model(ctx,
                                           [&](pqxx::transaction_base& tx) {
                                             return projections::workers::list(
                                                 tx, ctx.heartbeat_every, f, page.items_per_page,
                                                 page.offset());
                                           }),
                                page);
}

response get_worker(app_context& ctx, request& req) {
  honour_min_position(ctx, req, kReads);
  return json_response(200, worker_or_404(ctx, worker_id_param(req)));
}

response list_pools(app_context& ctx, request& req) {
  auto page = numbered_page_params(req);
  return numbered_page_response(read_model(ctx,
                                           [&](pqxx::transaction_base& tx) {
                                             return projections::workers::pools(
                                                 tx, ctx.heartbeat_every, page.items_per_page,
                                                 page.offset());
                                           }),
                                page);
}

response list_leases(app_context& ctx, request& req) {
  auto page = numbered_page_params(req);
  std::string worker;
  if (auto it = req.query.find("worker_id"); it != req.query.end()) {
    worker = it->second;
    if (worker.empty() || worker.size() > domain::kMaxWorkerIdBytes)
      fail(400, "invalid_query", "worker_id is 1..200 characters", "worker_id");
  }
  return numbered_page_response(read_model(ctx,
                                           [&](pqxx::transaction_base& tx) {
                                             return projections::jobs::held_leases(
                                                 tx, worker, page.items_per_page, page.offset());
                                           }),
                                page);
}

// Reads an optional string field: at most `max` bytes of clean text (no control characters).
std::string text_field(const json::object& b, const char* key, size_t max,
                       std::string fallback = "") {
  auto it = b.find(key);
  if (it == b.end() || it->value().is_null()) return fallback;
  if (!it->value().is_string())
    fail(400, "invalid_field", std::string(key) + " must be a string", key);
  std::string v(it->value().as_string());
  if (v.size() > max)
    fail(400, "invalid_field",
         std::string(key) + " must be at most " + std::to_string(max) + " bytes", key);
  if (auto p = util::text_problem(v, util::text_kind::name))
    fail(400, "invalid_field", std::string(key) + " " + *p, key);
  return v;
}

int64_t int_field(const json::object& b, const char* key, int64_t lo, int64_t hi,
                  int64_t fallback) {
  auto it = b.find(key);
  if (it == b.end() || it->value().is_null()) return fallback;
  const auto& v = it->value();
  bool whole = v.is_int64() || (v.is_uint64() && v.as_uint64() <= static_cast<uint64_t>(hi));
  int64_t n = v.is_int64() ? v.as_int64() : (whole ? static_cast<int64_t>(v.as_uint64()) : 0);
  if (!whole || n < lo || n > hi)
    fail(400, "invalid_field",
         std::string(key) + " must be an integer from " + std::to_string(lo) + " to " +
             std::to_string(hi),
         key);
  return n;
}

services::node_identity registration_of(const json::object& b) {
  reject_unknown_fields(b, {"worker_id", "host", "process_id", "instance_name", "role", "pool",
                            "capabilities", "labels", "version", "concurrency_limit"});
  services::node_identity who;
  who.node_id = text_field(b, "worker_id", domain::kMaxWorkerIdBytes, util::uuid_v7());
  if (who.node_id.empty() || who.node_id.find('/') != std::string::npos)
    fail(400, "invalid_field", "worker_id is 1..200 characters without '/'", "worker_id");
  who.host = text_field(b, "host", 255);
  if (who.host.empty()) fail(400, "invalid_field", "host is required", "host");
  who.pid = static_cast<int>(int_field(b, "process_id", 0, INT32_MAX, 0));
  who.instance_name = text_field(b, "instance_name", 64);
  who.roles = text_field(b, "role", 32, "workers");
  who.pool = text_field(b, "pool", 64, "default");
  if (!util::is_short_name(who.pool))
    fail(400, "invalid_field", "pool must be 1 to 64 of A-Z a-z 0-9 . _ -", "pool");
  who.version = text_field(b, "version", 64, "unknown");
  who.concurrency_limit = int_field(b, "concurrency_limit", 1, 1024, 1);
  if (auto it = b.find("capabilities"); it != b.end() && !it->value().is_null()) {
    if (!it->value().is_array() || it->value().as_array().size() > 32)
      fail(400, "invalid_field", "capabilities must be an array of at most 32 names",
           "capabilities");
    for (const auto& c : it->value().as_array()) {
      if (!c.is_string() || !util::is_short_name(c.as_string()))
        fail(400, "invalid_field", "each capability is 1 to 64 of A-Z a-z 0-9 . _ -",
             "capabilities");
      who.capabilities.push_back(c);
    }
  }
  if (auto it = b.find("labels"); it != b.end() && !it->value().is_null()) {
    if (!it->value().is_object() || it->value().as_object().size() > 32)
      fail(400, "invalid_field", "labels must be an object of at most 32 entries", "labels");
    for (const auto& [k, v] : it->value().as_object()) {
      if (!util::is_short_name(k) || !v.is_string() || v.as_string().size() > 200 ||
          util::text_problem(v.as_string(), util::text_kind::name))
        fail(400, "invalid_field",
             "each label is a name (1 to 64 of A-Z a-z 0-9 . _ -) with a text of at most 200 "
             "bytes",
             "labels." + std::string(k).substr(0, 64));
      who.labels[k] = v;
    }
  }
  return who;
}

response register_worker(app_context& ctx, request& req) {
  auto who = registration_of(parse_body(req));
  auto outcome = store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto r = services::register_worker(tx, who);
    tx.commit();
    return r;
  });
  if (outcome == services::registration::taken_by_node)
    fail(409, "worker_exists", "a running beampipe node beats under this id", "worker_id");
  return json_response(outcome == services::registration::created ? 201 : 200,
                       worker_or_404(ctx, who.node_id));
}

response worker_heartbeat(app_context& ctx, request& req) {
  auto id = worker_id_param(req);
  if (!req.body.empty()) reject_unknown_fields(parse_body(req), {});
  auto at = store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::work tx{c};
    auto r = services::record_heartbeat(tx, id);
    tx.commit();
    return r;
  });
  if (!at) {
    worker_or_404(ctx, id);
    fail(409, "worker_beats_itself", "this worker is a beampipe node: it sends its own beats",
         "id");
  }
  return json_response(200,
                       json::object{{"worker_id", id}, {"accepted", true}, {"recorded_at", *at}});
}

// Drain and resume: an event on the worker's stream, answered once the drain read model (which
// claims are refused by) has applied it.
response drain_or_resume(app_context& ctx, request& req, const char* command) {
  auto id = worker_id_param(req);
  json::object cmd{{"worker_id", id}};
  if (!req.body.empty()) {
    auto b = parse_body(req);
    reject_unknown_fields(b, {"reason"});
    if (std::string_view(command) == "drain" && b.contains("reason"))
      cmd["reason"] = b.at("reason");
  }
  worker_or_404(ctx, id);
  return write_then_read(ctx, req, domain::worker_stream_id(id), command, std::move(cmd), 200,
                         [&ctx, id] { return worker_or_404(ctx, id); });
}

response drain_worker(app_context& ctx, request& req) { return drain_or_resume(ctx, req, "drain"); }
response resume_worker(app_context& ctx, request& req) {
  return drain_or_resume(ctx, req, "resume");
}

// GET /cluster: the members, their addresses and shards, every shard's lease (owner, token,
// expiry, read from the database now) and this node's last rebalance. A single node says so.
response get_cluster(app_context& ctx, request&) {
  json::object o{{"node", ctx.runtime.node_id()}};
  if (!ctx.keeper) {
    o["mode"] = "single";
    o["shards"] = 0;
    o["lease_seconds"] = nullptr;
    o["members"] = json::array{};
    o["held"] = json::array{};
    o["leases"] = json::array{};
    o["last_rebalance"] = nullptr;
    o["error"] = nullptr;
    return json_response(200, o);
  }
  const auto& opts = ctx.keeper->options();
  auto v = ctx.keeper->view();
  o["mode"] = "cluster";
  o["address"] = opts.addr;
  o["shards"] = opts.shards;
  o["lease_seconds"] = std::chrono::duration<double>(opts.lease).count();
  json::array members, held, leases;
  for (const auto& m : v.members)
    members.push_back(json::object{{"node", m.node},
                                   {"address", m.addr},
                                   {"last_seen", m.last_seen},
                                   {"shards_held", m.shards_held}});
  for (const auto& [shard, token] : v.held)
    held.push_back(json::object{{"shard", shard}, {"token", token}});
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    for (const auto& l : store::read_shards(tx))
      leases.push_back(
          json::object{{"shard", l.shard},
                       {"owner", l.owner.empty() ? json::value(nullptr) : json::value(l.owner)},
                       {"token", l.token},
                       {"expires_at", l.expires_at},
                       {"live", l.live}});
  });
  o["members"] = std::move(members);
  o["held"] = std::move(held);
  o["leases"] = std::move(leases);
  o["last_rebalance"] =
      v.last_rebalance.empty() ? json::value(nullptr) : json::value(v.last_rebalance);
  o["error"] = v.error.empty() ? json::value(nullptr) : json::value(v.error);
  return json_response(200, o);
}

}  // namespace

void add_worker_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  auto id = text_path("id", "Worker id (node id or registered id)");
  r.add("GET", v2 + "/cluster", auth_level::user, bind(get_cluster),
        operation("get_cluster", "The cluster", "workers",
                  "Members (clustered nodes renewing their membership), their addresses and the "
                  "shards each holds, every shard's lease (owner, fencing token, expiry) and this "
                  "node's last rebalance. mode is single when BEAMPIPE_CLUSTER_BIND_ADDR is unset.")
            .returns("ClusterView"));
  r.add("GET", v2 + "/workers", auth_level::user, bind(list_workers),
        operation("list_workers", "Workers", "workers",
                  "Every worker by its heartbeat: beampipe processes and workers registered "
                  "through the API, with health (stale after three heartbeat intervals without "
                  "a beat), the operator's drain and the leases each holds.")
            .with_query(text_query("status", "Only workers in this status",
                                   {"active", "draining", "stopped"}))
            .with_query(text_query("pool", "Only workers of this pool"))
            .numbered_pages()
            .returns("PaginatedWorkers")
            .read());
  {
    auto d = operation("register_worker", "Register a worker", "workers",
                       "Lists a worker that is not a beampipe process of this cluster; it stays "
                       "healthy while it posts heartbeats. Registering the same id again "
                       "refreshes it (200). An id a running beampipe node beats under is refused "
                       "(409).")
                 .json_body("WorkerRegistration")
                 .returns("WorkerRead", 201)
                 .fails({409});
    d.also = {200};
    r.add("POST", v2 + "/workers", auth_level::superuser, bind(register_worker), std::move(d));
  }
  r.add("GET", v2 + "/workers/pools", auth_level::user, bind(list_pools),
        operation("list_worker_pools", "Worker pools", "workers",
                  "Per pool: workers healthy, draining and stale, the healthy workers' "
                  "concurrency and the leases held.")
            .numbered_pages()
            .returns("PaginatedWorkerPools"));
  r.add("GET", v2 + "/workers/leases", auth_level::user, bind(list_leases),
        operation("list_worker_leases", "Job leases held", "workers",
                  "The job leases held now, soonest to expire first (a recurring tick's round "
                  "is one too); ?worker_id= narrows them to one worker.")
            .with_query(text_query("worker_id", "Only this worker's leases"))
            .numbered_pages()
            .returns("PaginatedWorkerLeases"));
  r.add("GET", v2 + "/workers/{id}", auth_level::user, bind(get_worker),
        operation("get_worker", "One worker", "workers")
            .with_path(id)
            .returns("WorkerRead")
            .read()
            .fails({404}));
  r.add("POST", v2 + "/workers/{id}/heartbeat", auth_level::user, bind(worker_heartbeat),
        operation("worker_heartbeat", "A registered worker's heartbeat", "workers",
                  "Keeps a worker registered through POST /workers healthy. A beampipe node "
                  "sends its own beats (409).")
            .with_path(id)
            .returns("WorkerHeartbeat")
            .fails({404, 409}));
  r.add("POST", v2 + "/workers/{id}/drain", auth_level::superuser, bind(drain_worker),
        operation("drain_worker", "Drain a worker", "workers",
                  "Records WorkerDrained: from the answer on, the worker claims no new job and "
                  "no scheduler lease; what it holds it finishes. Draining a drained worker "
                  "records nothing.")
            .with_path(id)
            .json_body("WorkerDrainRequest", false)
            .returns("WorkerRead")
            .write()
            .fails({404}));
  r.add("POST", v2 + "/workers/{id}/resume", auth_level::superuser, bind(resume_worker),
        operation("resume_worker", "Resume a drained worker", "workers",
                  "Records WorkerResumed: the worker claims work again.")
            .with_path(id)
            .returns("WorkerRead")
            .write()
            .fails({404}));
}

}  // namespace beampipe::api

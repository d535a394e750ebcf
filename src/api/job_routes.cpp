// /api/v2/jobs: the durable work view (spec §1.6, §2.4 [HEAD]). Jobs are the discovery and
// execute requests in the event history (the jobs read model) joined with the operational
// lease each is claimed under, so an operator sees attempts, next run time, lease owner and
// token, last error and the dead letter in one row; POST /jobs enqueues work and
// POST /jobs/{id}/requeue puts a failed or dead-lettered job back in the queue.
#include "api/api_schemas.hpp"
#include "api/app.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "events/types.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/jobs/queries.hpp"
#include "projections/read_model_names.hpp"
#include "projections/source_registry/queries.hpp"
#include "store/event_store.hpp"
#include "util/ids.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace {

// Namespace of the request ids derived from a client's idempotency key (fixed: changing it
// would let a retried POST enqueue twice).
constexpr const char* kJobKeyNamespace = "3b7d1c52-9e0a-4f6b-8d27-5c1e4a9f0b63";

json::object job_or_404(app_context& ctx, const std::string& id) {
  auto row = read_model(ctx, [&](auto& tx) { return projections::jobs::find(tx, id); });
  if (!row) fail(404, "not_found", "job not found", "id");
  return *row;
}

// GET /jobs: newest first (?status, ?kind, ?project_module; status includes running and
// dead_letter; kinds include the recurring dim_poll_tick and slurm_poll_tick).
response list_jobs(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::jobs});
  auto q = [&](const char* k) { return req.query.count(k) ? req.query.at(k) : std::string(); };
  auto page = page_params(req, 100, 1000);
  projections::jobs::list_filter filter{q("status"), q("kind"), q("project_module")};
  return page_response(read_model(
      ctx, [&](auto& tx) { return projections::jobs::list(tx, filter, page.limit, page.offset); }));
}

// GET /jobs/{id}: the row and its claim history (claimed, recovered, lost, finished).
response get_job(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::jobs});
  auto id = uuid_param(req, "id");
  auto row = job_or_404(ctx, id);
  row["claims"] = query_rows(
      ctx,
      "SELECT jsonb_build_object('attempt', attempt, 'owner', owner, 'token', token, 'action', "
      "action, 'detail', detail, 'at', at) FROM job_claim_history WHERE job_id = $1::uuid "
      "ORDER BY id",
      {id});
  return json_response(200, row);
}

std::string text_field(const json::object& o, const char* k, const std::string& where) {
  auto it = o.find(k);
  if (it == o.end() || !it->value().is_string() || it->value().as_string().empty())
    fail(400, "invalid_field", where + " is required (a non-empty string)", where);
  return std::string(it->value().as_string());
}

// A discovery job is the source's outstanding discovery request.
response discovery_job(app_context& ctx, const request& req, const json::object& payload,
                       const std::string& key) {
  reject_unknown_fields(payload, {"project_module", "source_identifier"}, "payload.");
  auto module = text_field(payload, "project_module", "payload.project_module");
  auto ident = text_field(payload, "source_identifier", "payload.source_identifier");
  auto uuid = domain::source_uuid(module, ident);
  json::object body{{"reason", "job"}};
  // A retried POST with the same key names the same request: the source keeps one.
  if (!key.empty())
    body["request_id"] = util::uuid_v5(kJobKeyNamespace, request_actor(req) + "\x1f" + key);
  return after_recorded(
      ctx, req, domain::source_stream_id(uuid), "request_discovery", body,
      [&ctx, uuid](const actors::command_reply& r) -> response {
        std::optional<std::string> outstanding;
        store::with_connection(ctx.pool, [&](pqxx::connection& c) {
          {
            pqxx::read_transaction tx{c};
            outstanding = projections::source_registry::outstanding_request(tx, uuid);
          }
          // A fast archive may have finished the job before this answer: it is the request
          // this command recorded (its event, at the reply's version).
          if (!outstanding && r.events_appended > 0)
            for (const auto& e :
                 store::read_stream(c, domain::source_stream_id(uuid), r.version, 1))
              if (e.type == events::type::discovery_requested)
                if (auto d = boost::json::parse(e.data); d.as_object().contains("request_id"))
                  outstanding = std::string(d.at("request_id").as_string());
        });
        if (!outstanding)
          fail(409, "discovery_finished", "the source's discovery request already finished",
               "payload.source_identifier");
        return json_response(202, job_or_404(ctx, *outstanding));
      });
}

// An execute job is the execution's execute request (the same as POST
// /executions/{id}/execute).
response execute_job(app_context& ctx, const request& req, const std::string& execution_id,
                     const json::object& payload) {
  reject_unknown_fields(payload, {"do_stage", "do_submit"}, "payload.");
  return after_recorded(ctx, req, domain::execution_stream_id(execution_id), "request_execute",
                        payload, [&ctx, execution_id](const actors::command_reply&) -> response {
                          auto job = read_model(ctx, [&](auto& tx) {
                            return projections::execution_ledger::execute_job_id(tx, execution_id);
                          });
                          if (!job) fail(404, "not_found", "execution not found", "execution_id");
                          return json_response(202, job_or_404(ctx, *job));
                        });
}

// POST /jobs {kind, payload, execution_id?, idempotency_key?} → 202 JobRow.
response post_job(app_context& ctx, request& req) {
  auto body = parse_body(req);
  reject_unknown_fields(body, {"kind", "payload", "execution_id", "idempotency_key"});
  auto kind = text_field(body, "kind", "kind");
  json::object payload;
  if (auto p = body.find("payload"); p != body.end() && !p->value().is_null()) {
    if (!p->value().is_object()) fail(400, "invalid_field", "payload must be an object", "payload");
    payload = p->value().as_object();
  }
  std::string key;
  if (auto k = body.find("idempotency_key"); k != body.end() && !k->value().is_null()) {
    if (!k->value().is_string() || k->value().as_string().empty() ||
        k->value().as_string().size() > 200)
      fail(400, "invalid_field", "idempotency_key must be a string of 1 to 200 characters",
           "idempotency_key");
    key = std::string(k->value().as_string());
  }
  if (kind == "discover_source") {
    if (body.contains("execution_id"))
      fail(400, "invalid_field", "discover_source jobs take no execution_id", "execution_id");
    return discovery_job(ctx, req, payload, key);
  } else if (kind == "execute") {
    auto id = body.contains("execution_id") ? text_field(body, "execution_id", "execution_id")
                                            : std::string();
    if (id.empty()) fail(400, "invalid_field", "execution_id is required", "execution_id");
    if (!util::is_uuid(id))
      fail(400, "invalid_field", "execution_id must be a uuid", "execution_id");
    return execute_job(ctx, req, id, payload);
  }
  fail(400, "unknown_job_kind", "unknown job kind " + kind, "kind");
}

// POST /jobs/{id}/requeue {reason?}: a failed or dead-lettered discovery job runs again as
// the next attempt of the same request. An execute job is requeued by retrying its execution.
response requeue_job(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  reject_unknown_fields(body, {"reason"});
  json::value reason = "requeue";
  if (auto r = body.find("reason"); r != body.end()) {
    if (!r->value().is_string() || r->value().as_string().empty() ||
        r->value().as_string().size() > 500)
      fail(400, "invalid_field", "reason must be a string of 1 to 500 characters", "reason");
    reason = r->value();
  }
  auto job = job_or_404(ctx, id);
  auto status = std::string(job.at("status").as_string());
  if (job.at("kind").as_string() != "discover_source")
    fail(409, "requeue_via_retry",
         "execute jobs are requeued with POST /api/v2/executions/{id}/retry", "id");
  if (status != "failed" && status != "dead_letter")
    fail(409, "not_requeueable",
         "only failed or dead-lettered jobs can be requeued (this one is " + status + ")", "id");
  auto uuid = domain::source_uuid(std::string(job.at("project_module").as_string()),
                                  std::string(job.at("subject").as_string()));
  return after_recorded(ctx, req, domain::source_stream_id(uuid), "requeue_discovery",
                        {{"request_id", id}, {"reason", reason}},
                        [&ctx, id](const actors::command_reply& r) -> response {
                          return with_position(json_response(202, job_or_404(ctx, id)), r.position);
                        });
}

}  // namespace

void add_job_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  const auto id = uuid_path("id", "Job id");
  r.add("GET", v2 + "/jobs", auth_level::user, bind(list_jobs),
        operation("list_jobs", "List jobs", "jobs",
                  "Newest first, with the lease each job is claimed under.")
            .returns_list("JobRow")
            .with_query(text_query(
                "status", "Only jobs in this status",
                {"queued", "running", "completed", "failed", "dead_letter", "cancelled"}))
            .with_query(text_query("kind", "Only jobs of this kind (e.g. discover_source)"))
            .with_query(text_query("project_module", "Only this project's jobs"))
            .paged(100, 1000)
            .read());
  r.add("POST", v2 + "/jobs", auth_level::superuser, bind(post_job),
        operation("enqueue_job", "Enqueue job", "jobs",
                  "A discovery of a source or the execute request of an execution; the same "
                  "idempotency_key names the same job.")
            .json_body("JobCreate")
            .returns("JobRow", 202)
            .fails({404, 409})
            .limited());
  r.add("GET", v2 + "/jobs/{id}", auth_level::user, bind(get_job),
        operation("get_job", "Get job", "jobs", "The job and its claim history.")
            .with_path(id)
            .returns("JobDetail")
            .read()
            .fails({404}));
  r.add("POST", v2 + "/jobs/{id}/requeue", auth_level::superuser, bind(requeue_job),
        operation("requeue_job", "Requeue a failed job", "jobs",
                  "A failed or dead-lettered discovery job runs again as its next attempt.")
            .with_path(id)
            .json_body("RequeueRequest")
            .returns("JobRow", 202)
            .write()
            .fails({404, 409}));
}

}  // namespace beampipe::api

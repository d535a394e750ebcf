#include "api/handler_support.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "store/event_store.hpp"
#include "util/ids.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"
#include "util/time.hpp"

namespace beampipe::api {
namespace json = boost::json;

[[noreturn]] void fail(int status, std::string code, std::string message, std::string field) {
  throw api_error{status, std::move(code), std::move(message), std::move(field)};
}

json::object parse_body(const request& req) {
  auto ct = req.header("content-type");
  auto semi = ct.find(';');
  auto media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.pop_back();
  for (auto& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // PATCH bodies are JSON merge patches (RFC 7396), so their own media type is taken too.
  if (media != "application/json" &&
      !(media == "application/merge-patch+json" && req.method == "PATCH"))
    fail(415, "unsupported_media_type", "request body must be application/json", "Content-Type");
  return checked_json(req.body, "request body");
}

json::object checked_json(std::string_view text, const std::string& what) {
  std::string err;
  // Parsed deeper than allowed, so the input rule can name the field that nests too deeply.
  auto v = util::parse_json(text, &err, util::kEventDepth);
  if (!v) fail(400, "malformed_json", what + " is not valid JSON: " + err, "body");
  if (!v->is_object()) fail(400, "invalid_body", what + " must be a JSON object", "body");
  if (auto p = util::input_problem_of(*v))
    fail(400, "invalid_field", (p->field.empty() ? what : p->field) + " " + p->message,
         p->field.empty() ? "body" : p->field);
  return std::move(v->as_object());
}

void reject_unknown_fields(const json::object& body, std::initializer_list<std::string_view> known,
                           const std::string& prefix) {
  for (const auto& kv : body)
    if (std::find(known.begin(), known.end(), kv.key()) == known.end())
      fail(400, "unknown_field", "unknown field '" + prefix + std::string(kv.key()) + "'",
           prefix + std::string(kv.key()));
}

std::string sql_text(std::initializer_list<const char*> parts) {
  std::string q;
  for (const char* p : parts) q.append(p);
  return q;
}

int64_t int_param(const request& req, const std::string& name, int64_t fallback, int64_t lo,
                  int64_t hi) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty()) return fallback;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size())
    fail(400, "invalid_query", name + " must be an integer", name);
  if (v < lo || v > hi)
    fail(400, "invalid_query",
         name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi), name);
  return v;
}

std::optional<bool> bool_param(const request& req, const std::string& name) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty()) return std::nullopt;
  if (it->second == "true" || it->second == "1") return true;
  if (it->second == "false" || it->second == "0") return false;
  fail(400, "invalid_query", name + " must be true or false", name);
}

std::string uuid_param(const request& req, const std::string& name) {
  auto v = req.path_params.at(name);
  if (!util::is_uuid(v)) fail(400, "invalid_id", name + " must be a UUID", name);
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v;
}

bool as_of_point::includes(const events::recorded_event& e) const {
  if (position) return e.position <= *position;
  auto at = util::parse_rfc3339(e.recorded_at);
  return !at || !time || *at <= *time;
}

std::optional<as_of_point> as_of_param(const request& req) {
  bool by_position = req.query.count("as_of_position") > 0;
  bool by_time = req.query.count("as_of") > 0;
  if (!by_position && !by_time) return std::nullopt;
  if (by_position && by_time)
    fail(400, "invalid_query", "give as_of_position or as_of, not both", "as_of");
  as_of_point p;
  if (by_position) {
    p.position = int_param(req, "as_of_position", 0, 1, std::numeric_limits<int64_t>::max());
  } else {
    p.time = util::parse_rfc3339(req.query.at("as_of"));
    if (!p.time) fail(400, "invalid_query", "as_of must be an RFC 3339 time", "as_of");
  }
  return p;
}

json::object history_step(const events::recorded_event& e, json::object state) {
  auto meta = events::event_metadata::from_json(e.metadata);
  auto or_null = [](const std::string& v) {
    return v.empty() ? json::value(nullptr) : json::value(v);
  };
  return json::object{{"position", e.position},
                      {"stream_version", e.stream_version},
                      {"type", e.type},
                      {"recorded_at", e.recorded_at},
                      {"actor", or_null(meta.actor)},
                      {"correlation_id", or_null(meta.correlation_id)},
                      {"state", std::move(state)}};
}

std::vector<events::recorded_event> replayable_stream(app_context& ctx,
                                                      const std::string& stream_id,
                                                      const std::string& what,
                                                      const std::string& field) {
  constexpr int64_t kMaxEvents = 10000;
  std::vector<events::recorded_event> evs;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    evs = store::read_stream(c, stream_id, 1, kMaxEvents + 1);
  });
  if (evs.empty()) fail(404, "not_found", what + " not found", field);
  if (static_cast<int64_t>(evs.size()) > kMaxEvents)
    fail(422, "too_long", what + " has more than 10000 events", field);
  return evs;
}

// Read-your-writes: block (bounded) until the named read models have applied `position`.
namespace {

// Answers a wait that did not reach its target: at once when a runner it needs is failing,
// on shutdown, or after its budget.
[[noreturn]] void unreached(app_context& ctx, projections::projection_watch::wait_result r,
                            const events::read_position& target, std::chrono::milliseconds budget,
                            const std::vector<std::string>& reads) {
  using wait_result = projections::projection_watch::wait_result;
  auto position = std::to_string(target.position);
  if (r == wait_result::stalled) {
    // Waiting cannot help while a runner fails: say so at once, naming what is behind.
    std::string names;
    for (const auto& n : ctx.watch.behind(target, reads)) names += (names.empty() ? "" : ", ") + n;
    fail(503, "projection_stalled",
         "read model " + (names.empty() ? std::string("projections") : names) +
             " cannot reach position " + position + ": the projection runner is failing (" +
             ctx.watch.failure(reads) + ")",
         "min_position");
  }
  if (r == wait_result::stopping)
    fail(503, "shutting_down", "beampipe is shutting down", "min_position");
  fail(503, "projection_lag",
       "read models have not reached position " + position + " within " +
           std::to_string(budget.count()) + " ms",
       "min_position");
}

std::optional<events::read_position> position_in_store(app_context& ctx, int64_t position) {
  std::optional<events::read_position> target;
  store::with_connection(
      ctx.pool, [&](pqxx::connection& c) { target = store::read_position_of(c, position); });
  return target;
}

[[noreturn]] void unknown_position(int64_t position) {
  fail(400, "unknown_position", "no event at position " + std::to_string(position), "min_position");
}

}  // namespace

void wait_for_position(app_context& ctx, int64_t position, std::chrono::milliseconds budget,
                       const std::vector<std::string>& reads) {
  if (position <= 0) return;
  auto target = position_in_store(ctx, position);
  if (!target) unknown_position(position);
  auto r = ctx.watch.wait_for(*target, std::chrono::steady_clock::now() + budget, reads);
  if (r != projections::projection_watch::wait_result::reached)
    unreached(ctx, r, *target, budget, reads);
}

void honour_min_position(app_context& ctx, const request& req,
                         const std::vector<std::string>& reads) {
  auto pos = int_param(req, "min_position", 0, 0, INT64_MAX);
  auto budget = std::chrono::milliseconds(
      int_param(req, "wait_ms", ctx.default_wait.count(), 0, ctx.max_wait.count()));
  if (pos > 0) {
    auto now = std::chrono::steady_clock::now();
    if (!req.wait_deadline) req.wait_deadline = now + budget;
    auto deadline = *req.wait_deadline;
    bool waiting = req.may_defer && now < deadline;
    auto target = position_in_store(ctx, pos);
    if (!target) {
      if (pos <= ctx.watch.head()) unknown_position(pos);
      if (ctx.watch.stopping())
        fail(503, "shutting_down", "beampipe is shutting down", "min_position");
      if (waiting) throw deferred_read{{std::nullopt, pos, reads}, deadline};
      fail(503, "projection_lag",
           "no event was written at position " + std::to_string(pos) + " within " +
               std::to_string(budget.count()) + " ms",
           "min_position");
    }
    // A request that can be put off only looks; one that cannot (call_as) waits here.
    auto r = ctx.watch.wait_for(*target, req.may_defer ? now : deadline, reads);
    using wait_result = projections::projection_watch::wait_result;
    if (r == wait_result::timed_out && waiting) throw deferred_read{{target, 0, reads}, deadline};
    if (r != wait_result::reached) unreached(ctx, r, *target, budget, reads);
  }
  req.read_at = ctx.watch.applied(reads);
  req.read_models = reads;
}

const char* tap_state(const app_context& ctx, const std::string& service) {
  if (ctx.archive == "simulated") return "simulated";
  return ctx.archive.find(service + "=-") == std::string::npos ? "configured" : "not_configured";
}

std::optional<std::string> profile_param(const request& req) {
  auto it = req.query.find("profile");
  if (it == req.query.end()) return std::nullopt;
  if (it->second.empty() || it->second.size() > 100)
    fail(400, "invalid_parameter", "a profile name is 1..100 characters", "profile");
  return it->second;
}

std::string request_actor(const request& req) {
  if (!req.user.system_actor.empty()) return req.user.system_actor;
  return req.user.user_uuid.empty() ? "system:api" : "user:" + req.user.user_uuid;
}

int http_status(actors::outcome o) {
  using actors::outcome;
  switch (o) {
    case outcome::done:
      return 200;
    case outcome::created:
      return 201;
    case outcome::invalid:
      return 400;
    case outcome::unauthenticated:
      return 401;
    case outcome::not_found:
      return 404;
    case outcome::conflict:
      return 409;
    case outcome::invalid_document:
      return 422;
    case outcome::unavailable:
      return 503;
    case outcome::timed_out:
      return 504;
    case outcome::failed:
      break;
  }
  return 500;
}

void fail_with(const actors::command_reply& r) {
  throw api_error{
      http_status(r.result), r.code.empty() ? "error" : r.code, r.message, r.field,
      r.details_json.empty() ? json::value(nullptr) : util::parse_stored(r.details_json)};
}

void fail_with(const domain::command_error& e, const std::string& field) {
  throw api_error{http_status(actors::refused_as(e.kind)), e.code, e.message,
                  field.empty() ? e.field : field, e.details};
}

actors::command_request command_for(const request& req, std::string stream_id, std::string name,
                                    json::object body) {
  actors::command_request cr;
  cr.stream_id = std::move(stream_id);
  cr.cmd.name = std::move(name);
  cr.cmd.body = std::move(body);
  cr.cmd.actor = request_actor(req);
  cr.correlation_id = req.correlation_id;
  return cr;
}

actors::command_reply run_command(app_context& ctx, actors::command_request command) {
  auto r = ctx.runtime.send_sync(std::move(command));
  if (!r.ok()) fail_with(r);
  return r;
}

response after_recorded(app_context& ctx, const request& req, std::string stream_id,
                        std::string name, json::object body,
                        std::function<response(const actors::command_reply&)> answer,
                        write_hooks hooks) {
  // `req` outlives the continuation: the dispatch keeps the request until it is answered.
  auto then = [&ctx, &req, answer = std::move(answer),
               hooks = std::move(hooks)](actors::command_reply r) -> response {
    if (!r.ok()) {
      if (hooks.refused && http_status(r.result) < 500) hooks.refused();
      fail_with(r);
    }
    if (hooks.recorded) hooks.recorded();
    return after_applied(ctx, req, r.position, [answer, r] { return answer(r); });
  };
  auto cr = command_for(req, std::move(stream_id), std::move(name), std::move(body));
  if (!req.may_defer) return then(ctx.runtime.send_sync(std::move(cr)));
  std::vector<actors::command_request> one;
  one.push_back(std::move(cr));
  throw deferred_command{std::move(one),
                         [then = std::move(then)](std::vector<actors::command_reply> r) {
                           return then(std::move(r.at(0)));
                         }};
}

response after_replies(app_context& ctx, const request& req,
                       std::vector<actors::command_request> commands,
                       std::function<response(std::vector<actors::command_reply>)> answer) {
  constexpr auto kTimeout = std::chrono::seconds(60);
  if (commands.empty()) return answer({});
  if (!req.may_defer) return answer(ctx.runtime.send_all(std::move(commands), kTimeout));
  throw deferred_command{std::move(commands), std::move(answer), kTimeout};
}

std::optional<json::object> query_row(app_context& ctx, const std::string& sql,
                                      const std::string& key) {
  std::optional<json::object> out;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(sql, key);
    if (!r.empty()) out = util::parse_stored(r[0][0].c_str()).as_object();
  });
  return out;
}

json::array query_rows(app_context& ctx, const std::string& sql,
                       const std::vector<std::string>& params, int64_t* total) {
  json::array out;
  store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    // Parameters are passed as text and cast in the SQL (libpqxx 6 has no dynamic params).
    pqxx::result r;
    switch (params.size()) {
      case 0:
        r = tx.exec(sql);
        break;
      case 1:
        r = tx.exec_params(sql, params[0]);
        break;
      case 2:
        r = tx.exec_params(sql, params[0], params[1]);
        break;
      case 3:
        r = tx.exec_params(sql, params[0], params[1], params[2]);
        break;
      case 4:
        r = tx.exec_params(sql, params[0], params[1], params[2], params[3]);
        break;
      case 5:
        r = tx.exec_params(sql, params[0], params[1], params[2], params[3], params[4]);
        break;
      default:
        throw std::logic_error("too many parameters");
    }
    for (const auto& row : r) {
      out.push_back(util::parse_stored(row[0].c_str()));
      if (total && row.size() > 1) *total = row[1].as<int64_t>();
    }
  });
  return out;
}

response delete_and_wait(app_context& ctx, const request& req, std::string stream_id,
                         json::object body, write_hooks hooks) {
  return after_recorded(
      ctx, req, std::move(stream_id), "delete", std::move(body),
      [](const actors::command_reply& r) {
        response res;
        res.status = 204;
        return with_position(res, r.position);
      },
      std::move(hooks));
}

response after_applied(app_context& ctx, const request& req, int64_t position,
                       std::function<response()> answer) {
  if (position <= 0) return answer();
  if (!req.may_defer) {
    wait_for_position(ctx, position, ctx.max_wait);
    return answer();
  }
  auto target = position_in_store(ctx, position);
  if (!target) unknown_position(position);
  using wait_result = projections::projection_watch::wait_result;
  const auto budget = ctx.max_wait;
  auto look = ctx.watch.wait_for(*target, std::chrono::steady_clock::now());
  if (look == wait_result::reached) return answer();
  if (look != wait_result::timed_out) unreached(ctx, look, *target, budget, {});
  // Woken by the watch or by the deadline: only a look, never a wait, on the handler pool.
  auto then = [&ctx, target = *target, budget, answer = std::move(answer)]() -> response {
    auto r = ctx.watch.wait_for(target, std::chrono::steady_clock::now());
    if (r != wait_result::reached) unreached(ctx, r, target, budget, {});
    return answer();
  };
  throw deferred_read{{*target, 0, {}}, std::chrono::steady_clock::now() + budget, then};
}

response with_position(response r, int64_t position) {
  r.headers.emplace_back("X-Beampipe-Position", std::to_string(position));
  return r;
}

events::read_position read_position_or_400(pqxx::connection& c, int64_t position,
                                           const std::string& field) {
  if (position == 0) return {};
  auto p = store::read_position_of(c, position);
  if (!p) fail(400, "unknown_position", "no event at position " + std::to_string(position), field);
  return *p;
}

}  // namespace beampipe::api

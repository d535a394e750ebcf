#pragma once
// Helpers shared by the route handlers: body and query parsing with field-named errors,
// commands to aggregates, read-your-writes waits and read-model queries.
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/app.hpp"
#include "store/db.hpp"

namespace beampipe::api {

[[noreturn]] void fail(int status, std::string code, std::string message, std::string field = "");
// An application/json body, checked by the input rule (util/input_rules.hpp): 400 naming the
// field that carries NUL, control characters or too much depth or size.
boost::json::object parse_body(const request& req);
// The same for JSON text that arrives some other way (`what` names it in errors).
boost::json::object checked_json(std::string_view text, const std::string& what);
// 400 unknown_field naming the first key of `body` outside `known` (prefix: where the object
// sits in the request, e.g. "payload.").
void reject_unknown_fields(const boost::json::object& body,
                           std::initializer_list<std::string_view> known,
                           const std::string& prefix = "");
// SQL text from pieces, appended (GCC 12 misreports long std::string operator+ chains).
std::string sql_text(std::initializer_list<const char*> parts);
int64_t int_param(const request& req, const std::string& name, int64_t fallback, int64_t lo,
                  int64_t hi);
std::optional<bool> bool_param(const request& req, const std::string& name);
std::string uuid_param(const request& req, const std::string& name);
// Time travel (?as_of_position=N | ?as_of=RFC 3339 time): the point a stream is replayed to.
struct as_of_point {
  std::optional<int64_t> position;
  std::optional<std::chrono::system_clock::time_point> time;
  // Whether the event happened at or before the point.
  bool includes(const events::recorded_event& e) const;
};
// The request's point, if it asks for one; 400 naming the parameter when it is malformed or
// both are given.
std::optional<as_of_point> as_of_param(const request& req);
// One step of a history (GET …/history): the event (position, version, type, time, who did it,
// correlation id) and the state it left its entity in.
boost::json::object history_step(const events::recorded_event& e, boost::json::object state);
// A stream's events, oldest first, for replaying whole (time travel, histories): 404 naming
// `field` when the stream is empty, 422 past 10,000 events.
std::vector<events::recorded_event> replayable_stream(app_context& ctx,
                                                      const std::string& stream_id,
                                                      const std::string& what,
                                                      const std::string& field);
// Blocks (bounded) until the read models `reads` (projections::model names; empty: every one)
// have applied the event at `position`.
void wait_for_position(app_context& ctx, int64_t position, std::chrono::milliseconds budget,
                       const std::vector<std::string>& reads = {});
// The read position of the event at `position` (0: before the first event); 400
// unknown_position naming `field` when there is none.
events::read_position read_position_or_400(pqxx::connection& c, int64_t position,
                                           const std::string& field);
// Thrown by honour_min_position when a request that may be put off (request::may_defer) has
// to wait: the dispatch registers the wait and runs the request again when it ends.
// A write whose answer waits for the read models throws it with `then`: the dispatch runs
// `then` instead of the request once the wait ends, so the command is never sent twice.
struct deferred_read {
  projections::projection_watch::interest what;
  std::chrono::steady_clock::time_point deadline;
  std::function<response()> then = nullptr;
};
// Thrown by a handler whose request may be put off, to send commands without waiting for the
// aggregates: the dispatch sends them at once (commands to different streams share group
// commits) and runs `then` with the replies, in request order, on the handler pool. A reply
// missing at `timeout` is actors::timed_out_reply().
struct deferred_command {
  std::vector<actors::command_request> commands;
  std::function<response(std::vector<actors::command_reply>)> then;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};
// Thrown by a handler whose request may be put off, to run its work on another thread (the
// execution admission gate's): `start(finish)` hands the work off and returns; the work calls
// `finish(next)` once, from any thread, and the request resumes with `next` on the handler pool
// (`next` may throw, as a handler). Unfinished at `timeout`: 504.
struct deferred_task {
  using finish_fn = std::function<void(std::function<response()>)>;
  std::function<void(finish_fn)> start;
  std::chrono::milliseconds timeout;
};
// Thrown by a handler whose request may be put off, to answer with a stream: the dispatch
// writes `head` and hands the connection to `source` (GET /events/stream).
struct deferred_stream {
  response head;
  std::shared_ptr<stream_source> source;
};
// Sends every command and answers `answer(replies)` without holding a thread on a request that
// may be put off (60 s for the last reply, as runtime::send_all); `answer` must own what it uses.
response after_replies(app_context& ctx, const request& req,
                       std::vector<actors::command_request> commands,
                       std::function<response(std::vector<actors::command_reply>)> answer);
// A command from the request: its actor and correlation id.
actors::command_request command_for(const request& req, std::string stream_id, std::string name,
                                    boost::json::object body);
// The write path: sends the command, waits until every read model has applied it
// (read-your-writes), then answers `answer(reply)`. Neither wait holds a thread on a request
// that may be put off (deferred_command, then deferred_read::then), so `answer` must own what it
// uses (capture by value; ctx by reference). A refused command throws as run_command does.
struct write_hooks {
  std::function<void()> recorded;  // once the command is recorded, before the read-model wait
  std::function<void()> refused;   // when the aggregate refused it (4xx), before the error
};
response after_recorded(app_context& ctx, const request& req, std::string stream_id,
                        std::string name, boost::json::object body,
                        std::function<response(const actors::command_reply&)> answer,
                        write_hooks hooks = {});
// Read-your-writes without holding a thread: `answer()` once every read model has applied the
// event at `position` (at most ctx.max_wait, then 503 projection_lag as wait_for_position). On
// a request that may be put off the wait is handed to the dispatch (deferred_read::then), so
// `answer` must own what it uses (capture by value; ctx by reference). Otherwise it blocks.
response after_applied(app_context& ctx, const request& req, int64_t position,
                       std::function<response()> answer);
// Honours ?min_position=N&wait_ms=M on a read of the read models `reads` (empty: every one).
// A position not written yet is waited for too (it may be a write still on its way); one
// below the newest written that names no event is refused. Must run before the handler does
// anything else: a put-off request runs again from the start.
void honour_min_position(app_context& ctx, const request& req,
                         const std::vector<std::string>& reads = {});
// Who a command is recorded as: "user:<uuid>" for a signed-in caller, else "system:api".
// Idempotency keys are scoped by the same string, so two users never share a key.
std::string request_actor(const request& req);
// How discovery reaches a TAP service ("casda", "vizier"), from app_context::archive:
// "simulated" (no TAP URL set), "configured" or "not_configured". /ready and /overview.
const char* tap_state(const app_context& ctx, const std::string& service);
// ?profile=NAME (1..100 characters) when given.
std::optional<std::string> profile_param(const request& req);
// The one table from how a command ended to the HTTP status the API answers.
int http_status(actors::outcome o);
// Throws the api_error a command that was not applied answers with.
[[noreturn]] void fail_with(const actors::command_reply& r);
// Throws the api_error of a domain refusal met before any command was sent; `field` (when
// given) names where the refused input sits in the request.
[[noreturn]] void fail_with(const domain::command_error& e, const std::string& field = "");
// Sends a command and waits for its reply (on a thread that may block: the admission gate's,
// or a request that cannot be put off); a refusal becomes an api_error.
actors::command_reply run_command(app_context& ctx, actors::command_request command);
// First column of the first row, parsed as a JSON object.
std::optional<boost::json::object> query_row(app_context& ctx, const std::string& sql,
                                             const std::string& key);
// First column of every row parsed as JSON; the second column, if any, is the total count.
boost::json::array query_rows(app_context& ctx, const std::string& sql,
                              const std::vector<std::string>& params, int64_t* total = nullptr);
response with_position(response r, int64_t position);

// Asks a read model's slice a question: `ask(tx)` in a read transaction on a pooled
// connection, answering what it returns.
template <class Ask>
auto read_model(app_context& ctx, Ask&& ask) {
  return store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    return ask(tx);
  });
}

// The same for a question the slice answers with one statement: no transaction around it (a
// statement sees one snapshot of its own), one round trip instead of three.
template <class Ask>
auto read_model_statement(app_context& ctx, Ask&& ask) {
  return store::with_connection(ctx.pool, [&](pqxx::connection& c) {
    pqxx::nontransaction tx{c};
    return ask(tx);
  });
}

// The write path of most handlers: send a command, wait until the read models have applied
// it (read-your-writes), then answer `status` with what `read()` returns.
// `read` runs after the handler returned (after_recorded): it must own what it uses.
template <class Read>
response write_then_read(app_context& ctx, const request& req, std::string stream_id,
                         std::string name, boost::json::object body, int status, Read read,
                         write_hooks hooks = {}) {
  return after_recorded(
      ctx, req, std::move(stream_id), std::move(name), std::move(body),
      [status, read = std::move(read)](const actors::command_reply& r) {
        return with_position(json_response(status, read()), r.position);
      },
      std::move(hooks));
}

// The delete path: send the command, wait until the read models have applied it, answer 204.
response delete_and_wait(app_context& ctx, const request& req, std::string stream_id,
                         boost::json::object body, write_hooks hooks = {});

// Binds a handler function to the app context for router::add.
inline handler bound(app_context& ctx, response (*fn)(app_context&, request&)) {
  return [&ctx, fn](request& q) { return fn(ctx, q); };
}
inline const std::string kApiV2 = "/api/v2";

// The other route groups take a route_binder (api/route_table.hpp).

}  // namespace beampipe::api

#pragma once
// Transport-neutral request/response types and the route table. Handlers are plain
// synchronous functions run on the API's blocking pool (never on Beast's io threads or on
// CAF's scheduler), so they may query PostgreSQL and wait for actor replies. A read that
// must wait for its read models does not wait there: it is put off (exchange) and run again.
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::api {

// Who sent the request, once the auth hook has accepted its bearer token.
struct principal {
  std::string user_uuid;  // empty: anonymous (an open route)
  std::string username;
  bool superuser = false;
  std::string system_actor;  // in-process callers (call_as): the actor their events record
  std::string session_family = std::string();  // the sign-in its token belongs to
};

class router;

struct request {
  std::string method;
  std::string target;  // raw target
  std::string path;    // decoded path without query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> path_params;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string correlation_id;
  std::string peer;
  principal user;
  const router* routes = nullptr;  // the table that dispatched it (GET /openapi.json shows it)
  // A consistent read: the position its read models had applied when it began, and which read
  // models those are. It is answered with X-Beampipe-Position = what they have applied once it
  // is done, so a client passing that on as ?min_position to a read of other models sees at
  // least what this answer showed (a projection may apply more while the read runs).
  mutable int64_t read_at = 0;
  mutable std::vector<std::string> read_models;
  // Set by the asynchronous dispatch: a read waiting for its read models (?min_position) is
  // put off rather than holding a handler thread, and runs again once they moved or when
  // wait_deadline (fixed by its first run) passes.
  bool may_defer = false;
  bool resumed = false;  // this is such a run again: authenticated already
  mutable std::optional<std::chrono::steady_clock::time_point> wait_deadline;
  std::string header(const std::string& lower_name) const;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The body of a streamed answer (text/event-stream), pulled by the connection one piece at a
// time: the connection asks for the next piece when the last one is written, and waits for
// wake() when next() has nothing. What is not pulled stays with the source, which bounds it.
class stream_sink {
 public:
  virtual ~stream_sink() = default;
  virtual void wake() = 0;  // there is something to pull (any thread)
};
class stream_source {
 public:
  struct piece {
    std::string bytes;
    bool last = false;  // the stream ends once this piece is written
  };
  virtual ~stream_source() = default;
  // Once, when the head is written: how to tell the connection there is more.
  virtual void attached(std::shared_ptr<stream_sink> sink) = 0;
  // The next piece, or nothing for now (called on the connection's I/O thread: never blocks).
  virtual std::optional<piece> next() = 0;
  // The connection is gone (client closed, a write failed or timed out, the server stops):
  // once, from whichever thread.
  virtual void closed() = 0;
};

// One request's way back to its client, given by the server with the request: answered once,
// from any thread; work that was put off runs on the handler pool, timers on the I/O threads.
class exchange {
 public:
  virtual ~exchange() = default;
  virtual void respond(response r) = 0;
  // Answers with `head` (its body ignored) and then the source's pieces, chunked, until the
  // source says last or the connection goes; the connection is not reused after.
  virtual void stream(response head, std::shared_ptr<stream_source> source) = 0;
  virtual void run(std::function<void()> work) = 0;
  // Runs `fn` at `when` (on an I/O thread: it must only hand work off); the returned function
  // cancels it.
  virtual std::function<void()> at(std::chrono::steady_clock::time_point when,
                                   std::function<void()> fn) = 0;
};

response json_response(int status, const boost::json::value& v);
// The one error shape: {"detail": message, "code": code, "field": field?}.
response error_response(int status, const std::string& code, const std::string& message,
                        const std::string& field = "", const boost::json::value& errors = nullptr);

// Thrown by handlers for a clean 4xx/5xx answer.
struct api_error {
  int status;
  std::string code;
  std::string message;
  std::string field;
  boost::json::value errors = nullptr;  // field-level details, e.g. validation diagnostics
};

enum class auth_level { open, user, superuser };

using handler = std::function<response(request&)>;

// A query, path or header parameter as the OpenAPI document describes it.
struct param_doc {
  std::string name;
  std::string type = "string";  // string | integer | boolean
  std::string description;
  std::string format;                                 // e.g. uuid
  std::optional<int64_t> minimum, maximum, fallback;  // integers: range and default
  std::vector<std::string> one_of;                    // allowed values
  bool required = false;
};

// How a request or a success response carries its body.
enum class body_kind { none, json, config_text, json_or_form, binary };
enum class reply_kind { json, empty, text, binary, html, javascript, event_stream };

// What the route table says about a route beyond dispatch: the OpenAPI document is generated
// from it (src/api/openapi.cpp) and the auth guard reads rate_limited. Schema names refer to
// components in src/api/api_schemas.cpp. A route without an operation_id is undocumented,
// which the contract tests refuse.
struct route_doc {
  std::string operation_id;
  std::string summary;
  std::string tag;
  std::string description;
  body_kind body = body_kind::none;
  std::string body_schema;  // the request body's component (json, json_or_form)
  bool body_required = true;
  std::vector<param_doc> path;     // path parameters ({x} segments not listed: plain strings)
  std::vector<param_doc> query;    // query parameters
  std::vector<param_doc> headers;  // request headers (e.g. Idempotency-Key)
  int status = 200;                // the success status
  std::vector<int> also;           // other success statuses answering the same body
  reply_kind reply = reply_kind::json;
  std::string schema;         // the success body's component (reply json)
  bool array = false;         // the success body is an array of `schema`
  bool total_count = false;   // lists: X-Total-Count carries the total matching rows
  bool position = false;      // writes: X-Beampipe-Position names the appended event
  bool consistent = false;    // reads honouring ?min_position&wait_ms (read-your-writes)
  std::vector<int> errors;    // error statuses besides the ones derived from auth and input
  bool rate_limited = false;  // counted per client by the auth guard (429 past the limit)
  // Every read of the route goes through a read cache (read_cache.hpp), so it is tried on the
  // I/O thread first and reaches the handler pool only on a miss.
  bool cached = false;
  // Besides a bearer header, a single-use stream ticket in ?ticket= is accepted (the browser's
  // EventSource cannot send headers).
  bool ticketed = false;

  // Chainable setters, so a registration reads as one expression.
  route_doc& json_body(std::string component, bool required = true) {
    body = body_kind::json;
    body_schema = std::move(component);
    body_required = required;
    return *this;
  }
  route_doc& returns(std::string component, int code = 200) {
    reply = reply_kind::json;
    schema = std::move(component);
    status = code;
    return *this;
  }
  // A JSON array of `component` with its total in X-Total-Count (spec: paging with totals).
  route_doc& returns_list(std::string component) {
    returns(std::move(component));
    array = true;
    total_count = true;
    return *this;
  }
  route_doc& no_content(int code = 204) {
    reply = reply_kind::empty;
    status = code;
    return *this;
  }
  // ?limit (1..max, default fallback) and ?offset: one page of a list.
  route_doc& paged(int64_t fallback, int64_t max) {
    param_doc l{"limit", "integer", "Page size", "", 1, max, fallback, {}, false};
    param_doc o{"offset", "integer", "Rows to skip", "", 0, std::nullopt, 0, {}, false};
    query.push_back(std::move(l));
    query.push_back(std::move(o));
    return *this;
  }
  // ?page (from 1) and ?items_per_page (1..500, default 50): a numbered page, answered as
  // {items, total, page, items_per_page} (api/paging.hpp).
  route_doc& numbered_pages() {
    query.push_back({"page", "integer", "Page number", "", 1, 1000000, 1, {}, false});
    query.push_back({"items_per_page", "integer", "Page size", "", 1, 500, 50, {}, false});
    return *this;
  }
  route_doc& with_path(param_doc p) {
    path.push_back(std::move(p));
    return *this;
  }
  route_doc& with_query(param_doc p) {
    query.push_back(std::move(p));
    return *this;
  }
  route_doc& fails(std::initializer_list<int> codes) {
    errors.insert(errors.end(), codes);
    return *this;
  }
  route_doc& write() {
    position = true;
    return *this;
  }
  route_doc& read() {
    consistent = true;
    return *this;
  }
  route_doc& from_cache() {
    cached = true;
    return *this;
  }
  route_doc& with_ticket() {
    ticketed = true;
    return *this;
  }
  route_doc& limited() {
    rate_limited = true;
    return *this;
  }
};

inline route_doc operation(std::string id, std::string summary, std::string tag,
                           std::string description = "") {
  route_doc d;
  d.operation_id = std::move(id);
  d.summary = std::move(summary);
  d.tag = std::move(tag);
  d.description = std::move(description);
  return d;
}

struct route {
  std::string method;
  std::string pattern;  // "/api/v2/sources/{id}"
  auth_level auth = auth_level::user;
  handler fn;
  std::vector<std::string> segments;
  route_doc doc;
};

class router {
 public:
  void add(std::string method, std::string pattern, auth_level auth, handler fn,
           route_doc doc = {});
  struct match {
    const route* r = nullptr;
    bool path_known = false;  // some route has this path (→ 405 when the method differs)
    std::vector<std::string> allowed;
  };
  match find(const std::string& method, const std::string& path,
             std::map<std::string, std::string>& params) const;
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

// Why parse_target refused a target: the parameter at fault (a query key, "path", or "query"
// when a key itself is bad) and what is wrong with it.
struct target_problem {
  std::string field;
  std::string reason;
};

// Decodes %XX and splits "a=1&b=2". Returns false (and says why in *problem) on a malformed
// escape, or when the decoded path, a key or a value is not valid UTF-8 or holds a control
// character (U+0000..U+001F, U+007F): such bytes would reach SQL, logs and JSON answers.
bool parse_target(const std::string& target, std::string& path,
                  std::map<std::string, std::string>& query, target_problem* problem = nullptr);
// True when s is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
// without C0 control characters or DEL.
bool is_clean_text(std::string_view s);

}  // namespace beampipe::api

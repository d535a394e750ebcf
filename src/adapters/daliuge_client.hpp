// DALiuGE Translator Manager and Data Island Manager REST clients (protocols §4.1, §5;
// domain §3.6, §7.4).
//
// Blocking; callers run them off actor threads. Reads (GET) may be retried by the HTTP
// client; every POST/DELETE is sent exactly once (max_attempts = 1): a repeated create,
// append or deploy may already have reached the backend, so the caller reconciles first
// (dim_client::session_exists) instead. DIM errors arrive mostly as HTTP 555 with
// DALiuGE's {"type","args"} envelope and per-node inner types; they are classified once,
// here, into daliuge_error kinds.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http_client.hpp"
#include "domain/daliuge.hpp"

namespace beampipe::adapters {

class daliuge_error : public std::runtime_error {
 public:
  enum class kind {
    unreachable,       // DNS/connect failure, connection reset or closed without an answer
    timeout,           // connect or read deadline passed
    not_found,         // 404, or 555 with a NoSessionException inside
    conflict,          // 409, or 555 whose inner errors are all SessionAlreadyExistsException
    not_ready,         // InvalidSessionState (400 from the DIM itself, or inside a 555)
    permanent,         // 400/415/422/501, other 4xx, invalid graph, TLS failure, bad URL
    dependency,        // any other 555, 556, 5xx (incl. bottle's 500 HTML page), 408, 429
    invalid_response,  // 2xx with a body that is not the expected JSON; oversized answers
  };
  daliuge_error(kind k, const std::string& message, int status = 0, std::string body_excerpt = {},
                std::string error_type = {}, std::vector<std::string> inner_types = {})
      : std::runtime_error(message),
        kind_(k),
        status_(status),
        body_(std::move(body_excerpt)),
        type_(std::move(error_type)),
        inner_(std::move(inner_types)) {}
  kind code() const noexcept { return kind_; }
  int status() const noexcept { return status_; }                     // 0 without an HTTP answer
  const std::string& body_excerpt() const noexcept { return body_; }  // at most 1 KiB
  const std::string& error_type() const noexcept { return type_; }    // envelope "type"
  const std::vector<std::string>& inner_types() const noexcept {
    return inner_;
  }  // per node, sorted
  // Worth another attempt later: unreachable, timeout, not_ready, dependency.
  bool transient() const noexcept;
  // The request never reached the manager (a refused connection, an unresolvable host): the
  // call certainly had no effect.
  bool request_sent() const noexcept { return request_sent_; }
  daliuge_error& not_sent() noexcept {
    request_sent_ = false;
    return *this;
  }

 private:
  kind kind_;
  int status_;
  std::string body_;
  std::string type_;
  std::vector<std::string> inner_;
  bool request_sent_ = true;
};

std::string_view to_string(daliuge_error::kind k);

// Classifies a non-2xx answer (exposed for tests). `what` prefixes the message, e.g.
// "DIM create_session".
daliuge_error classify_daliuge_response(std::string_view what, int status, std::string_view body);

struct daliuge_options {
  http_options http;  // TLS, CA file, size bound, connect timeout, read retries (GET only)
  std::chrono::milliseconds probe_timeout{5'000};
  std::chrono::milliseconds tm_timeout{120'000};  // unroll can take minutes on large graphs
  std::chrono::milliseconds create_timeout{30'000};
  std::chrono::milliseconds append_timeout{60'000};
  std::chrono::milliseconds deploy_timeout{30'000};
  std::chrono::milliseconds status_timeout{10'000};  // status and graph status
  std::chrono::milliseconds default_timeout{60'000};
};

struct probe_result {
  bool reachable = false;
  int status = 0;      // the HTTP status when reachable
  std::string detail;  // the error when not
  std::chrono::milliseconds latency{0};
};

class translator_client {
 public:
  translator_client(std::string tm_url, daliuge_options options = {});
  const std::string& base_url() const noexcept { return base_; }

  // GET {tm_url}: any HTTP answer means reachable.
  probe_result probe() const;
  // GET /api/submission_method; [] when the TM cannot reach that manager.
  std::vector<std::string> submission_methods(std::string_view dim_host, int dim_port) const;
  // POST /unroll_and_partition (form): the PGT array with "#i" node/island placeholders.
  boost::json::array unroll_and_partition(const std::string& logical_graph, int num_partitions,
                                          int num_islands, std::string_view algorithm) const;
  // POST /map (form; co_host_dim=true, nodes omitted so the TM asks the DIM for them).
  boost::json::array map(const boost::json::value& pgt, std::string_view dim_host, int dim_port,
                         int num_islands) const;

 private:
  boost::json::array post_for_array(
      std::string_view what, std::string_view path,
      const std::vector<std::pair<std::string, std::string>>& fields) const;
  std::string base_;
  daliuge_options options_;
  http_client reads_;
  http_client writes_;
  http_client probe_;
};

struct dim_status {
  boost::json::value raw;  // the /status body: usually the per-node map
  domain::dim_session_state state = domain::dim_session_state::unknown;
};

struct dim_graph_status {
  bool ready = false;      // false: 555 InvalidSessionState (the session is not RUNNING yet)
  boost::json::value raw;  // {oid: {"status":…, "execStatus":…}} when ready, else null
  std::vector<std::string> error_drop_uids;
};

struct dim_poll_summary {
  std::string session_id;
  domain::dim_session_state session_state = domain::dim_session_state::unknown;
  domain::execution_status status =
      domain::execution_status::running;  // running|completed|failed|cancelled
  boost::json::value status_json;
  boost::json::value graph_status_json;  // null when not fetched or not ready
  std::vector<std::string> error_drop_uids;
  // The state was unknown and GET /api/sessions does not list the session: the DIM lost it
  // (restart) or never had it. §5.3 still classifies it running; the caller decides.
  bool session_missing = false;
};

class dim_client {
 public:
  dim_client(std::string base_url, daliuge_options options = {});
  const std::string& base_url() const noexcept { return base_; }
  std::string session_url(std::string_view sid) const;  // {base}/api/sessions/{encoded sid}
  std::string status_url(std::string_view sid) const { return session_url(sid) + "/status"; }
  std::string graph_status_url(std::string_view sid) const {
    return session_url(sid) + "/graph/status";
  }

  probe_result probe() const;
  enum class create_outcome { created, already_existed };
  // POST /api/sessions. A 555 whose per-node errors are all SessionAlreadyExistsException
  // (or a plain 409) is an earlier attempt's session: already_existed, not an error.
  create_outcome create_session(std::string_view sid) const;
  // POST /api/sessions/{sid}/graph/append, Content-Type application/json.
  void append_graph(std::string_view sid, const boost::json::value& pg_spec) const;
  // POST /api/sessions/{sid}/deploy, form completed=<oids comma-joined> (empty body for none).
  void deploy(std::string_view sid, const std::vector<std::string>& roots) const;
  dim_status status(std::string_view sid) const;
  dim_graph_status graph_status(std::string_view sid) const;
  void cancel(std::string_view sid) const;
  // GET /api/sessions/{sid}/graph: the appended physical graph, {oid: drop spec}.
  boost::json::value graph(std::string_view sid) const;
  void destroy(std::string_view sid) const;
  boost::json::array list_sessions() const;
  // Exact sessionId match in GET /api/sessions (reconciliation after an uncertain submit).
  bool session_exists(std::string_view sid) const;
  std::vector<std::string> nodes() const;
  // Domain §3.6: status, then graph status only once the session is RUNNING, FINISHED,
  // CANCELLED or FAILED; completed with error drops → failed.
  dim_poll_summary poll(std::string_view sid) const;

 private:
  http_response get(std::string_view what, const std::string& url,
                    std::chrono::milliseconds timeout) const;
  http_response send_once(std::string_view what, http_request request) const;
  std::string base_;
  daliuge_options options_;
  http_client reads_;
  http_client writes_;
  http_client probe_;
};

// The whole REST submit (domain §7.4 [HEAD]).
struct rest_submit_request {
  std::string session_id;     // domain::dim_session_id(...)
  std::string logical_graph;  // JSON text, manifest already injected
  int num_partitions = 1;
  int num_islands = 1;
  std::string algorithm = "metis";
  std::string dim_host_for_tm;  // how the TM reaches the DIM (may differ from ours)
  int dim_port_for_tm = 8001;
};

struct rest_submit_result {
  std::string session_id;
  boost::json::array physical_graph;  // as appended
  std::vector<std::string> roots;     // as sent in completed=
  std::string manager_url;            // the DIM base URL
  std::string session_status_url;
  std::string graph_status_url;
  bool session_already_existed = false;  // an earlier attempt had created it
};

class rest_submission_error : public std::runtime_error {
 public:
  enum class step { unroll_and_partition, map, prepare, create_session, append_graph, deploy };
  rest_submission_error(step s, bool uncertain, const std::string& message,
                        std::optional<daliuge_error::kind> cause = std::nullopt, int status = 0)
      : std::runtime_error(message),
        step_(s),
        uncertain_(uncertain),
        cause_(cause),
        status_(status) {}
  step failed_step() const noexcept { return step_; }
  // true from create_session on (its own timeout included): the session may exist and may
  // even run, so reconcile with dim_client::session_exists before any retry.
  bool uncertain() const noexcept { return uncertain_; }
  std::optional<daliuge_error::kind> cause() const noexcept { return cause_; }  // none for prepare
  int status() const noexcept { return status_; }

 private:
  step step_;
  bool uncertain_;
  std::optional<daliuge_error::kind> cause_;
  int status_;
};

std::string_view to_string(rest_submission_error::step s);

// unroll_and_partition → map → prepare_physical_graph → roots → create → append → deploy.
// Throws rest_submission_error only.
rest_submit_result submit_rest(const translator_client& tm, const dim_client& dim,
                               const rest_submit_request& request);

}  // namespace beampipe::adapters

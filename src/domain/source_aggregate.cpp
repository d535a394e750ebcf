// The source aggregate (spec §1.1, §2.4, §3.6), typed: its state is a struct, its commands are
// a variant decoded once from the command body (every refusal names its field), decide is one
// overload per command and evolve one branch per event struct. The runtime keeps the state as
// the struct's JSON form (that is what snapshots store, under kStateVersion).
#include <algorithm>
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "domain/redaction.hpp"
#include "events/source.hpp"
#include "util/time.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace ev = beampipe::events;
using namespace cmd;

namespace {

// 2: the typed state (issue #18). Version-1 snapshots are ignored and rebuilt from events.
constexpr int kStateVersion = 2;

struct source_state {
  bool exists = false;
  bool deleted = false;
  bool enabled = false;
  std::string uuid;
  std::string project_module;
  std::string source_identifier;
  std::optional<int64_t> stale_after_hours;
  std::optional<std::string> discovery_request;  // the outstanding request
  int64_t discovery_attempt = 1;
  int64_t discovery_round_start = 1;  // first attempt of the current round (a requeue starts one)
  std::optional<std::string> closed_request;  // the last failed or dead-lettered request
  int64_t closed_attempt = 1;
  std::optional<std::string> discovery_signature;
  bool workflow_run_pending = false;
  std::string last_finished_execution;
  std::optional<int64_t> execution_failures_in_row;

  bool live() const { return exists && !deleted; }
  ev::source_identity identity() const { return {uuid, project_module, source_identifier}; }
};
BOOST_DESCRIBE_STRUCT(source_state, (),
                      (exists, deleted, enabled, uuid, project_module, source_identifier,
                       stale_after_hours, discovery_request, discovery_attempt,
                       discovery_round_start, closed_request, closed_attempt, discovery_signature,
                       workflow_run_pending, last_finished_execution, execution_failures_in_row))

// ---------------------------------------------------------------- commands

struct register_source {
  std::string project_module, source_identifier;
  std::optional<bool> enabled;
};
struct update_source {
  std::optional<bool> enabled;
  bool stale_after_given = false;
  std::optional<int64_t> stale_after_hours;  // null: back to the project's policy
};
struct delete_source {};
struct request_discovery {
  std::optional<std::string> request_id;  // else the command's new id
  std::string reason = "manual";
  std::optional<std::string> claim_token;  // the scheduler's admission batch
};
struct requeue_discovery {
  std::optional<std::string> request_id;
  std::string reason = "requeue";
};
// The answer to the outstanding request, for the attempt it ran as.
struct discovery_answer {
  std::optional<std::string> request_id;
  bool attempt_given = false;
  std::optional<int64_t> attempt;  // given but not an integer: never the current attempt
};
struct complete_discovery : discovery_answer {
  std::string outcome;
  std::optional<std::string> signature;
  std::optional<int64_t> datasets;
  std::optional<bool> truncated;
  json::value warnings;
  std::optional<json::object> rows;
  std::optional<json::array> delete_sbids;
  std::optional<json::object> flags;
  bool ready = false;
  std::vector<events::hook_run> wasm_hooks;
};
struct fail_discovery : discovery_answer {
  std::string error;
  bool retryable = false;
  std::optional<std::string> failure_class;
};
struct fail_discovery_attempt : discovery_answer {
  std::string error;
  std::optional<std::string> failure_class;
  bool lease_lost = false;
  int64_t max_attempts = 3;
  std::optional<std::string> retry_at;
};
struct clear_pending {
  std::string reason = "admitted";
  std::optional<std::string> execution_id;
};
struct execution_finished {
  std::string execution_id, outcome, signature, finished_at;
};

using source_command =
    std::variant<register_source, update_source, delete_source, request_discovery,
                 requeue_discovery, complete_discovery, fail_discovery, fail_discovery_attempt,
                 clear_pending, execution_finished>;

// ---------------------------------------------------------------- decoding the body

std::optional<std::string> opt_string(const json::object& b, const char* field) {
  const auto& v = at_or_null(b, field);
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) throw refusal{bad(field, std::string(field) + " must be a string")};
  return std::string(v.as_string());
}

// The field when it is a string; anything else counts as absent (a request id that is no
// string names no request).
std::optional<std::string> if_string(const json::object& b, const char* field) {
  const auto& v = at_or_null(b, field);
  if (!v.is_string()) return std::nullopt;
  return std::string(v.as_string());
}

std::string string_or(const json::object& b, const char* field, std::string fallback) {
  auto v = opt_string(b, field);
  return v ? *v : std::move(fallback);
}

std::optional<int64_t> opt_int(const json::object& b, const char* field) {
  const auto& v = at_or_null(b, field);
  if (v.is_null()) return std::nullopt;
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v.as_uint64());
  throw refusal{bad(field, std::string(field) + " must be an integer")};
}

void only_fields(const json::object& b, std::initializer_list<std::string_view> known) {
  for (const auto& kv : b)
    if (std::find(known.begin(), known.end(), kv.key()) == known.end())
      throw refusal{bad(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'",
                        "unknown_field")};
}

discovery_answer answer_of(const json::object& b) {
  discovery_answer a;
  a.request_id = if_string(b, "request_id");
  if (auto it = b.find("attempt"); it != b.end()) {
    a.attempt_given = true;
    if (it->value().is_int64()) a.attempt = it->value().as_int64();
  }
  return a;
}

// The archive's error as the event records it: redacted and bounded (issue #16).
std::string discovery_error(const json::object& b) {
  const auto& v = at_or_null(b, "error");
  return v.is_string() ? recorded_text(v.as_string()) : std::string("discovery failed");
}

source_command decode(const command& c) {
  const auto& b = c.body;
  if (c.name == "register") {
    register_source r;
    if (auto e = parse_source_key(b, r.project_module, r.source_identifier)) throw refusal{*e};
    only_fields(b, {"project_module", "source_identifier", "enabled"});
    r.enabled = opt_bool(b, "enabled");
    return r;
  }
  if (c.name == "update") {
    update_source u;
    u.enabled = opt_bool(b, "enabled");
    only_fields(b, {"enabled", "stale_after_hours"});
    if (auto it = b.find("stale_after_hours"); it != b.end()) {
      u.stale_after_given = true;
      const auto& v = it->value();
      if (v.is_int64() || v.is_uint64()) {
        auto h = v.is_int64() ? v.as_int64() : static_cast<int64_t>(v.as_uint64());
        if (h < 1 || h > 24 * 365 * 10)
          throw refusal{bad("stale_after_hours", "stale_after_hours must be between 1 and 87600")};
        u.stale_after_hours = h;
      } else if (!v.is_null()) {
        throw refusal{bad("stale_after_hours", "stale_after_hours must be an integer or null")};
      }
    }
    return u;
  }
  if (c.name == "delete") return delete_source{};
  if (c.name == "request_discovery")
    return request_discovery{opt_string(b, "request_id"), string_or(b, "reason", "manual"),
                             if_string(b, "claim_token")};
  if (c.name == "requeue_discovery")
    return requeue_discovery{if_string(b, "request_id"), string_or(b, "reason", "requeue")};
  if (c.name == "complete_discovery") {
    complete_discovery r;
    static_cast<discovery_answer&>(r) = answer_of(b);
    r.outcome = str(b, "outcome");
    r.signature = opt_string(b, "signature");
    r.datasets = opt_int(b, "datasets");
    r.truncated = opt_bool(b, "truncated");
    r.warnings = at_or_null(b, "warnings");
    if (const auto& v = at_or_null(b, "rows"); !v.is_null()) {
      if (!v.is_object()) throw refusal{bad("rows", "rows must be an object")};
      r.rows = v.as_object();
    }
    if (const auto& v = at_or_null(b, "delete_sbids"); !v.is_null()) {
      if (!v.is_array()) throw refusal{bad("delete_sbids", "delete_sbids must be an array")};
      r.delete_sbids = v.as_array();
    }
    if (const auto& v = at_or_null(b, "flags"); !v.is_null()) {
      if (!v.is_object()) throw refusal{bad("flags", "flags must be an object")};
      r.flags = v.as_object();
    }
    r.ready = flag(b, "ready");
    r.wasm_hooks = hook_runs(b);
    return r;
  }
  if (c.name == "fail_discovery") {
    fail_discovery r;
    static_cast<discovery_answer&>(r) = answer_of(b);
    r.error = discovery_error(b);
    r.retryable = flag(b, "retryable");
    r.failure_class = opt_string(b, "failure_class");
    return r;
  }
  if (c.name == "fail_discovery_attempt") {
    fail_discovery_attempt r;
    static_cast<discovery_answer&>(r) = answer_of(b);
    r.error = discovery_error(b);
    r.failure_class = opt_string(b, "failure_class");
    r.lease_lost = flag(b, "lease_lost");
    r.max_attempts = int_or(b, "max_attempts", 3);
    r.retry_at = opt_string(b, "retry_at");
    return r;
  }
  if (c.name == "clear_pending")
    return clear_pending{string_or(b, "reason", "admitted"), opt_string(b, "execution_id")};
  if (c.name == "execution_finished")
    return execution_finished{str(b, "execution_id"), str(b, "outcome"), str(b, "signature"),
                              str(b, "finished_at")};
  throw refusal{command_error{error_kind::invalid, "unknown_command",
                              "unknown source command " + c.name, ""}};
}

// ---------------------------------------------------------------- deciding

using events_out = std::vector<pending_event>;

command_error not_found() { return {error_kind::not_found, "not_found", "source not found", ""}; }
command_error disabled() {
  return {error_kind::conflict, "source_disabled", "source is disabled; enable it before discovery",
          "enabled"};
}

struct decider {
  const source_state& s;
  std::string_view stream_id;
  const command& c;

  events_out operator()(const register_source& r) const {
    auto uuid = source_uuid(r.project_module, r.source_identifier);
    if (source_stream_id(uuid) != stream_id)
      throw refusal{
          {error_kind::invalid, "wrong_stream", "command routed to the wrong source stream", ""}};
    bool enabled = r.enabled.value_or(false);
    if (!s.live()) {
      ev::source_registered e;
      e.uuid = uuid;
      e.project_module = r.project_module;
      e.source_identifier = r.source_identifier;
      e.enabled = enabled;
      return {ev::make(e)};
    }
    // Registering an existing source is an upsert that only changes `enabled` (§1.1).
    if (enabled == s.enabled) return {};
    return {ev::make(ev::source_enabled_changed{s.identity(), enabled})};
  }

  events_out operator()(const update_source& u) const {
    events_out out;
    if (u.stale_after_given && u.stale_after_hours != s.stale_after_hours)
      out.push_back(ev::make(ev::source_stale_after_changed{s.identity(), u.stale_after_hours}));
    if (u.enabled && *u.enabled != s.enabled)
      out.push_back(ev::make(ev::source_enabled_changed{s.identity(), *u.enabled}));
    return out;
  }

  events_out operator()(const delete_source&) const {
    return {ev::make(ev::source_deleted{s.identity()})};
  }

  events_out operator()(const request_discovery& r) const {
    if (!s.enabled) throw refusal{disabled()};
    if (s.discovery_request) return {};  // one outstanding request: asking again changes nothing
    if (!r.request_id && c.new_id.empty()) throw refusal{no_new_id()};
    ev::discovery_requested e;
    static_cast<ev::source_identity&>(e) = s.identity();
    e.request_id = r.request_id.value_or(c.new_id);
    e.reason = r.reason;
    if (r.claim_token) e.claim_token = *r.claim_token;
    return {ev::make(e)};
  }

  // §2.4 [HEAD]: an operator puts a failed or dead-lettered request back in the queue, as the
  // next attempt of the same request.
  events_out operator()(const requeue_discovery& r) const {
    if (!r.request_id || !s.closed_request || *r.request_id != *s.closed_request)
      throw refusal{{error_kind::conflict, "not_requeueable",
                     "only the source's last failed or dead-lettered discovery request can be "
                     "requeued",
                     "request_id"}};
    if (s.discovery_request)
      throw refusal{{error_kind::conflict, "discovery_pending",
                     "the source has a newer discovery request outstanding", "request_id"}};
    if (!s.enabled) throw refusal{disabled()};
    return {ev::make(
        ev::discovery_requeued{s.identity(), *r.request_id, s.closed_attempt + 1, r.reason})};
  }

  // Only the outstanding request may be answered, only for its current attempt, and only once:
  // a second worker, a worker whose lease was taken over, or a retry after a crash is refused,
  // so each request gets exactly one outcome.
  void check_answer(const discovery_answer& a, bool attempt_required) const {
    if (!s.discovery_request || !a.request_id || *a.request_id != *s.discovery_request)
      throw refusal{{error_kind::conflict, "stale_discovery",
                     "no outstanding discovery request with that id", "request_id"}};
    if ((a.attempt_given && a.attempt != s.discovery_attempt) ||
        (!a.attempt_given && attempt_required))
      throw refusal{{error_kind::conflict, "stale_discovery",
                     "attempt " + std::to_string(s.discovery_attempt) + " is the current one",
                     "attempt"}};
  }

  // Retryable: the next attempt runs at retry_at, unless this round has used all its attempts,
  // which sends the request to the dead letter (closed, requeueable).
  events_out operator()(const fail_discovery_attempt& f) const {
    check_answer(f, true);
    if (s.discovery_attempt - s.discovery_round_start + 1 >= f.max_attempts) {
      ev::discovery_failed e;
      static_cast<ev::source_identity&>(e) = s.identity();
      e.request_id = *s.discovery_request;
      e.attempt = s.discovery_attempt;
      e.error = f.error;
      e.failure_class = f.failure_class;
      e.lease_lost = f.lease_lost;
      e.retryable = true;
      e.dead_letter = true;
      return {ev::make(e)};
    }
    return {ev::make(ev::discovery_attempt_failed{s.identity(), *s.discovery_request,
                                                  s.discovery_attempt, f.error, f.failure_class,
                                                  f.lease_lost, f.retry_at})};
  }

  events_out operator()(const fail_discovery& f) const {
    check_answer(f, false);
    ev::discovery_failed e;
    static_cast<ev::source_identity&>(e) = s.identity();
    e.request_id = *s.discovery_request;
    e.attempt = s.discovery_attempt;
    e.error = f.error;
    e.retryable = f.retryable;
    e.dead_letter = false;
    e.failure_class = f.failure_class;
    return {ev::make(e)};
  }

  events_out operator()(const complete_discovery& r) const {
    check_answer(r, false);
    if (r.outcome != "changed" && r.outcome != "unchanged" && r.outcome != "no_datasets")
      throw refusal{bad("outcome", "outcome must be changed, unchanged or no_datasets")};
    ev::discovery_completed e;
    static_cast<ev::source_identity&>(e) = s.identity();
    e.request_id = *s.discovery_request;
    e.attempt = s.discovery_attempt;
    e.outcome = r.outcome;
    e.signature = r.signature;
    e.datasets = r.datasets;
    e.truncated = r.truncated;
    e.warnings = r.warnings;
    if (r.outcome != "unchanged") {
      e.rows = r.rows.value_or(json::object{});
      e.delete_sbids = r.delete_sbids.value_or(json::array{});
      e.flags = r.flags.value_or(json::object{});
    }
    // A changed signature whose source is ready needs an execution; unchanged never does.
    e.pending = r.outcome == "changed" && r.ready;
    if (!r.wasm_hooks.empty()) e.wasm_hooks = r.wasm_hooks;
    return {ev::make(e)};
  }

  // §4.3 step 10: automation admitted the source (or found it already executed).
  events_out operator()(const clear_pending& r) const {
    if (!s.workflow_run_pending) return {};
    return {ev::make(ev::source_pending_cleared{s.identity(), r.reason, r.execution_id})};
  }

  // §3.6 finalisation: completed (or a dry run) consumes the signature it ran on, a failure
  // re-marks the source pending, a cancel clears it. Idempotent per execution.
  events_out operator()(const execution_finished& f) const {
    if (f.execution_id.empty()) throw refusal{bad("execution_id", "execution_id is required")};
    if (s.last_finished_execution == f.execution_id) return {};
    bool ran = f.outcome == "completed" || f.outcome == "not_submitted";
    bool consumed = ran && !f.signature.empty() && s.discovery_signature &&
                    f.signature == *s.discovery_signature;
    ev::source_execution_finished e;
    static_cast<ev::source_identity&>(e) = s.identity();
    e.execution_id = f.execution_id;
    e.outcome = f.outcome;
    // [HEAD] §12.6: a newer discovery than the one executed stays pending.
    if (consumed) e.last_executed_discovery_signature = f.signature;
    e.pending = f.outcome == "failed" || (ran && !consumed);
    // Issue #17: each failure in a row holds the source back from automated admission for
    // longer (5 min, doubling, at most 6 h) counted from when the worker saw the run end;
    // anything else clears it. Operators can still start a run at once.
    int64_t failures = f.outcome == "failed" ? s.execution_failures_in_row.value_or(0) + 1 : 0;
    e.failures_in_row = failures;
    if (auto at = util::parse_rfc3339(f.finished_at); at && failures > 0) {
      auto hold = std::min<int64_t>(int64_t{300} << std::min<int64_t>(failures - 1, 20), 21600);
      e.automation_retry_at = util::to_rfc3339(*at + std::chrono::seconds(hold));
    }
    return {ev::make(e)};
  }
};

decision source_decide(const source_state& s, std::string_view stream_id, const command& c) {
  try {
    // Only a registration speaks to a source that does not exist (or was deleted).
    if (c.name != "register" && !s.live()) throw refusal{not_found()};
    return {std::visit(decider{s, stream_id, c}, decode(c)), std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

// ---------------------------------------------------------------- evolving

void evolve(source_state& s, std::string_view type, const json::object& d) {
  namespace t = ev::type;
  if (type == t::source_registered) {
    auto e = ev::decode_as<ev::source_registered>(d);
    s.exists = true;
    s.deleted = false;
    s.uuid = e.uuid;
    s.project_module = e.project_module;
    s.source_identifier = e.source_identifier;
    s.enabled = e.enabled;
    s.stale_after_hours.reset();
  } else if (type == t::source_enabled_changed) {
    s.enabled = ev::decode_as<ev::source_enabled_changed>(d).enabled;
  } else if (type == t::source_stale_after_changed) {
    s.stale_after_hours = ev::decode_as<ev::source_stale_after_changed>(d).stale_after_hours;
  } else if (type == t::source_deleted) {
    s.deleted = true;
    s.discovery_request.reset();
  } else if (type == t::discovery_requested) {
    s.discovery_request = ev::decode_as<ev::discovery_requested>(d).request_id;
    s.discovery_attempt = 1;
    s.discovery_round_start = 1;
    s.closed_request.reset();
  } else if (type == t::discovery_attempt_failed) {
    s.discovery_attempt = ev::decode_as<ev::discovery_attempt_failed>(d).attempt + 1;
  } else if (type == t::discovery_requeued) {
    auto e = ev::decode_as<ev::discovery_requeued>(d);
    s.discovery_request = e.request_id;
    s.discovery_attempt = e.attempt;
    s.discovery_round_start = e.attempt;
    s.closed_request.reset();
  } else if (type == t::discovery_completed) {
    auto e = ev::decode_as<ev::discovery_completed>(d);
    s.discovery_request.reset();
    s.closed_request.reset();
    s.discovery_signature = e.signature;
    if (e.pending) s.workflow_run_pending = true;
  } else if (type == t::discovery_failed) {
    // A failed or dead-lettered request may be requeued by an operator.
    s.closed_request = s.discovery_request;
    s.closed_attempt = s.discovery_attempt;
    s.discovery_request.reset();
  } else if (type == t::source_pending_cleared) {
    s.workflow_run_pending = false;
  } else if (type == t::source_execution_finished) {
    auto e = ev::decode_as<ev::source_execution_finished>(d);
    s.workflow_run_pending = e.pending;
    s.last_finished_execution = e.execution_id;
    if (e.failures_in_row) s.execution_failures_in_row = *e.failures_in_row;
  }
}

}  // namespace

std::optional<command_error> parse_source_key(const json::object& body, std::string& project_module,
                                              std::string& source_identifier) {
  if (auto e = required_text(body, "project_module", 50, project_module)) return e;
  return required_text(body, "source_identifier", 100, source_identifier);
}

const aggregate_kind& source_aggregate() {
  static const aggregate_kind k =
      typed_aggregate<source_state, evolve, source_decide>(ev::stream::source, kStateVersion);
  return k;
}

}  // namespace beampipe::domain

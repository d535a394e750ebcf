// The execution aggregate (spec §2.2–2.3, §3.5, §12.2–12.9): every step of an execution
// is a command the execution worker or the API sends, and every accepted step is one event.
// Its state is the ledger row (domain/ledger.hpp); events/execution.hpp says what an event
// carries. The decider computes everything (status included) so projections and replays
// copy, never re-derive.
#include <algorithm>
#include <cstdio>
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/command_support.hpp"
#include "domain/execution.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/ledger.hpp"
#include "domain/redaction.hpp"
#include "events/catalog.hpp"
#include "events/envelope.hpp"
#include "events/execution.hpp"
#include "events/types.hpp"
#include "util/ids.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;
using namespace cmd;

namespace {

// Namespace for execute job ids: v5(namespace, "execute:<id>[:retry:<n>]").
constexpr const char* kJobNamespace = "2d7f1c4a-9b3e-4f60-8a21-5c0e7d94b3f1";

// The state is the ledger row the execution's events fold to, plus whether it exists.
struct execution_state : ledger::row {
  bool exists = false;
};
BOOST_DESCRIBE_STRUCT(execution_state, (ledger::row), (exists))

void execution_evolve(execution_state& s, std::string_view type, const json::object& d,
                      std::string_view recorded_at) {
  ledger::evolve(s, type, d, recorded_at);
  if (type == et::execution_created) s.exists = true;
}

using ledger::terminal;

// A nullable column as the decider compares it: none is "" (or false).
std::string text(const std::optional<std::string>& v) { return v.value_or(std::string()); }
bool on(const std::optional<bool>& v) { return v.value_or(false); }

json::array source_identifiers(const ledger::row& s) {
  json::array out;
  if (s.sources.is_array())
    for (const auto& src : s.sources.get_array())
      if (src.is_object()) out.push_back(src.as_object().at("source_identifier"));
  return out;
}

execution_axes axes_of(const ledger::row& s) {
  execution_axes a;
  a.submission = s.submission_state;
  a.scheduler = s.scheduler_state;
  a.daliuge = s.daliuge_state;
  a.output = s.output_state;
  a.output_verification_required = s.output_verification_required;
  return a;
}

// What a decision records beside its fact: the provenance timeline rows (§8.2), the backend
// observation (§8.1) and the artifacts; fact() completes the event with whose run it is.
struct builder {
  const ledger::row& s;
  json::array provenance;
  std::optional<json::object> observation;
  std::optional<json::value> artifacts;

  explicit builder(const ledger::row& state) : s(state) {}

  void provenance_row(std::string event_type, json::object payload) {
    provenance.push_back(
        json::object{{"event_type", std::move(event_type)}, {"payload", std::move(payload)}});
  }

  // The timeline rows of a status change (ledger::evolve does its bookkeeping).
  void status(const std::string& to, const json::object* terminal_payload = nullptr) {
    auto from = s.status;
    if (to == from) return;
    if (to == "running" || to == "awaiting_scheduler")
      provenance_row("execution." + to, {{"from_status", from}, {"to_status", to}});
    if (to == "completed" || to == "failed" || to == "cancelled" || to == "not_submitted")
      provenance_row("execution." + to,
                     terminal_payload ? *terminal_payload
                                      : json::object{{"source_identifiers", source_identifiers(s)},
                                                     {"status", to}});
  }

  // The event: the fact, whose run it is (the job: the state's, unless the fact names a new
  // one) and the records made along the way.
  template <class Fact>
  pending_event fact(Fact f) {
    if (f.uuid.empty()) f.uuid = s.uuid;
    if (f.project_module.empty()) f.project_module = s.project_module;
    auto ids = source_identifiers(s);
    if (!f.source_identifier && !ids.empty() && ids.front().is_string())
      f.source_identifier = std::string(ids.front().as_string());
    if (!f.job_id) {
      const auto& req = s.execute_request;
      if (req.is_object() && at_or_null(req.as_object(), "job_id").is_string())
        f.job_id = std::string(req.as_object().at("job_id").as_string());
    }
    if (!provenance.empty()) f.provenance = std::move(provenance);
    if (observation) f.observation = std::move(*observation);
    if (artifacts) f.artifacts = std::move(*artifacts);
    return events::make(f);
  }
};

// A string the worker passes through as it is (absent or null: none), bounded and without
// control characters: it is kept in an event forever.
std::optional<command_error> optional_string(const json::object& body, const char* field,
                                             size_t max_len, std::optional<std::string>& out) {
  const auto& v = at_or_null(body, field);
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) return bad(field, std::string(field) + " must be a string");
  if (v.as_string().size() > max_len || has_control_chars(v.as_string()))
    return bad(field, std::string(field) + " must be at most " + std::to_string(max_len) +
                          " bytes without control characters");
  out = std::string(v.as_string());
  return std::nullopt;
}

decision one(pending_event e) {
  decision d;
  d.events.push_back(std::move(e));
  return d;
}
decision refuse(command_error e) { return {{}, std::move(e)}; }

std::optional<command_error> validate_sources(const json::object& body, json::array& out) {
  auto it = body.find("sources");
  if (it == body.end() || !it->value().is_array())
    return bad("sources", "sources must be a non-empty array");
  const auto& arr = it->value().as_array();
  if (arr.empty()) return bad("sources", "sources must be a non-empty array");
  std::vector<std::string> seen;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string path = "sources[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) return bad(path, path + " must be an object");
    const auto& src = arr[i].as_object();
    std::string ident;
    if (auto e = required_text(src, "source_identifier", 100, ident)) {
      e->field = path + "." + e->field;
      return e;
    }
    if (std::find(seen.begin(), seen.end(), ident) != seen.end())
      return bad(path + ".source_identifier", "duplicate source '" + ident + "'");
    seen.push_back(ident);
    json::object sel{{"source_identifier", ident}};
    if (auto sb = src.find("sbids"); sb != src.end() && !sb->value().is_null()) {
      if (!sb->value().is_array())
        return bad(path + ".sbids", path + ".sbids must be an array of strings");
      json::array sbids;
      for (const auto& v : sb->value().as_array()) {
        if (!v.is_string() || trim(v.as_string()).empty())
          return bad(path + ".sbids", path + ".sbids must contain non-empty strings");
        auto t = trim(v.as_string());
        for (const auto& prev : sbids)
          if (prev.as_string() == t) return bad(path + ".sbids", "duplicate sbid '" + t + "'");
        sbids.push_back(json::value(t));
      }
      if (sbids.empty()) return bad(path + ".sbids", path + ".sbids must not be empty when given");
      sel["sbids"] = std::move(sbids);
    }
    for (const auto& kv : src)
      if (kv.key() != "source_identifier" && kv.key() != "sbids")
        return bad(path + "." + std::string(kv.key()),
                   "unknown field '" + std::string(kv.key()) + "'", "unknown_field");
    out.push_back(std::move(sel));
  }
  return std::nullopt;
}

std::optional<command_error> optional_uuid(const json::object& body, const char* field,
                                           json::value& out) {
  auto it = body.find(field);
  if (it == body.end() || it->value().is_null()) {
    out = nullptr;
    return std::nullopt;
  }
  if (!it->value().is_string() || !util::is_uuid(it->value().as_string()))
    return bad(field, std::string(field) + " must be a UUID");
  out = it->value();
  return std::nullopt;
}

std::string job_id_for(std::string_view execution_uuid, int64_t attempt) {
  std::string key = "execute:" + std::string(execution_uuid);
  if (attempt > 0) key += ":retry:" + std::to_string(attempt);
  return util::uuid_v5(kJobNamespace, key);
}

// ---------------------------------------------------------------- commands
// Each command the worker or the API sends, decoded once from its body: a field that is
// malformed is refused here, naming it; what a field may be given the run's state is decided
// below.

std::optional<std::string> passed_through(const json::object& b, const char* field,
                                          size_t max_len) {
  std::optional<std::string> out;
  check(optional_string(b, field, max_len, out));
  return out;
}

std::optional<json::object> object_or_none(const json::object& b, const char* field) {
  const auto& v = at_or_null(b, field);
  if (!v.is_object()) return std::nullopt;
  return v.as_object();
}

std::optional<json::value> present(const json::object& b, const char* field) {
  auto it = b.find(field);
  if (it == b.end()) return std::nullopt;
  return it->value();
}

struct create_execution {
  std::string project_module, archive_name;
  json::array sources;  // [{source_identifier, sbids?}], checked
  std::optional<std::string> deployment_profile_id, project_config_id;
  json::value deployment_profile_snapshot, project_config_version, project_spec_sha256,
      discovery_signature, source_signatures, output_verification_policy, idempotency_key,
      request_sha256;
  bool output_verification_required = false;
  std::optional<json::object> automation;  // {claim_token, queue_depth}: the scheduler admitted it
};
// A create that meets an existing execution is a replay: only its request hash matters.
struct replayed_create {
  std::string request_sha256;
};
struct request_execute {
  bool do_stage = true, do_submit = true;
  std::optional<std::string> correlation_id;
};
struct start_execution {};
struct manifest_prepared {
  json::object manifest;
  std::string manifest_sha256;
  bool do_submit = false;
  std::optional<std::string> source_graph_sha256, patched_graph_sha256;
  std::optional<json::value> artifacts, patch_summary;
  std::vector<events::hook_run> wasm_hooks;
};
struct record_not_submitted {};
struct intend_submission {
  std::string session_id, backend;
  std::optional<std::string> manager_url, target_fingerprint, deadline_at, node;
  json::value timeout_seconds;
};
struct record_submission {
  std::string receipt_sha256;
  json::value scheduler_name, scheduler_job_id;  // required unless recorded after abandonment
  json::value remote_session_dir, staging_root, physical_graph_sha256, manager_url;
  json::object receipt;
  std::optional<json::object> run_record;
  std::optional<json::value> artifacts;
};
struct submission_uncertain {
  std::string error;
  json::value failure_class, remote_session_dir, staging_root;
};
struct fail_execution {
  std::string error;
  bool submission_failed = false, deploy_not_taken = false;
  std::string session_state;
  std::optional<std::string> failure_class;
  std::vector<events::hook_run> wasm_hooks;
};
struct observe_backend {
  std::string scheduler_state, daliuge_state;
  std::string adopt_scheduler_job_id;
  json::value scheduler_name, remote_session_dir, staging_root, physical_graph_sha256;
  std::optional<json::value> artifacts;
  std::string submission_receipt_sha256;
  json::value receipt;
  bool confirms_submission = false;
  std::string raw_state, reason, error, failure_class;
  bool poll_budget_exhausted = false, lookup_budget_exhausted = false;
  std::optional<json::value> lookup;  // a name lookup's result, when this observation is one
  json::object lookup_evidence;
  json::value observed_at;
  std::optional<json::value> daliuge_raw_status;
  std::optional<json::object> run_record;
  std::string kind;
  json::value payload;
};
struct cancel_execution {
  std::string reason;  // "" when none given
};
struct retry_execution {
  std::string reason;
  std::optional<std::string> correlation_id;
};
struct finalize_sources {};
struct verify_outputs {
  json::object inventory;
  json::value artifact_sha256, artifact_size;
};
struct abandon_submission {
  std::string reason, expected_submission_state, expected_daliuge_session_id,
      expected_submission_deadline_at, now;
};
struct cancel_unconfirmed {
  std::string error;
  json::value attempts;
};
struct intend_redeploy {
  std::optional<std::string> session_state;
  std::string reason;
};

using execution_command =
    std::variant<create_execution, replayed_create, request_execute, start_execution,
                 manifest_prepared, record_not_submitted, intend_submission, record_submission,
                 submission_uncertain, fail_execution, observe_backend, cancel_execution,
                 retry_execution, finalize_sources, verify_outputs, abandon_submission,
                 cancel_unconfirmed, intend_redeploy>;

// The correlation id of the request that asked for the run, so the worker's events and log
// lines carry it too (none: not given or not a plain id).
std::optional<std::string> correlation_of(const json::object& b) {
  auto id = str(b, "correlation_id");
  if (id.empty() || id.size() > 128 || has_control_chars(id)) return std::nullopt;
  return id;
}

create_execution decode_create(const json::object& b) {
  create_execution c;
  c.project_module = required(b, "project_module", 50);
  c.archive_name = required(b, "archive_name", 50);
  check(validate_sources(b, c.sources));
  json::value profile_id, config_id;
  check(optional_uuid(b, "deployment_profile_id", profile_id));
  check(optional_uuid(b, "project_config_id", config_id));
  static const std::vector<std::string_view> known{"project_module",
                                                   "archive_name",
                                                   "sources",
                                                   "deployment_profile_id",
                                                   "deployment_profile_name",
                                                   "project_config_id",
                                                   "project_config_version",
                                                   "project_spec_sha256",
                                                   "deployment_profile_snapshot",
                                                   "discovery_signature",
                                                   "source_signatures",
                                                   "output_verification_required",
                                                   "output_verification_policy",
                                                   "idempotency_key",
                                                   "request_sha256",
                                                   "automation"};
  for (const auto& kv : b)
    if (std::find(known.begin(), known.end(), kv.key()) == known.end())
      throw refusal{bad(std::string(kv.key()), "unknown field '" + std::string(kv.key()) + "'",
                        "unknown_field")};
  if (profile_id.is_string()) c.deployment_profile_id = std::string(profile_id.as_string());
  if (config_id.is_string()) c.project_config_id = std::string(config_id.as_string());
  c.deployment_profile_snapshot = at_or_null(b, "deployment_profile_snapshot");
  c.project_config_version = at_or_null(b, "project_config_version");
  c.project_spec_sha256 = at_or_null(b, "project_spec_sha256");
  c.discovery_signature = at_or_null(b, "discovery_signature");
  c.source_signatures = at_or_null(b, "source_signatures");
  c.output_verification_required = flag(b, "output_verification_required");
  c.output_verification_policy = at_or_null(b, "output_verification_policy");
  c.idempotency_key = at_or_null(b, "idempotency_key");
  c.request_sha256 = at_or_null(b, "request_sha256");
  c.automation = object_or_none(b, "automation");
  return c;
}

observe_backend decode_observe(const json::object& b) {
  observe_backend o;
  // The states are checked once the run is known not to have ended (late polls are ignored).
  o.scheduler_state = str(b, "scheduler_state");
  o.daliuge_state = str(b, "daliuge_state");
  o.adopt_scheduler_job_id = str(b, "adopt_scheduler_job_id");
  o.scheduler_name = at_or_null(b, "scheduler_name");
  o.remote_session_dir = at_or_null(b, "remote_session_dir");
  o.staging_root = at_or_null(b, "staging_root");
  o.physical_graph_sha256 = at_or_null(b, "physical_graph_sha256");
  if (auto a = present(b, "artifacts"); a && a->is_array()) o.artifacts = std::move(a);
  o.submission_receipt_sha256 = str(b, "submission_receipt_sha256");
  o.receipt = at_or_null(b, "receipt");
  o.confirms_submission = flag(b, "confirms_submission");
  o.raw_state = str(b, "raw_state");
  o.reason = recorded_text(str(b, "reason"), 500);
  o.error = recorded_text(str(b, "error"));
  o.failure_class = str(b, "failure_class");
  o.poll_budget_exhausted = flag(b, "poll_budget_exhausted");
  o.lookup_budget_exhausted = flag(b, "lookup_budget_exhausted");
  o.lookup = present(b, "lookup");
  o.lookup_evidence = object_or_none(b, "lookup_evidence").value_or(json::object{});
  o.observed_at = at_or_null(b, "observed_at");
  o.daliuge_raw_status = present(b, "daliuge_raw_status");
  o.run_record = object_or_none(b, "run_record");
  o.kind = str(b, "kind");
  o.payload = at_or_null(b, "payload");
  return o;
}

execution_command decode(const command& c) {
  const auto& b = c.body;
  const auto& n = c.name;
  if (n == "create") return decode_create(b);
  if (n == "request_execute")
    return request_execute{opt_bool(b, "do_stage").value_or(true),
                           opt_bool(b, "do_submit").value_or(true), correlation_of(b)};
  if (n == "start") return start_execution{};
  if (n == "prepared") {
    manifest_prepared m;
    auto manifest = object_or_none(b, "manifest");
    if (!manifest) throw refusal{bad("manifest", "manifest must be an object")};
    m.manifest = std::move(*manifest);
    m.manifest_sha256 = str(b, "manifest_sha256");
    if (m.manifest_sha256.empty())
      throw refusal{bad("manifest_sha256", "manifest_sha256 is required")};
    m.do_submit = flag(b, "do_submit");
    m.source_graph_sha256 = passed_through(b, "source_graph_sha256", 128);
    m.patched_graph_sha256 = passed_through(b, "patched_graph_sha256", 128);
    m.artifacts = present(b, "artifacts");
    m.patch_summary = present(b, "patch_summary");
    m.wasm_hooks = hook_runs(b);
    return m;
  }
  if (n == "not_submitted") return record_not_submitted{};
  if (n == "intend_submission") {
    intend_submission i;
    i.session_id = required(b, "session_id", 200);
    i.backend = required(b, "backend", 40);
    i.manager_url = passed_through(b, "manager_url", 4096);
    i.target_fingerprint = passed_through(b, "target_fingerprint", 4096);
    i.deadline_at = passed_through(b, "deadline_at", 4096);
    i.node = passed_through(b, "node", 4096);
    i.timeout_seconds = at_or_null(b, "timeout_seconds");
    return i;
  }
  if (n == "record_submission") {
    record_submission r;
    r.receipt_sha256 = str(b, "receipt_sha256");
    if (r.receipt_sha256.empty())
      throw refusal{bad("receipt_sha256", "receipt_sha256 is required")};
    r.scheduler_name = at_or_null(b, "scheduler_name");
    r.scheduler_job_id = at_or_null(b, "scheduler_job_id");
    r.remote_session_dir = at_or_null(b, "remote_session_dir");
    r.staging_root = at_or_null(b, "staging_root");
    r.physical_graph_sha256 = at_or_null(b, "physical_graph_sha256");
    r.manager_url = at_or_null(b, "manager_url");
    r.receipt = object_or_none(b, "receipt").value_or(json::object{});
    r.run_record = object_or_none(b, "run_record");
    r.artifacts = present(b, "artifacts");
    return r;
  }
  if (n == "submission_uncertain")
    return submission_uncertain{recorded_text(str(b, "error")), at_or_null(b, "failure_class"),
                                at_or_null(b, "remote_session_dir"), at_or_null(b, "staging_root")};
  if (n == "fail") {
    fail_execution f;
    f.error = recorded_text(str(b, "error"));
    if (f.error.empty()) throw refusal{bad("error", "error is required")};
    f.submission_failed = flag(b, "submission_failed");
    f.deploy_not_taken = flag(b, "deploy_not_taken");
    f.session_state = str(b, "session_state");
    f.failure_class = passed_through(b, "failure_class", 100);
    f.wasm_hooks = hook_runs(b);
    return f;
  }
  if (n == "observe") return decode_observe(b);
  if (n == "cancel") {
    cancel_execution x;
    check(optional_text(b, "reason", 1000, x.reason));
    return x;
  }
  if (n == "retry") {
    auto reason = trim(str(b, "reason"));
    if (reason.empty()) throw refusal{bad("reason", "reason is required", "retry_reason_required")};
    if (reason.size() > 1000)
      throw refusal{
          bad("reason", "reason must be at most 1000 characters", "retry_reason_too_long")};
    return retry_execution{reason, correlation_of(b)};
  }
  if (n == "finalize_sources") return finalize_sources{};
  if (n == "verify_outputs")
    return verify_outputs{object_or_none(b, "inventory").value_or(json::object{}),
                          at_or_null(b, "artifact_sha256"), at_or_null(b, "artifact_size")};
  if (n == "abandon") {
    abandon_submission a;
    a.reason = trim(str(b, "reason"));
    if (a.reason.empty() || a.reason.size() > 1000)
      throw refusal{bad("reason", "reason must be 1 to 1000 characters", "abandon_reason_invalid")};
    if (!flag(b, "acknowledge_external_job_may_exist"))
      throw refusal{bad("acknowledge_external_job_may_exist",
                        "the orphan risk must be acknowledged", "acknowledgement_required")};
    a.expected_submission_state = str(b, "expected_submission_state");
    if (a.expected_submission_state != "in_flight" && a.expected_submission_state != "uncertain" &&
        a.expected_submission_state != "submitted")
      throw refusal{bad("expected_submission_state",
                        "expected_submission_state must be in_flight, uncertain or submitted")};
    a.expected_daliuge_session_id = str(b, "expected_daliuge_session_id");
    a.expected_submission_deadline_at = str(b, "expected_submission_deadline_at");
    a.now = str(b, "now");
    return a;
  }
  if (n == "cancel_unconfirmed")
    return cancel_unconfirmed{recorded_text(str(b, "error"), 500), at_or_null(b, "attempts")};
  if (n == "intend_redeploy")
    return intend_redeploy{passed_through(b, "session_state", 200),
                           recorded_text(str(b, "reason"), 500)};
  throw refusal{
      command_error{error_kind::invalid, "unknown_command", "unknown execution command " + n, ""}};
}

// ---------------------------------------------------------------- deciding

// Idempotent create: the stream id was derived from (user, Idempotency-Key).
decision decide_replayed_create(const ledger::row& s, const replayed_create& x) {
  if (!text(s.create_idempotency_key).empty()) {
    if (!x.request_sha256.empty() && x.request_sha256 == text(s.create_request_sha256)) return {};
    return refuse(conflict("idempotency_conflict",
                           "Idempotency-Key was already used for a different execution request"));
  }
  return refuse(conflict("already_exists", "execution already exists"));
}

decision decide_create(const ledger::row& s, std::string_view stream_id, const command& c,
                       const create_execution& x) {
  events::execution_created f;
  f.uuid = events::stream_key_of_view(stream_id);
  f.project_module = x.project_module;
  f.source_identifier =
      std::string(x.sources.front().as_object().at("source_identifier").as_string());
  f.archive_name = x.archive_name;
  f.sources = x.sources;
  f.created_by = c.actor;
  f.deployment_profile_id = x.deployment_profile_id;
  f.project_config_id = x.project_config_id;
  f.deployment_profile_snapshot = x.deployment_profile_snapshot;
  f.project_config_version = x.project_config_version;
  f.project_spec_sha256 = x.project_spec_sha256;
  f.discovery_signature = x.discovery_signature;
  f.source_signatures = x.source_signatures;
  f.output_verification_required = x.output_verification_required;
  f.output_verification_policy = x.output_verification_policy;
  f.idempotency_key = x.idempotency_key;
  f.request_sha256 = x.request_sha256;
  builder e(s);
  // §3.4: an execution the scheduler admitted carries its admission in the run record.
  if (x.automation) {
    const auto& a = *x.automation;
    f.automation =
        events::automation_admission{at_or_null(a, "claim_token"), at_or_null(a, "queue_depth")};
    e.provenance_row("execution.automated_admitted",
                     {{"job_id", job_id_for(f.uuid, 0)},
                      {"required_capability", "manifest-generation"},
                      {"claim_token", at_or_null(a, "claim_token")}});
  }
  e.provenance_row("execution.created", {{"archive_name", x.archive_name}, {"sources", f.sources}});
  return one(e.fact(std::move(f)));
}

decision decide_request_execute(const ledger::row& s, const command& c, const request_execute& x) {
  bool do_stage = x.do_stage, do_submit = x.do_submit;
  // [HEAD] §9.5: only a pending execution starts; the same request again while it is still
  // pending answers with the same job, other options are a conflict.
  if (s.status != "pending")
    return refuse(conflict("execution_not_pending",
                           "only a pending execution can be executed; it is " + s.status,
                           "status"));
  const auto& existing = s.execute_request;
  if (existing.is_object()) {
    const auto& x = existing.as_object();
    if (flag(x, "do_stage") == do_stage && flag(x, "do_submit") == do_submit)
      return {};  // same job again
    return refuse(
        conflict("execute_options_conflict",
                 "an execute job already exists for this execution with other do_stage/do_submit"));
  }
  events::execution_execute_requested f;
  f.job_id = job_id_for(s.uuid, 0);
  f.do_stage = do_stage;
  f.do_submit = do_submit;
  f.attempt = 0;
  f.requested_by = c.actor;
  f.correlation_id = x.correlation_id;
  return one(builder(s).fact(std::move(f)));
}

std::optional<command_error> held(const ledger::row& s) {
  auto sub = s.submission_state;
  if (sub == "in_flight" || sub == "uncertain" || sub == "submitted")
    return conflict("submission_held", "the submission is " + sub + "; held for reconciliation");
  return std::nullopt;
}

decision decide_start(const ledger::row& s) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  if (auto e = held(s)) return refuse(*e);
  if (!s.execute_request.is_object())
    return refuse(conflict("execute_not_requested", "execution has no execute request"));
  auto status = s.status;
  if (status == "running") return {};  // a restarted worker picks the preparation up again
  builder e(s);
  events::execution_started f;
  // A retry of the submit stage keeps the persisted manifest (§2.3 retry planning).
  f.resubmit = status == "retrying" && text(s.retry_stage) == "submit";
  e.status("running");
  return one(e.fact(std::move(f)));
}

decision decide_prepared(const ledger::row& s, const manifest_prepared& x) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  if (auto e = held(s)) return refuse(*e);
  if (s.status != "running")
    return refuse(conflict("execution_not_running", "execution is not running"));
  auto manifest = x.manifest;
  const auto& sha = x.manifest_sha256;
  if (text(s.manifest_sha256) == sha && text(s.execution_phase) == "submit") return {};
  bool do_submit = x.do_submit;
  builder e(s);
  // Keep what automation recorded before the first execute (the baseline dropped it); an
  // earlier attempt's backend blocks are not this manifest's.
  const auto& prior = s.workflow_manifest;
  if (prior.is_object())
    if (auto rr = prior.as_object().find("beampipe_run_record");
        rr != prior.as_object().end() && rr->value().is_object()) {
      const auto& record = rr->value().as_object();
      auto kept = record.find("scheduler") == record.end()
                      ? json::object{}
                      : json::object{{"scheduler", record.at("scheduler")}};
      if (!kept.empty()) manifest["beampipe_run_record"] = std::move(kept);
    }
  events::execution_manifest_prepared f;
  f.manifest = std::move(manifest);
  f.manifest_sha256 = sha;
  f.source_graph_sha256 = x.source_graph_sha256;
  f.patched_graph_sha256 = x.patched_graph_sha256;
  f.submit_next = do_submit;
  if (do_submit) e.provenance_row("execution.execute_started", {{"execution_phase", "submit"}});
  if (x.artifacts) e.artifacts = *x.artifacts;
  if (x.patch_summary) f.patch_summary = *x.patch_summary;
  if (!x.wasm_hooks.empty()) {
    f.wasm_hooks = x.wasm_hooks;
    e.provenance_row("execution.wasm_hooks_ran", {{"wasm_hooks", hook_runs_json(x.wasm_hooks)}});
  }
  return one(e.fact(std::move(f)));
}

decision decide_not_submitted(const ledger::row& s) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  if (auto e = held(s)) return refuse(*e);
  if (text(s.manifest_sha256).empty())
    return refuse(conflict("manifest_missing", "no manifest was prepared for this execution"));
  builder e(s);
  json::object payload{{"source_identifiers", source_identifiers(s)},
                       {"manifest_sha256", util::text_or_null(s.manifest_sha256)}};
  e.status("not_submitted", &payload);
  return one(e.fact(events::execution_not_submitted{}));
}

decision decide_intend(const ledger::row& s, const intend_submission& x) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  if (auto e = held(s)) return refuse(*e);
  if (s.cancel_requested)
    return refuse(conflict("cancel_requested", "execution is being cancelled"));
  if (text(s.execution_phase) != "submit" || text(s.manifest_sha256).empty())
    return refuse(conflict("manifest_missing", "the manifest must be persisted before submission"));
  const auto& session = x.session_id;
  const auto& backend = x.backend;
  events::submission_intended f;
  f.session_id = session;
  f.backend = backend;
  f.manager_url = x.manager_url;
  f.target_fingerprint = x.target_fingerprint;
  f.deadline_at = x.deadline_at;
  f.node = x.node;
  builder e(s);
  e.observation = json::object{
      {"kind", "daliuge_session"},
      {"normalized_state", "in_flight"},
      {"raw_state", "intent_persisted"},
      {"payload", json::object{{"daliuge_session_id", session},
                               {"backend", backend},
                               {"submission_deadline_at", util::text_or_null(x.deadline_at)},
                               {"submission_timeout_seconds", x.timeout_seconds},
                               {"target_fingerprint", util::text_or_null(x.target_fingerprint)}}}};
  return one(e.fact(std::move(f)));
}

decision decide_record(const ledger::row& s, const record_submission& x) {
  auto sub = s.submission_state;
  const auto& receipt_sha = x.receipt_sha256;
  if (sub == "submitted") {
    if (text(s.submission_receipt_sha256) == receipt_sha) return {};  // exact replay
    return refuse(
        conflict("conflicting_receipt", "a different submission receipt is already recorded"));
  }
  if (on(s.submission_abandoned) && !on(s.submission_detected_after_abandonment)) {
    // §12.3: a receipt that arrives after the operator abandoned the submission is kept and
    // flagged; the ledger stays failed/inconsistent for a human to look at.
    events::submission_recorded f;
    f.after_abandonment = true;
    f.receipt_sha256 = receipt_sha;
    f.scheduler_name = x.scheduler_name;
    f.scheduler_job_id = x.scheduler_job_id;
    builder e(s);
    e.provenance_row(
        "execution.submission_detected_after_abandonment",
        {{"submission_receipt_sha256", receipt_sha}, {"scheduler_job_id", x.scheduler_job_id}});
    return one(e.fact(std::move(f)));
  }
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  if (sub != "in_flight" && sub != "uncertain")
    return refuse(
        conflict("submission_not_in_flight", "no submission is in flight (it is " + sub + ")"));
  // The backend's names are required here (a receipt after abandonment is kept as it came).
  json::object names{{"scheduler_name", x.scheduler_name},
                     {"scheduler_job_id", x.scheduler_job_id}};
  std::string scheduler, job;
  if (auto e = required_text(names, "scheduler_name", 50, scheduler)) return refuse(*e);
  if (auto e = required_text(names, "scheduler_job_id", 512, job)) return refuse(*e);
  events::submission_recorded f;
  f.receipt_sha256 = receipt_sha;
  f.scheduler_name = scheduler;
  f.scheduler_job_id = job;
  f.remote_session_dir = x.remote_session_dir;
  f.staging_root = x.staging_root;
  f.physical_graph_sha256 = x.physical_graph_sha256;
  if (!x.manager_url.is_null()) f.manager_url = x.manager_url;
  auto axes = axes_of(s);
  axes.submission = "submitted";
  if (scheduler == "slurm") {
    axes.scheduler = "pending";
  } else {
    axes.scheduler = "not_submitted";
    axes.daliuge = "running";  // deploy returned: the DIM session runs
  }
  f.scheduler_state = axes.scheduler;
  f.daliuge_state = axes.daliuge;
  auto r = reconcile(axes);
  f.status = r.status;
  f.outcome = r.outcome;
  builder e(s);
  e.status(r.status);
  const auto& receipt = x.receipt;
  e.provenance_row("execution.submission_recorded", {{"submission_receipt_sha256", receipt_sha},
                                                     {"receipt", receipt},
                                                     {"operator_abandonment_preserved", false}});
  if (x.run_record) f.run_record = *x.run_record;
  if (x.artifacts) e.artifacts = *x.artifacts;
  e.observation = json::object{{"kind", scheduler == "slurm" ? "scheduler" : "daliuge_session"},
                               {"normalized_state", "submitted"},
                               {"raw_state", "receipt_recorded"},
                               {"payload", receipt}};
  return one(e.fact(std::move(f)));
}

// Backend payloads are shown in the run's timeline: recorded without secrets.
json::value redacted(json::value v) {
  redact_json(v);
  return v;
}

decision decide_uncertain(const ledger::row& s, const submission_uncertain& x) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  auto sub = s.submission_state;
  if (sub == "uncertain") return {};
  if (sub != "in_flight")
    return refuse(
        conflict("submission_not_in_flight", "no submission is in flight (it is " + sub + ")"));
  const auto& error = x.error;
  events::submission_uncertain f;
  auto axes = axes_of(s);
  axes.submission = "uncertain";
  f.status = reconcile(axes).status;
  f.error = error;
  f.failure_class = x.failure_class;
  // Where an uncertain Slurm job would run, when the submission got that far.
  if (!x.remote_session_dir.is_null()) f.remote_session_dir = x.remote_session_dir;
  if (!x.staging_root.is_null()) f.staging_root = x.staging_root;
  builder e(s);
  e.status(f.status);
  e.provenance_row("execution.submission_uncertain", {{"error", error},
                                                      {"submission_state", "uncertain"},
                                                      {"system_action", "reconcile_by_name"}});
  return one(e.fact(std::move(f)));
}

decision decide_fail(const ledger::row& s, const fail_execution& x) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  auto sub = s.submission_state;
  bool submission_failed = x.submission_failed;
  // A DALiuGE session that was created but never deployed runs nothing: once its one
  // redeploy was recorded (or it never got a graph), it may fail for certain (issue #17).
  bool undeployed = x.deploy_not_taken && (sub == "submitted" || sub == "uncertain") &&
                    (s.redeploy_intended_at.has_value() || x.session_state == "pristine");
  if (undeployed) submission_failed = true;
  // Only a certain error may fail a run whose submission started; anything that may have
  // reached the backend goes through submission_uncertain instead.
  if (!undeployed &&
      (sub == "submitted" || sub == "uncertain" || (sub == "in_flight" && !submission_failed)))
    return refuse(conflict("submission_may_exist",
                           "the submission is " + sub + "; it cannot be failed here"));
  const auto& error = x.error;
  builder e(s);
  events::execution_failed f;
  f.error = error;
  f.submission_failed = submission_failed;
  f.failure_class = x.failure_class;
  if (!x.wasm_hooks.empty()) f.wasm_hooks = x.wasm_hooks;
  json::object payload{{"source_identifiers", source_identifiers(s)}, {"error", error}};
  if (!x.wasm_hooks.empty()) payload["wasm_hooks"] = hook_runs_json(x.wasm_hooks);
  e.status("failed", &payload);
  return one(e.fact(std::move(f)));
}

// The outcome of the newest recorded lookup ("" before any).
std::string last_lookup_outcome(const ledger::row& s) {
  const auto& h = s.lookup_history;
  if (!h.is_array() || h.as_array().empty() || !h.as_array().back().is_object()) return "";
  return str(h.as_array().back().as_object(), "outcome");
}

decision decide_observe(const ledger::row& s, const observe_backend& b) {
  if (terminal(s)) return {};  // late poll results after a terminal state are ignored
  auto axes = axes_of(s);
  auto before = axes;
  builder e(s);
  events::execution_observed f;
  if (!b.scheduler_state.empty()) {
    if (!is_scheduler_state(b.scheduler_state))
      return refuse(bad("scheduler_state", "unknown scheduler_state '" + b.scheduler_state + "'"));
    axes.scheduler = b.scheduler_state;
  }
  if (!b.daliuge_state.empty()) {
    if (!is_daliuge_state(b.daliuge_state))
      return refuse(bad("daliuge_state", "unknown daliuge_state '" + b.daliuge_state + "'"));
    axes.daliuge = b.daliuge_state;
  }
  // A name lookup adopts the Slurm job it found; the submission stays uncertain until a
  // poll by that job id confirms it.
  if (const auto& job = b.adopt_scheduler_job_id; !job.empty()) {
    if (!text(s.scheduler_job_id).empty() && text(s.scheduler_job_id) != job)
      return refuse(
          conflict("scheduler_job_conflict", "a different scheduler job is already recorded"));
    events::observed_adoption a;
    a.scheduler_job_id = job;
    a.scheduler_name = b.scheduler_name;
    // An adopted run carries what a receipt would have (issue #17): where it runs, and no
    // longer the error of the submission that lost its answer.
    if (!b.remote_session_dir.is_null()) a.remote_session_dir = b.remote_session_dir;
    if (!b.staging_root.is_null()) a.staging_root = b.staging_root;
    if (!b.physical_graph_sha256.is_null()) a.physical_graph_sha256 = b.physical_graph_sha256;
    if (text(s.scheduler_job_id).empty()) {
      a.first = true;
      if (b.artifacts) e.artifacts = *b.artifacts;
      if (const auto& sha = b.submission_receipt_sha256; !sha.empty()) {
        a.receipt_sha256 = sha;
        e.provenance_row("execution.submission_adopted", {{"submission_receipt_sha256", sha},
                                                          {"receipt", redacted(b.receipt)},
                                                          {"scheduler_job_id", job}});
      }
    }
    f.adoption = std::move(a);
  }
  if (b.confirms_submission && axes.submission == "uncertain" && !text(s.scheduler_job_id).empty())
    axes.submission = "submitted";
  // A succeeded Slurm job means its DALiuGE cluster exited; with no other signal the graph
  // is taken as finished (output verification is the real success gate).
  if (text(s.scheduler_name) == "slurm" && axes.scheduler == "succeeded" &&
      axes.daliuge == "not_created")
    axes.daliuge = "finished";
  // A job found by name that has already ended is never polled by its id again: what the
  // lookup saw confirms it (else the run would end with its submission still uncertain).
  if (f.adoption && f.adoption->first && axes.submission == "uncertain") {
    auto ended = [](std::string_view v, std::initializer_list<std::string_view> states) {
      return std::find(states.begin(), states.end(), v) != states.end();
    };
    if (ended(axes.daliuge, {"finished", "failed", "cancelled"}) ||
        ended(axes.scheduler, {"succeeded", "failed", "cancelled", "timed_out"}))
      axes.submission = "submitted";
  }
  const auto& raw = b.raw_state;
  const auto& reason = b.reason;
  // HEAD escalates a run that outlived its polling budget to an operator instead of failing
  // it: the backend may still finish it.
  bool escalate = b.poll_budget_exhausted && !on(s.poll_budget_exhausted);
  // Lookups are recorded when their outcome changes, not every round (issue #17).
  std::string lookup_outcome =
      b.lookup && b.lookup->is_object() ? str(b.lookup->as_object(), "outcome") : "";
  bool lookup_changed = b.lookup && lookup_outcome != last_lookup_outcome(s);
  bool lookup_spent = b.lookup_budget_exhausted && !on(s.lookup_budget_exhausted);
  bool changed = !(axes.scheduler == before.scheduler && axes.daliuge == before.daliuge &&
                   axes.submission == before.submission) ||
                 raw != text(s.scheduler_raw_state) || reason != text(s.scheduler_reason) ||
                 f.adoption.has_value() || lookup_changed || escalate || lookup_spent;
  if (!changed) return {};
  f.submission_state = axes.submission;
  f.scheduler_state = axes.scheduler;
  f.daliuge_state = axes.daliuge;
  f.raw_state = raw;
  f.reason = reason;
  if (b.daliuge_raw_status) f.daliuge_raw_status = *b.daliuge_raw_status;
  auto r = reconcile(axes);
  auto status = r.status;
  // A decision of pending never moves a run backwards.
  if (status == "pending" && s.status != "pending") status = s.status;
  auto parsed = parse_execution_status(status);
  if (parsed && is_terminal(*parsed) && status == "failed") {
    const auto& err = b.error;
    f.error =
        err.empty() ? "scheduler reported " + axes.scheduler + ", DALiuGE " + axes.daliuge : err;
    // Every failed run says what kind of failure it was (issue #17: a failed DALiuGE session
    // had none).
    auto cls = b.failure_class;
    if (cls.empty())
      cls = axes.scheduler == "timed_out" ? "scheduler_timeout"
            : axes.daliuge == "failed"    ? "daliuge_session_failed"
                                          : "scheduler_failed";
    f.failure_class = events::failure_class_change{cls};
  } else if (status == "completed") {
    f.failure_class = events::failure_class_change{};  // an earlier uncertainty did not end it
  }
  if (!(parsed && is_terminal(*parsed)) && s.control_phase != "monitoring" &&
      axes.submission == "submitted")
    f.control_phase = "monitoring";
  if (r.next_action == "verify_outputs") {
    f.control_phase = "output_verification";
    f.outputs_pending = true;
  }
  e.status(status);
  f.status = status;
  f.outcome = r.outcome;
  if (!r.mismatch_code.empty() && r.mismatch_code != text(s.reconciliation_code)) {
    f.reconciliation_code = r.mismatch_code;
    e.provenance_row(
        "execution.reconciliation_mismatch",
        {{"code", r.mismatch_code},
         {"message", "reconciliation rule " + std::to_string(r.rule) + ": " + r.mismatch_code},
         {"requires_operator", r.requires_operator},
         {"previous_control_phase", json::value(s.control_phase)},
         {"scheduler_state", axes.scheduler},
         {"daliuge_state", axes.daliuge}});
  }
  if (escalate && !(parsed && is_terminal(*parsed))) {
    f.poll_budget_exhausted = true;
    f.reconciliation_code = "poll_budget_exhausted";
    e.provenance_row(
        "execution.reconciliation_mismatch",
        {{"code", "poll_budget_exhausted"},
         {"message", "the backend did not reach a terminal state within the polling budget"},
         {"requires_operator", true},
         {"previous_control_phase", json::value(s.control_phase)},
         {"scheduler_state", axes.scheduler},
         {"daliuge_state", axes.daliuge}});
  }
  if (lookup_spent && !(parsed && is_terminal(*parsed))) {
    // The lookups ran out of budget: the operator may now abandon the submission, and the
    // evidence for that is this event.
    f.lookup_budget_exhausted = true;
    f.reconciliation_code = "lookup_budget_exhausted";
    json::object evidence = b.lookup_evidence;
    e.provenance_row("execution.lookup_budget_exhausted",
                     {{"message",
                       "name lookups did not find the submission within their budget; it may be "
                       "abandoned"},
                      {"requires_operator", true},
                      {"submission_state", axes.submission},
                      {"evidence", redacted(json::value(std::move(evidence)))}});
  }
  if (b.run_record) f.run_record = *b.run_record;
  json::object obs{
      {"kind", b.kind.empty() ? "scheduler" : b.kind},
      {"normalized_state", b.kind == "daliuge_session" ? axes.daliuge : axes.scheduler},
      {"raw_state", raw.substr(0, 128)},
      {"reason", reason},
      {"payload", redacted(b.payload)}};
  if (b.lookup) {
    obs["source_version"] = "beampipe-slurm-name-lookup/v1";
    obs["payload"] = redacted(*b.lookup);
    // The abandonment guard (§12.3) needs the recent lookups with the worker's clock.
    f.lookup = events::lookup_record{
        b.lookup->is_object() ? at_or_null(b.lookup->as_object(), "outcome") : json::value(nullptr),
        b.observed_at, util::text_or_null(s.daliuge_session_id),
        util::text_or_null(s.target_fingerprint)};
  }
  e.observation = std::move(obs);
  return one(e.fact(std::move(f)));
}

// Seconds since the epoch of an RFC 3339 UTC text ("YYYY-MM-DDTHH:MM:SS[.f]Z"); nullopt when
// malformed. Pure: the clock is the caller's ("now" comes in the command).
std::optional<int64_t> epoch_seconds(std::string_view t) {
  int y, mo, d, h, mi, se;
  if (t.size() < 19 || std::sscanf(std::string(t.substr(0, 19)).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d",
                                   &y, &mo, &d, &h, &mi, &se) != 6)
    return std::nullopt;
  // Days from the civil date (H. Hinnant's algorithm).
  y -= mo <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy =
      (153 * static_cast<unsigned>(mo + (mo > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
  return days * 86400 + h * 3600 + mi * 60 + se;
}

// §12.3 operator abandonment of an unresolved submission, with every safety condition.
decision decide_abandon(const ledger::row& s, const command& c, const abandon_submission& x) {
  const auto& reason = x.reason;
  const auto& expected_state = x.expected_submission_state;
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  if (s.submission_state != expected_state ||
      text(s.daliuge_session_id) != x.expected_daliuge_session_id ||
      epoch_seconds(text(s.submission_deadline_at)) !=
          epoch_seconds(x.expected_submission_deadline_at))
    return refuse(
        conflict("abandon_state_changed", "the submission is no longer in the expected state"));
  auto now = epoch_seconds(x.now);
  auto deadline = epoch_seconds(text(s.submission_deadline_at));
  if (!now || !deadline)
    return refuse(conflict("abandon_state_changed", "the submission has no deadline"));
  // Issue #17 (liveness): a run is abandonable once the worker recorded that it stopped
  // moving within its bound: the lookups of an unresolved submission ran out of budget with
  // no match (their evidence is in that event), or a submitted run outlived its polling
  // budget or its cancel was never confirmed.
  if (expected_state == "submitted") {
    if (!on(s.poll_budget_exhausted) && !on(s.cancel_unconfirmed))
      return refuse(conflict("abandon_not_stuck",
                             "a submitted run can be abandoned only after its polling budget is "
                             "exhausted or its cancel was not confirmed; cancel it instead"));
  } else {
    const auto& history = s.lookup_history;
    if (history.is_array())
      for (const auto& h : history.as_array()) {
        auto outcome = str(h.as_object(), "outcome");
        if (outcome == "found" || outcome == "ambiguous")
          return refuse(
              conflict("abandon_job_seen", "a lookup saw a matching job; reconcile it instead"));
      }
    if (!on(s.lookup_budget_exhausted))
      return refuse(conflict("abandon_lookups_pending",
                             "the name lookups have not exhausted their budget yet; the "
                             "submission may still be found"));
  }
  builder e(s);
  json::object payload{{"reason", reason},
                       {"submission_state", expected_state},
                       {"daliuge_session_id", util::text_or_null(s.daliuge_session_id)},
                       {"scheduler_job_id", util::text_or_null(s.scheduler_job_id)},
                       {"lookup_budget_exhausted", on(s.lookup_budget_exhausted)},
                       {"poll_budget_exhausted", on(s.poll_budget_exhausted)},
                       {"cancel_unconfirmed", on(s.cancel_unconfirmed)},
                       {"lookup_history", s.lookup_history},
                       {"actor", c.actor}};
  e.provenance_row("execution.submission_abandoned", payload);
  e.status("failed", &payload);
  events::submission_abandoned f;
  f.reason = reason;
  return one(e.fact(std::move(f)));
}

decision decide_cancel(const ledger::row& s, const command& c, const cancel_execution& x) {
  const auto& reason_text = x.reason;
  json::value reason = reason_text.empty() ? json::value(nullptr) : json::value(reason_text);
  if (terminal(s))
    return refuse(conflict(
        "execution_terminal",
        "execution is " + s.status + "; a terminal execution cannot be cancelled", "status"));
  auto sub = s.submission_state;
  bool has_job = !text(s.scheduler_job_id).empty();
  if (sub == "in_flight" || (sub == "uncertain" && !has_job))
    return refuse(conflict(
        "submission_unresolved",
        "the submission is " + sub + "; cancel once reconciliation has resolved it", "status"));
  json::object payload{
      {"from_status", json::value(s.status)}, {"reason", reason}, {"actor", c.actor}};
  if (sub == "submitted" || sub == "uncertain") {
    if (s.cancel_requested) return {};
    // External work exists: the ledger says cancelled only once the backend confirms.
    builder e(s);
    e.provenance_row("execution.cancel_requested", std::move(payload));
    events::execution_cancel_requested f;
    if (!reason_text.empty()) f.reason = reason_text;
    return one(e.fact(std::move(f)));
  }
  builder e(s);
  e.status("cancelled", &payload);
  events::execution_cancelled f;
  if (!reason_text.empty()) f.reason = reason_text;
  return one(e.fact(std::move(f)));
}

// The worker's last cancel attempt was not confirmed either: the request is withdrawn, so
// the run is polled again and an operator can cancel once more or abandon it (issue #17).
decision decide_cancel_unconfirmed(const ledger::row& s, const cancel_unconfirmed& x) {
  if (terminal(s) || !s.cancel_requested) return {};
  const auto& error = x.error;
  events::execution_cancel_unconfirmed f;
  if (x.attempts.is_int64()) f.attempts = x.attempts.as_int64();
  f.error = error;
  builder e(s);
  e.provenance_row("execution.cancel_unconfirmed",
                   {{"attempts", x.attempts},
                    {"error", error},
                    {"requires_operator", true},
                    {"message",
                     "the backend never confirmed the cancel; the run is polled "
                     "again and may be cancelled again or abandoned"}});
  return one(e.fact(std::move(f)));
}

// A DALiuGE session found created and built but not deployed (its deploy answer was lost or
// refused) is deployed once more; recorded first, like every external step.
decision decide_intend_redeploy(const ledger::row& s, const intend_redeploy& x) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  auto sub = s.submission_state;
  if (sub != "uncertain" && sub != "submitted")
    return refuse(conflict("submission_not_found", "no submission to deploy (it is " + sub + ")"));
  if (s.redeploy_intended_at.has_value())
    return refuse(conflict("redeploy_already_intended", "the session was deployed again already"));
  events::submission_redeploy_intended f;
  f.session_state = x.session_state;
  f.reason = x.reason;
  builder e(s);
  e.provenance_row("execution.redeploy_intended",
                   {{"daliuge_session_id", util::text_or_null(s.daliuge_session_id)},
                    {"session_state", util::text_or_null(f.session_state)},
                    {"reason", f.reason}});
  return one(e.fact(std::move(f)));
}

decision decide_retry(const ledger::row& s, const command& c, const retry_execution& x) {
  const auto& reason = x.reason;
  retry_inputs in;
  in.status = s.status;
  if (auto v = text(s.terminal_outcome); !v.empty()) in.terminal_outcome = v;
  in.submission_state = s.submission_state;
  in.scheduler_state = s.scheduler_state;
  in.daliuge_state = s.daliuge_state;
  in.has_scheduler_job_id = !text(s.scheduler_job_id).empty();
  if (auto v = text(s.execution_phase); !v.empty()) in.execution_phase = v;
  in.has_manifest = !text(s.manifest_sha256).empty();
  std::string stage;
  if (auto code = plan_retry(in, stage)) return refuse(conflict(*code, "retry refused: " + *code));
  int64_t attempt = s.retry_count + 1;
  const auto& prior = s.execute_request;
  bool do_stage = prior.is_object() ? flag(prior.as_object(), "do_stage") : true;
  bool do_submit = prior.is_object() ? flag(prior.as_object(), "do_submit") : true;
  events::execution_retry_requested f;
  f.job_id = job_id_for(s.uuid, attempt);
  f.do_stage = do_stage;
  f.do_submit = do_submit;
  f.attempt = attempt;
  f.requested_by = c.actor;
  f.correlation_id = x.correlation_id;
  f.reason = reason;
  f.stage = stage;
  builder e(s);
  e.provenance_row(
      "execution.retry_requested",
      {{"reason", reason}, {"retry_count", attempt}, {"stage", stage}, {"from_status", "failed"}});
  return one(e.fact(std::move(f)));
}

bool lower_hex64(std::string_view v) {
  if (v.size() != 64) return false;
  for (char ch : v)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  return true;
}

// A relative path with no empty, "." or ".." part, no backslash and no control character.
bool safe_relative_path(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.find('\\') != std::string_view::npos ||
      has_control_chars(p))
    return false;
  size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    auto part =
        p.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

// §12.4: the output inventory gate. The body is the inventory report plus the digest and size
// of the stored copy (the API stores it first).
decision decide_verify_outputs(const ledger::row& s, const verify_outputs& x) {
  if (terminal(s)) return refuse(conflict("execution_terminal", "execution is " + s.status));
  if (!s.output_verification_required)
    return refuse(conflict("verification_not_required",
                           "this execution does not require output verification"));
  if (s.output_state != "pending")
    return refuse(conflict(
        "outputs_not_pending",
        "outputs are " + s.output_state + "; verification needs a finished DALiuGE session"));
  const auto& inv = x.inventory;
  if (str(inv, "schema") != "wallaby-hires-output-inventory/v1")
    return refuse(bad("schema", "schema must be wallaby-hires-output-inventory/v1"));
  auto products_it = inv.find("products");
  if (products_it == inv.end() || !products_it->value().is_array() ||
      products_it->value().as_array().empty())
    return refuse(bad("products", "products must be a non-empty array"));
  std::vector<std::string> seen;
  json::array canonical;
  const auto& products = products_it->value().as_array();
  for (size_t i = 0; i < products.size(); ++i) {
    auto path = "products[" + std::to_string(i) + "]";
    if (!products[i].is_object()) return refuse(bad(path, path + " must be an object"));
    const auto& p = products[i].as_object();
    auto rel = str(p, "path");
    if (!safe_relative_path(rel))
      return refuse(bad(path + ".path", path + ".path must be a safe relative path"));
    if (std::find(seen.begin(), seen.end(), rel) != seen.end())
      return refuse(bad(path + ".path", "duplicate product path '" + rel + "'"));
    seen.push_back(rel);
    if (!lower_hex64(str(p, "sha256")))
      return refuse(bad(path + ".sha256", path + ".sha256 must be 64 lowercase hex digits"));
    auto bytes = p.find("bytes");
    if (bytes == p.end() || !(bytes->value().is_int64() || bytes->value().is_uint64()) ||
        (bytes->value().is_int64() && bytes->value().as_int64() < 0))
      return refuse(bad(path + ".bytes", path + ".bytes must be a non-negative integer"));
    canonical.push_back(
        json::object{{"bytes", bytes->value()}, {"path", rel}, {"sha256", str(p, "sha256")}});
  }
  auto declared = str(inv, "inventory_sha256");
  auto computed = sha256_hex(stable_json(json::value(canonical)));
  if (!lower_hex64(declared))
    return refuse(bad("inventory_sha256", "inventory_sha256 must be 64 lowercase hex digits"));
  if (declared != computed)
    return refuse(bad("inventory_sha256",
                      "inventory_sha256 does not match the products (expected " + computed + ")",
                      "inventory_digest_mismatch"));
  auto uri = str(inv, "durable_destination_uri");
  if (!(uri.rfind("s3://", 0) == 0 || uri.rfind("gs://", 0) == 0 || uri.rfind("https://", 0) == 0 ||
        uri.rfind("file:///", 0) == 0))
    return refuse(bad("durable_destination_uri",
                      "durable_destination_uri must be an s3, gs, https or absolute file URI"));
  const auto& pub = inv.contains("publication") && inv.at("publication").is_object()
                        ? inv.at("publication").as_object()
                        : json::object{};
  if (!flag(pub, "acknowledged"))
    return refuse(bad("publication.acknowledged", "publication must be acknowledged"));
  for (const char* k : {"publisher", "receipt_id", "published_at"})
    if (str(pub, k).empty())
      return refuse(
          bad(std::string("publication.") + k, std::string("publication.") + k + " is required"));
  builder e(s);
  auto axes = axes_of(s);
  axes.output = "verified";
  auto r = reconcile(axes);
  e.status(r.status);
  events::execution_outputs_verified f;
  f.inventory_sha256 = declared;
  f.products = products.size();
  f.durable_destination_uri = uri;
  f.receipt_id = str(pub, "receipt_id");
  f.status = r.status;
  f.outcome = r.outcome;
  e.artifacts =
      json::array{json::object{{"kind", "output_inventory"},
                               {"sha256", x.artifact_sha256},
                               {"size_bytes", x.artifact_size},
                               {"media_type", "application/json"},
                               {"producer_phase", "output_verification"},
                               {"metadata", json::object{{"inventory_sha256", declared},
                                                         {"durable_destination_uri", uri},
                                                         {"products", products.size()}}}}};
  e.provenance_row("execution.outputs_verified", {{"inventory_sha256", declared},
                                                  {"products", products.size()},
                                                  {"durable_destination_uri", uri},
                                                  {"receipt_id", str(pub, "receipt_id")}});
  return one(e.fact(std::move(f)));
}

// Recorded once every source has been told the outcome (source command execution_finished).
decision decide_finalize_sources(const ledger::row& s) {
  if (!terminal(s)) return refuse(conflict("execution_not_terminal", "execution is " + s.status));
  if (s.sources_finalized) return {};
  return one(builder(s).fact(events::execution_sources_finalized{}));
}

// One decision per command; the state is the ledger row the run's events fold to.
struct decider {
  const ledger::row& s;
  std::string_view stream_id;
  const command& c;

  decision operator()(const create_execution& x) const { return decide_create(s, stream_id, c, x); }
  decision operator()(const replayed_create& x) const { return decide_replayed_create(s, x); }
  decision operator()(const request_execute& x) const { return decide_request_execute(s, c, x); }
  decision operator()(const start_execution&) const { return decide_start(s); }
  decision operator()(const manifest_prepared& x) const { return decide_prepared(s, x); }
  decision operator()(const record_not_submitted&) const { return decide_not_submitted(s); }
  decision operator()(const intend_submission& x) const { return decide_intend(s, x); }
  decision operator()(const record_submission& x) const { return decide_record(s, x); }
  decision operator()(const submission_uncertain& x) const { return decide_uncertain(s, x); }
  decision operator()(const fail_execution& x) const { return decide_fail(s, x); }
  decision operator()(const observe_backend& x) const { return decide_observe(s, x); }
  decision operator()(const cancel_execution& x) const { return decide_cancel(s, c, x); }
  decision operator()(const retry_execution& x) const { return decide_retry(s, c, x); }
  decision operator()(const finalize_sources&) const { return decide_finalize_sources(s); }
  decision operator()(const verify_outputs& x) const { return decide_verify_outputs(s, x); }
  decision operator()(const abandon_submission& x) const { return decide_abandon(s, c, x); }
  decision operator()(const cancel_unconfirmed& x) const { return decide_cancel_unconfirmed(s, x); }
  decision operator()(const intend_redeploy& x) const { return decide_intend_redeploy(s, x); }
};

decision execution_decide(const execution_state& s, std::string_view stream_id, const command& c) {
  try {
    bool exists = s.exists;
    auto command = c.name == "create" && exists
                       ? execution_command{replayed_create{str(c.body, "request_sha256")}}
                       : decode(c);
    if (!std::holds_alternative<create_execution>(command) && !exists)
      return refuse(command_error{error_kind::not_found, "not_found", "execution not found", ""});
    return std::visit(decider{s, stream_id, c}, command);
  } catch (const refusal& r) {
    return refuse(r.error);
  }
}

}  // namespace

const aggregate_kind& execution_aggregate() {
  // State version 3: the ledger row as its struct (2: the row's JSON object, 1: a few columns).
  static const aggregate_kind k =
      typed_aggregate<execution_state, execution_evolve, execution_decide>(
          events::stream::execution, 3);
  return k;
}

}  // namespace beampipe::domain

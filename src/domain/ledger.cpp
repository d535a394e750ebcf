// Version 2 execution events are facts (events/execution.hpp): what each does to the row is
// said here, once. Types still at version 1 carry what the row looks like afterwards:
//   after             ledger columns as they are after the event (merged into the row)
//   stamp             columns set to the event's recorded_at
//   stamp_once        columns set to recorded_at only while still null (started_at, ...)
//   run_record_merge  deep-merged into workflow_manifest.beampipe_run_record
// A control_phase an event sets is also timestamped in phase_timestamps.
#include "domain/ledger.hpp"

#include "domain/execution_fsm.hpp"
#include "events/execution.hpp"
#include "events/types.hpp"

namespace beampipe::domain::ledger {
namespace json = boost::json;
namespace et = beampipe::events::type;

namespace {

// Objects merge key by key; anything else replaces. Legacy "observations" arrays are dropped
// on merge (§8.1).
void deep_merge(json::object& into, const json::object& patch) {
  for (const auto& kv : patch) {
    auto it = into.find(kv.key());
    if (it != into.end() && it->value().is_object() && kv.value().is_object())
      deep_merge(it->value().as_object(), kv.value().as_object());
    else
      into[kv.key()] = kv.value();
  }
  into.erase("observations");
}

const json::object* object_at(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

json::value text(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

void control_phase(row& r, std::string_view phase, std::string_view at) {
  r["control_phase"] = phase;
  auto& pts = r["phase_timestamps"];
  if (!pts.is_object()) pts = json::object{};
  pts.as_object()[phase] = at;
}

json::object execute_request(const events::execute_request_fact& f,
                             const events::execution_fact& h) {
  return {{"do_stage", f.do_stage},         {"do_submit", f.do_submit},
          {"attempt", f.attempt},           {"job_id", text(h.job_id)},
          {"requested_by", f.requested_by}, {"correlation_id", text(f.correlation_id)}};
}

// A status change with its §2.2 bookkeeping: when the run started and ended, the terminal
// phase and the outcome (the first one recorded stands).
void status(row& r, std::string_view to, std::optional<std::string_view> outcome,
            std::string_view at) {
  auto from = r.contains("status") ? r.at("status") : json::value(nullptr);
  r["status"] = to;
  if (from == json::value(to)) return;
  auto stamp_once = [&](std::string_view col) {
    if (!r.contains(col) || r.at(col).is_null()) r[col] = at;
  };
  if (to == "running") stamp_once("started_at");
  auto parsed = parse_execution_status(to);
  if (!parsed || !is_terminal(*parsed)) return;
  stamp_once("completed_at");
  control_phase(r, "terminal", at);
  r["execution_phase"] = nullptr;
  if (!outcome) {
    if (to == "completed") outcome = "succeeded";
    if (to == "failed") outcome = "failed";
    if (to == "cancelled") outcome = "cancelled";
  }
  if (outcome && (!r.contains("terminal_outcome") || r.at("terminal_outcome").is_null()))
    r["terminal_outcome"] = *outcome;
}

// The facts, one overload per version 2 type.
void apply(row& r, const events::execution_started& e, std::string_view at) {
  status(r, "running", std::nullopt, at);
  r["execution_phase"] = e.resubmit ? "submit" : "stage_and_manifest";
  r["submission_state"] = "not_started";
  control_phase(r, e.resubmit ? "graph_patched" : "admitted", at);
}

void apply(row& r, const events::execution_not_submitted&, std::string_view at) {
  status(r, "not_submitted", std::nullopt, at);
}

void apply(row& r, const events::execution_failed& e, std::string_view at) {
  if (e.submission_failed) r["submission_state"] = "failed";
  r["last_error"] = e.error;
  r["failure_class"] = text(e.failure_class);
  status(r, "failed", "failed", at);
}

void apply(row& r, const events::execution_cancelled& e, std::string_view at) {
  status(r, "cancelled", "cancelled", at);
  r["cancel_reason"] = text(e.reason);
}

void apply(row& r, const events::execution_execute_requested& e, std::string_view at) {
  r["execute_request"] = execute_request(e, e);
  r["execute_requested_at"] = at;
}

void apply(row& r, const events::execution_retry_requested& e, std::string_view at) {
  bool submit = e.stage == "submit";  // the manifest is kept: only the submission reruns
  r["status"] = "retrying";
  r["retry_count"] = e.attempt;
  r["terminal_outcome"] = nullptr;
  r["submission_state"] = "not_started";
  r["execution_phase"] = submit ? json::value("submit") : json::value(nullptr);
  r["completed_at"] = nullptr;
  r["retry_stage"] = e.stage;
  r["execute_request"] = execute_request(e, e);
  control_phase(r, submit ? "graph_patched" : "admitted", at);
}

void apply(row& r, const events::execution_manifest_prepared& e, std::string_view at) {
  r["workflow_manifest"] = e.manifest;
  r["manifest_sha256"] = e.manifest_sha256;
  r["source_graph_sha256"] = text(e.source_graph_sha256);
  r["patched_graph_sha256"] = text(e.patched_graph_sha256);
  if (e.submit_next) r["execution_phase"] = "submit";
  control_phase(r, "graph_patched", at);
}

void apply(row& r, const events::submission_intended& e, std::string_view at) {
  r["submission_state"] = "in_flight";
  r["daliuge_session_id"] = e.session_id;
  r["backend_kind"] = e.backend;
  r["daliuge_manager_url"] = text(e.manager_url);
  r["target_fingerprint"] = text(e.target_fingerprint);
  r["submission_deadline_at"] = text(e.deadline_at);
  r["submission_node"] = text(e.node);
  r["submission_intent_at"] = at;
  control_phase(r, "submission_pending", at);
}

void apply(row& r, const events::execution_cancel_requested& e, std::string_view at) {
  r["cancel_requested"] = true;
  r["cancel_unconfirmed"] = false;
  r["cancel_reason"] = text(e.reason);
  r["cancel_requested_at"] = at;
}

void apply(row& r, const events::execution_cancel_unconfirmed&, std::string_view) {
  r["cancel_requested"] = false;
  r["cancel_unconfirmed"] = true;
  r["reconciliation_code"] = "cancel_unconfirmed";
}

void apply(row& r, const events::submission_redeploy_intended&, std::string_view at) {
  r["redeploy_intended_at"] = at;
}

void apply(row& r, const events::execution_sources_finalized&, std::string_view) {
  r["sources_finalized"] = true;
}

template <class Fact>
bool apply_as(row& r, std::string_view type, const json::object& d, std::string_view at) {
  if (type != Fact::kType) return false;
  apply(r, events::decode_as<Fact>(d), at);
  return true;
}

// A version 2 fact: applied and true; a version 1 envelope: false.
bool apply_fact(row& r, std::string_view type, const json::object& d, std::string_view at) {
  namespace ev = beampipe::events;
  return apply_as<ev::execution_started>(r, type, d, at) ||
         apply_as<ev::execution_not_submitted>(r, type, d, at) ||
         apply_as<ev::execution_failed>(r, type, d, at) ||
         apply_as<ev::execution_cancelled>(r, type, d, at) ||
         apply_as<ev::execution_execute_requested>(r, type, d, at) ||
         apply_as<ev::execution_retry_requested>(r, type, d, at) ||
         apply_as<ev::execution_manifest_prepared>(r, type, d, at) ||
         apply_as<ev::submission_intended>(r, type, d, at) ||
         apply_as<ev::execution_cancel_requested>(r, type, d, at) ||
         apply_as<ev::execution_cancel_unconfirmed>(r, type, d, at) ||
         apply_as<ev::submission_redeploy_intended>(r, type, d, at) ||
         apply_as<ev::execution_sources_finalized>(r, type, d, at);
}

}  // namespace

void evolve(row& r, std::string_view type, const json::object& d, std::string_view recorded_at) {
  if (type == et::execution_created)
    r = row{{"created_at", recorded_at},
            {"phase_timestamps", json::object{}},
            {"workflow_manifest", nullptr}};
  if (apply_fact(r, type, d, recorded_at))
    r["updated_at"] = recorded_at;
  else
    apply_envelope(r, d, recorded_at);
}

void apply_envelope(row& r, const json::object& d, std::string_view recorded_at) {
  const auto* after = object_at(d, "after");
  if (after)
    for (const auto& kv : *after) r[kv.key()] = kv.value();
  for (std::string_view list : {"stamp", "stamp_once"}) {
    auto it = d.find(list);
    if (it == d.end() || !it->value().is_array()) continue;
    for (const auto& col : it->value().as_array()) {
      if (!col.is_string()) continue;
      auto k = col.as_string();
      if (list == "stamp_once" && r.contains(k) && !r.at(k).is_null()) continue;
      r[k] = recorded_at;
    }
  }
  if (const auto* merge = object_at(d, "run_record_merge")) {
    auto& wm = r["workflow_manifest"];
    if (!wm.is_object()) wm = json::object{};
    auto& rr = wm.as_object()["beampipe_run_record"];
    if (!rr.is_object()) rr = json::object{};
    deep_merge(rr.as_object(), *merge);
  }
  if (after)
    if (auto cp = after->find("control_phase"); cp != after->end() && cp->value().is_string()) {
      auto& pts = r["phase_timestamps"];
      if (!pts.is_object()) pts = json::object{};
      pts.as_object()[cp->value().as_string()] = recorded_at;
    }
  r["updated_at"] = recorded_at;
}

}  // namespace beampipe::domain::ledger

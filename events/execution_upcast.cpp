// Version 1 execution payloads (the ledger-row envelope) lifted to the version 2 facts. Each
// reads the fact back from the columns the v1 decider wrote, and from its provenance record
// where the row did not keep it (a retry's or a redeploy's reason). Nothing in the store is
// rewritten: this runs whenever a v1 event is read.
#include "events/execution_upcast.hpp"

namespace beampipe::events {
namespace json = boost::json;

namespace {

const json::value& at(const json::object& o, std::string_view k) {
  static const json::value null_value;
  auto it = o.find(k);
  return it == o.end() ? null_value : it->value();
}

const json::object& object_at(const json::object& o, std::string_view k) {
  static const json::object empty;
  const auto& v = at(o, k);
  return v.is_object() ? v.as_object() : empty;
}

// A v1 column holding text: anything else was never written by a decider and reads as null.
json::value text_or_null(const json::value& v) { return v.is_string() ? v : json::value(nullptr); }
json::value text_or_empty(const json::value& v) { return v.is_string() ? v : json::value(""); }

// The v1 envelope's row patch, taken off the payload (with its stamps and merges).
json::object take_after(json::object& d) {
  json::object after = object_at(d, "after");
  for (const char* k : {"after", "stamp", "stamp_once", "run_record_merge"}) d.erase(k);
  return after;
}

// The payload of the first provenance record of `event_type` the v1 event carried.
const json::object& record_of(const json::object& d, std::string_view event_type) {
  static const json::object empty;
  const auto& prov = at(d, "provenance");
  if (prov.is_array())
    for (const auto& p : prov.as_array())
      if (p.is_object() && at(p.as_object(), "event_type") == json::value(event_type))
        return object_at(p.as_object(), "payload");
  return empty;
}

void copy_execute_request(json::object& d, const json::object& req) {
  d["do_stage"] = at(req, "do_stage").is_bool() ? at(req, "do_stage") : json::value(true);
  d["do_submit"] = at(req, "do_submit").is_bool() ? at(req, "do_submit") : json::value(true);
  d["attempt"] = at(req, "attempt").is_int64() ? at(req, "attempt") : json::value(0);
  d["requested_by"] = text_or_empty(at(req, "requested_by"));
  d["correlation_id"] = text_or_null(at(req, "correlation_id"));
}

void execute_requested(json::object& d) {
  auto after = take_after(d);
  copy_execute_request(d, object_at(after, "execute_request"));
}

void retry_requested(json::object& d) {
  auto after = take_after(d);
  copy_execute_request(d, object_at(after, "execute_request"));
  d["reason"] = text_or_empty(at(record_of(d, "execution.retry_requested"), "reason"));
  d["stage"] = text_or_empty(at(after, "retry_stage"));
}

void manifest_prepared(json::object& d) {
  auto after = take_after(d);
  d["manifest"] = object_at(after, "workflow_manifest");
  d["manifest_sha256"] = text_or_empty(at(after, "manifest_sha256"));
  d["source_graph_sha256"] = text_or_null(at(after, "source_graph_sha256"));
  d["patched_graph_sha256"] = text_or_null(at(after, "patched_graph_sha256"));
  d["submit_next"] = at(after, "execution_phase") == json::value("submit");
}

void submission_intended(json::object& d) {
  auto after = take_after(d);
  d["session_id"] = text_or_empty(at(after, "daliuge_session_id"));
  d["backend"] = text_or_empty(at(after, "backend_kind"));
  d["manager_url"] = text_or_null(at(after, "daliuge_manager_url"));
  d["target_fingerprint"] = text_or_null(at(after, "target_fingerprint"));
  d["deadline_at"] = text_or_null(at(after, "submission_deadline_at"));
  d["node"] = text_or_null(at(after, "submission_node"));
}

void cancel_requested(json::object& d) {
  auto after = take_after(d);
  d["reason"] = text_or_null(at(after, "cancel_reason"));
}

void cancel_unconfirmed(json::object& d) {
  take_after(d);
  const auto& rec = record_of(d, "execution.cancel_unconfirmed");
  d["attempts"] = at(rec, "attempts").is_int64() ? at(rec, "attempts") : json::value(nullptr);
  d["error"] = text_or_empty(at(rec, "error"));
}

void redeploy_intended(json::object& d) {
  take_after(d);
  const auto& rec = record_of(d, "execution.redeploy_intended");
  d["session_state"] = text_or_null(at(rec, "session_state"));
  d["reason"] = text_or_empty(at(rec, "reason"));
}

void sources_finalized(json::object& d) { take_after(d); }

void started(json::object& d) {
  auto after = take_after(d);
  d["resubmit"] = at(after, "execution_phase") == json::value("submit");
}

void not_submitted(json::object& d) { take_after(d); }

void failed(json::object& d) {
  auto after = take_after(d);
  d["error"] = text_or_empty(at(after, "last_error"));
  d["failure_class"] = text_or_null(at(after, "failure_class"));
  d["submission_failed"] = at(after, "submission_state") == json::value("failed");
}

void cancelled(json::object& d) {
  auto after = take_after(d);
  d["reason"] = text_or_null(at(after, "cancel_reason"));
}

}  // namespace

std::vector<std::pair<std::string_view, upcaster>> execution_v1_upcasters() {
  return {{type::execution_execute_requested, execute_requested},
          {type::execution_retry_requested, retry_requested},
          {type::execution_manifest_prepared, manifest_prepared},
          {type::submission_intended, submission_intended},
          {type::execution_cancel_requested, cancel_requested},
          {type::execution_cancel_unconfirmed, cancel_unconfirmed},
          {type::submission_redeploy_intended, redeploy_intended},
          {type::execution_sources_finalized, sources_finalized},
          {type::execution_started, started},
          {type::execution_not_submitted, not_submitted},
          {type::execution_failed, failed},
          {type::execution_cancelled, cancelled}};
}

}  // namespace beampipe::events

// The execution aggregate and the §2.3 reconciler: every refusal that protects an external
// submission, and the derived status of each axis combination.
#include <doctest/doctest.h>

#include "decided.hpp"
#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/execution.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {

struct harness {
  const aggregate_kind& k = execution_aggregate();
  json::object state = k.initial();
  std::vector<std::string> last_types;

  decision run(const std::string& name, json::object body = {}) {
    auto d = k.decide(state, "execution-01a22281-6937-71e0-8e99-cbb49ab404c6",
                      {name, std::move(body), "test"});
    beampipe::testing::check_decided(d);
    last_types.clear();
    for (auto& e : d.events) {
      k.apply(state, e.type, e.data, "2026-11-01T00:00:00.000000Z");
      last_types.push_back(e.type);
    }
    return d;
  }
  std::string s(const char* key) const {
    auto it = state.find(key);
    return it != state.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
  }
  std::string refusal(const std::string& name, json::object body = {}) {
    auto d = run(name, std::move(body));
    return d.error ? d.error->code : "";
  }

  void created() {
    REQUIRE_FALSE(
        run("create", {{"project_module", "m"},
                       {"archive_name", "casda"},
                       {"sources", json::array{json::object{{"source_identifier", "S1"}}}},
                       {"request_sha256", "aa"},
                       {"idempotency_key", "k1"}})
            .error);
  }
  void prepared(bool submit = true) {
    created();
    REQUIRE_FALSE(run("request_execute", {{"do_submit", submit}}).error);
    REQUIRE_FALSE(run("start").error);
    REQUIRE_FALSE(run("prepared", {{"manifest", json::object{{"sources", json::array{}}}},
                                   {"manifest_sha256", std::string(64, 'a')},
                                   {"do_submit", submit}})
                      .error);
  }
  void intended() {
    prepared();
    REQUIRE_FALSE(run("intend_submission",
                      {{"session_id", "BeampipeExecution-x"}, {"backend", "slurm_remote"}})
                      .error);
  }
  json::object receipt(const std::string& scheduler, const std::string& sha = "r1") {
    return {{"scheduler_name", scheduler},
            {"scheduler_job_id", scheduler == "slurm" ? "42" : "BeampipeExecution-x"},
            {"receipt_sha256", sha}};
  }
};

}  // namespace

TEST_CASE("reconcile: each §2.3 rule") {
  struct row {
    execution_axes a;
    std::string status;
    std::optional<std::string> outcome;
    std::string mismatch;
    int rule;
  };
  auto ax = [](std::string sub, std::string sch, std::string dl, std::string out = "not_started",
               bool req = false) {
    return execution_axes{sub, sch, dl, out, req};
  };
  std::vector<row> rows{
      {ax("failed", "not_submitted", "not_created"), "failed", "failed", "", 1},
      {ax("submitted", "running", "failed"), "failed", "failed", "daliuge_failed_scheduler_active",
       2},
      {ax("submitted", "timed_out", "running"), "failed", "failed",
       "scheduler_failed_daliuge_active", 3},
      {ax("submitted", "succeeded", "running"), "failed", "inconsistent",
       "scheduler_finished_daliuge_active", 4},
      {ax("submitted", "cancelled", "not_created"), "cancelled", "cancelled", "", 5},
      {ax("submitted", "cancelled", "running"), "cancelled", "inconsistent", "partial_cancellation",
       5},
      {ax("submitted", "succeeded", "finished"), "completed", "succeeded", "", 6},
      {ax("submitted", "not_submitted", "finished", "pending", true), "running", std::nullopt, "",
       6},
      {ax("submitted", "not_submitted", "finished", "verified", true), "completed", "succeeded", "",
       6},
      {ax("uncertain", "running", "not_created"), "awaiting_scheduler", std::nullopt,
       "submission_outcome_uncertain", 7},
      {ax("submitted", "pending", "not_created"), "awaiting_scheduler", std::nullopt, "", 8},
      {ax("submitted", "running", "not_created"), "running", std::nullopt, "", 9},
      {ax("submitted", "not_submitted", "deploying"), "running", std::nullopt, "", 9},
      {ax("submitted", "succeeded", "unknown"), "awaiting_scheduler", std::nullopt,
       "scheduler_finished_daliuge_unconfirmed", 10},
      {ax("submitted", "unknown", "not_created"), "awaiting_scheduler", std::nullopt, "", 11},
      {ax("not_started", "not_submitted", "not_created"), "pending", std::nullopt, "", 12},
  };
  for (const auto& r : rows) {
    auto d = reconcile(r.a);
    INFO(r.a.submission << "/" << r.a.scheduler << "/" << r.a.daliuge);
    CHECK(d.status == r.status);
    CHECK(d.outcome == r.outcome);
    CHECK(d.mismatch_code == r.mismatch);
    CHECK(d.rule == r.rule);
  }
  CHECK(scheduler_state_from_slurm("COMPLETED") == "succeeded");
  CHECK(scheduler_state_from_slurm("TIMEOUT") == "timed_out");
  CHECK(scheduler_state_from_slurm("COMPLETING") == "unknown");  // callers normalise first
}

TEST_CASE("a submission is intended once and never again while it may exist") {
  harness h;
  h.intended();
  CHECK(h.s("submission_state") == "in_flight");
  CHECK(h.refusal("intend_submission", {{"session_id", "BeampipeExecution-x"},
                                        {"backend", "slurm_remote"}}) == "submission_held");
  CHECK(h.refusal("start") == "submission_held");
  CHECK(h.refusal("cancel") == "submission_unresolved");
  CHECK(h.refusal("fail", {{"error", "boom"}}) == "submission_may_exist");  // not certain
  REQUIRE_FALSE(h.run("record_submission", h.receipt("slurm")).error);
  CHECK(h.s("status") == "awaiting_scheduler");
  CHECK(h.s("submission_state") == "submitted");
  // The same receipt again is accepted without an event; another one is a conflict.
  CHECK(h.run("record_submission", h.receipt("slurm")).events.empty());
  CHECK(h.refusal("record_submission", h.receipt("slurm", "r2")) == "conflicting_receipt");
  CHECK(h.refusal("intend_submission", {{"session_id", "x"}, {"backend", "slurm_remote"}}) ==
        "submission_held");
}

TEST_CASE("polls drive the status; late results after a terminal state are ignored") {
  harness h;
  h.intended();
  REQUIRE_FALSE(h.run("record_submission", h.receipt("slurm")).error);
  REQUIRE_FALSE(h.run("observe", {{"scheduler_state", "running"}, {"raw_state", "RUNNING"}}).error);
  CHECK(h.s("status") == "running");
  CHECK(h.s("control_phase") == "monitoring");
  // The same observation again records nothing.
  CHECK(
      h.run("observe", {{"scheduler_state", "running"}, {"raw_state", "RUNNING"}}).events.empty());
  REQUIRE_FALSE(
      h.run("observe", {{"scheduler_state", "succeeded"}, {"raw_state", "COMPLETED"}}).error);
  CHECK(h.s("status") == "completed");
  CHECK(h.s("daliuge_state") == "finished");  // a finished Slurm job implies its graph ran
  CHECK(h.s("terminal_outcome") == "succeeded");
  auto late = h.run("observe", {{"scheduler_state", "failed"}, {"raw_state", "FAILED"}});
  CHECK(late.events.empty());
  CHECK_FALSE(late.error);
  CHECK(h.s("status") == "completed");
  CHECK(h.refusal("cancel") == "execution_terminal");
  CHECK(h.refusal("retry", {{"reason", "x"}}) == "execution_not_failed");
  CHECK(h.refusal("observe", {{"scheduler_state", "bogus"}})
            .empty());  // terminal: ignored before validation
}

TEST_CASE("an uncertain submission waits for reconciliation; adoption allows cancel") {
  harness h;
  h.intended();
  REQUIRE_FALSE(h.run("submission_uncertain", {{"error", "timeout after sbatch"}}).error);
  CHECK(h.s("status") == "awaiting_scheduler");
  CHECK(h.s("submission_state") == "uncertain");
  CHECK(h.refusal("cancel") == "submission_unresolved");
  CHECK(h.refusal("retry", {{"reason", "again"}}) == "execution_not_failed");
  REQUIRE_FALSE(h.run("observe", {{"adopt_scheduler_job_id", "77"},
                                  {"scheduler_name", "slurm"},
                                  {"scheduler_state", "running"},
                                  {"raw_state", "RUNNING"},
                                  {"lookup", json::object{{"outcome", "found"}}}})
                    .error);
  CHECK(h.s("scheduler_job_id") == "77");
  CHECK(h.s("submission_state") == "uncertain");  // adopted, not yet confirmed by a poll
  CHECK(h.refusal("observe", {{"adopt_scheduler_job_id", "78"}}) == "scheduler_job_conflict");
  REQUIRE_FALSE(h.run("observe", {{"scheduler_state", "running"},
                                  {"raw_state", "RUNNING"},
                                  {"confirms_submission", true}})
                    .error);
  CHECK(h.s("submission_state") == "submitted");
  REQUIRE_FALSE(h.run("cancel", {{"reason", "operator"}}).error);
  CHECK(h.s("status") == "running");  // recorded as cancelled only once the backend confirms
  CHECK(h.run("cancel").events.empty());
  REQUIRE_FALSE(
      h.run("observe", {{"scheduler_state", "cancelled"}, {"raw_state", "CANCELLED"}}).error);
  CHECK(h.s("status") == "cancelled");
}

TEST_CASE("certain failures and guarded retries") {
  harness h;
  h.intended();
  REQUIRE_FALSE(
      h.run("fail", {{"error", "TM unroll_and_partition failed"}, {"submission_failed", true}})
          .error);
  CHECK(h.s("status") == "failed");
  CHECK(h.s("submission_state") == "failed");
  CHECK(h.refusal("retry", {{"reason", ""}}) == "retry_reason_required");
  CHECK(h.refusal("retry", {{"reason", std::string(1001, 'x')}}) == "retry_reason_too_long");
  REQUIRE_FALSE(h.run("retry", {{"reason", "TM restarted"}}).error);
  CHECK(h.s("status") == "retrying");
  CHECK(h.s("retry_stage") == "submit");  // the manifest is kept; only the submission reruns
  CHECK(h.state.at("retry_count").as_int64() == 1);
  CHECK(h.s("submission_state") == "not_started");
  REQUIRE_FALSE(h.run("start").error);
  CHECK(h.s("status") == "running");

  harness u;  // scheduler work may exist: no retry
  u.intended();
  REQUIRE_FALSE(u.run("record_submission", u.receipt("slurm")).error);
  REQUIRE_FALSE(u.run("observe", {{"scheduler_state", "failed"}, {"raw_state", "FAILED"}}).error);
  CHECK(u.s("status") == "failed");
  CHECK(u.refusal("retry", {{"reason", "again"}}) == "submission_may_exist");
}

TEST_CASE("execute requests: only pending, same options are the same job") {
  harness h;
  h.created();
  REQUIRE_FALSE(h.run("request_execute", {{"do_stage", false}}).error);
  CHECK(h.run("request_execute", {{"do_stage", false}}).events.empty());
  CHECK(h.refusal("request_execute", {{"do_stage", true}}) == "execute_options_conflict");
  REQUIRE_FALSE(h.run("start").error);
  CHECK(h.refusal("request_execute", {{"do_stage", false}}) == "execution_not_pending");
  // A dry run ends not_submitted and cannot be submitted afterwards.
  harness d;
  d.prepared(false);
  REQUIRE_FALSE(d.run("not_submitted").error);
  CHECK(d.s("status") == "not_submitted");
  CHECK(d.refusal("intend_submission", {{"session_id", "x"}, {"backend", "rest_remote"}}) ==
        "execution_terminal");
}

TEST_CASE("idempotent create: same request hash replays, another is a conflict") {
  harness h;
  h.created();
  auto same = h.run("create", {{"request_sha256", "aa"}});
  CHECK_FALSE(same.error);
  CHECK(same.events.empty());
  CHECK(h.refusal("create", {{"request_sha256", "bb"}}) == "idempotency_conflict");
}

TEST_CASE("abandoning an unresolved submission needs every safety condition") {
  harness h;
  h.created();
  REQUIRE_FALSE(h.run("request_execute").error);
  REQUIRE_FALSE(h.run("start").error);
  REQUIRE_FALSE(h.run("prepared", {{"manifest", json::object{}},
                                   {"manifest_sha256", std::string(64, 'a')},
                                   {"do_submit", true}})
                    .error);
  REQUIRE_FALSE(h.run("intend_submission", {{"session_id", "BeampipeExecution-x"},
                                            {"backend", "slurm_remote"},
                                            {"target_fingerprint", "fp"},
                                            {"deadline_at", "2026-11-01T00:30:00Z"}})
                    .error);
  REQUIRE_FALSE(h.run("submission_uncertain", {{"error", "lost"}}).error);
  json::object req{{"reason", "job never reached Slurm"},
                   {"expected_submission_state", "uncertain"},
                   {"expected_daliuge_session_id", "BeampipeExecution-x"},
                   {"expected_submission_deadline_at", "2026-11-01T00:30:00Z"},
                   {"acknowledge_external_job_may_exist", true},
                   {"now", "2026-11-02T02:00:00Z"}};
  auto with = [&](const char* k, json::value v) {
    auto b = req;
    b[k] = std::move(v);
    return b;
  };
  CHECK(h.refusal("abandon", with("acknowledge_external_job_may_exist", false)) ==
        "acknowledgement_required");
  CHECK(h.refusal("abandon", with("reason", "")) == "abandon_reason_invalid");
  CHECK(h.refusal("abandon", with("expected_daliuge_session_id", "other")) ==
        "abandon_state_changed");
  CHECK(h.refusal("abandon", req) == "abandon_lookups_pending");  // no budget spent yet
  auto lookup = [&](const char* at, const char* outcome, bool spent = false) {
    json::object b{{"scheduler_state", "unknown"},
                   {"raw_state", std::string("lookup:") + outcome},
                   {"observed_at", at},
                   {"lookup", json::object{{"outcome", outcome}}}};
    if (spent) {
      b["lookup_budget_exhausted"] = true;
      b["lookup_evidence"] = json::object{{"lookups", 5}, {"not_found", 5}};
    }
    auto d = h.run("observe", b);
    REQUIRE_FALSE(d.error);
    return d.events.size();
  };
  CHECK(lookup("2026-11-02T01:40:00Z", "not_found") == 1);
  // The same outcome again is not recorded (issue #17: one event per lookup round).
  CHECK(lookup("2026-11-02T01:50:00Z", "not_found") == 0);
  CHECK(h.refusal("abandon", req) == "abandon_lookups_pending");
  CHECK(lookup("2026-11-02T01:52:00Z", "error") == 1);  // an error is a change, and recorded
  CHECK(lookup("2026-11-02T01:53:00Z", "not_found", true) == 1);
  CHECK(h.state.at("lookup_budget_exhausted").as_bool());
  CHECK(h.s("reconciliation_code") == "lookup_budget_exhausted");
  CHECK(h.s("status") != "failed");  // spending the budget ends nothing by itself
  CHECK(lookup("2026-11-02T01:54:00Z", "not_found", true) == 0);  // recorded once
  auto ok = h.run("abandon", req);
  REQUIRE_FALSE(ok.error);
  CHECK(h.s("status") == "failed");
  CHECK(h.s("terminal_outcome") == "inconsistent");
  // A receipt arriving afterwards is kept and flagged, the ledger stays failed.
  REQUIRE_FALSE(h.run("record_submission", h.receipt("slurm")).error);
  CHECK(h.s("status") == "failed");
  CHECK(h.state.at("submission_detected_after_abandonment").as_bool());

  harness seen;  // a lookup that once found a job forbids abandonment
  seen.created();
  seen.run("request_execute");
  seen.run("start");
  seen.run("prepared", {{"manifest", json::object{}},
                        {"manifest_sha256", std::string(64, 'a')},
                        {"do_submit", true}});
  seen.run("intend_submission", {{"session_id", "BeampipeExecution-x"},
                                 {"backend", "slurm_remote"},
                                 {"target_fingerprint", "fp"},
                                 {"deadline_at", "2026-11-01T00:30:00Z"}});
  seen.run("submission_uncertain", {{"error", "lost"}});
  REQUIRE_FALSE(seen.run("observe", {{"scheduler_state", "unknown"},
                                     {"raw_state", "lookup:ambiguous"},
                                     {"observed_at", "2026-11-02T01:40:00Z"},
                                     {"lookup", json::object{{"outcome", "ambiguous"}}}})
                    .error);
  REQUIRE_FALSE(seen.run("observe", {{"scheduler_state", "unknown"},
                                     {"raw_state", "lookup:not_found"},
                                     {"lookup", json::object{{"outcome", "not_found"}}},
                                     {"lookup_budget_exhausted", true}})
                    .error);
  CHECK(seen.refusal("abandon", req) == "abandon_job_seen");
}

TEST_CASE("a submitted run is abandonable only once it stopped moving (issue #17)") {
  harness h;
  h.prepared();
  REQUIRE_FALSE(h.run("intend_submission", {{"session_id", "BeampipeExecution-x"},
                                            {"backend", "rest_remote"},
                                            {"deadline_at", "2026-11-01T00:30:00Z"}})
                    .error);
  REQUIRE_FALSE(h.run("record_submission", h.receipt("daliuge")).error);
  json::object req{{"reason", "the DIM is gone"},
                   {"expected_submission_state", "submitted"},
                   {"expected_daliuge_session_id", "BeampipeExecution-x"},
                   {"expected_submission_deadline_at", "2026-11-01T00:30:00Z"},
                   {"acknowledge_external_job_may_exist", true},
                   {"now", "2026-11-01T01:00:00Z"}};
  CHECK(h.refusal("abandon", req) == "abandon_not_stuck");
  // A cancel the backend never confirms is withdrawn with its evidence, once.
  REQUIRE_FALSE(h.run("cancel", {{"reason", "stop"}}).error);
  CHECK(h.state.at("cancel_requested").as_bool());
  auto d = h.run("cancel_unconfirmed", {{"attempts", 8}, {"error", "DIM unreachable"}});
  REQUIRE_FALSE(d.error);
  REQUIRE(d.events.size() == 1);
  CHECK(h.last_types.front() == "ExecutionCancelUnconfirmed");
  CHECK_FALSE(h.state.at("cancel_requested").as_bool());
  CHECK(h.state.at("cancel_unconfirmed").as_bool());
  CHECK(h.run("cancel_unconfirmed", {{"attempts", 9}}).events.empty());
  // The operator may cancel again (which clears the flag) or abandon.
  auto ok = h.run("abandon", req);
  REQUIRE_FALSE(ok.error);
  CHECK(h.s("status") == "failed");
  CHECK(h.s("terminal_outcome") == "inconsistent");

  harness p;  // a run past its polling budget
  p.prepared();
  p.run("intend_submission", {{"session_id", "BeampipeExecution-x"},
                              {"backend", "rest_remote"},
                              {"deadline_at", "2026-11-01T00:30:00Z"}});
  p.run("record_submission", p.receipt("daliuge"));
  CHECK(p.refusal("abandon", req) == "abandon_not_stuck");
  REQUIRE_FALSE(p.run("observe", {{"kind", "daliuge_session"},
                                  {"daliuge_state", "building"},
                                  {"raw_state", "BUILDING"},
                                  {"poll_budget_exhausted", true}})
                    .error);
  CHECK_FALSE(p.run("abandon", req).error);
}

TEST_CASE("a session built but never deployed: one recorded redeploy, then a clear failure") {
  harness h;
  h.prepared();
  REQUIRE_FALSE(h.run("intend_submission",
                      {{"session_id", "BeampipeExecution-x"}, {"backend", "rest_remote"}})
                    .error);
  REQUIRE_FALSE(h.run("submission_uncertain", {{"error", "deploy: 555"}}).error);
  // Not yet redeployed: the run cannot fail for a built session (the deploy may have run).
  CHECK(h.refusal("fail", {{"error", "never deployed"}, {"deploy_not_taken", true}}) ==
        "submission_may_exist");
  auto d = h.run("intend_redeploy", {{"session_state", "BUILDING"}, {"reason", "lookup"}});
  REQUIRE_FALSE(d.error);
  CHECK(h.last_types.front() == "SubmissionRedeployIntended");
  CHECK(h.refusal("intend_redeploy", {{"session_state", "BUILDING"}}) ==
        "redeploy_already_intended");
  REQUIRE_FALSE(h.run("fail", {{"error", "still BUILDING after its redeploy"},
                               {"deploy_not_taken", true},
                               {"failure_class", "deploy_not_taken"}})
                    .error);
  CHECK(h.s("status") == "failed");
  CHECK(h.s("submission_state") == "failed");
  CHECK(h.s("failure_class") == "deploy_not_taken");

  harness p;  // a session that never got its graph fails at once
  p.prepared();
  p.run("intend_submission", {{"session_id", "BeampipeExecution-x"}, {"backend", "rest_remote"}});
  p.run("submission_uncertain", {{"error", "append timed out"}});
  REQUIRE_FALSE(p.run("fail", {{"error", "session is PRISTINE"},
                               {"deploy_not_taken", true},
                               {"session_state", "pristine"}})
                    .error);
  CHECK(p.s("status") == "failed");
}

TEST_CASE("failure classes: a failed DALiuGE session has one; a later completion clears it") {
  harness h;
  h.prepared();
  h.run("intend_submission", {{"session_id", "BeampipeExecution-x"}, {"backend", "rest_remote"}});
  h.run("record_submission", h.receipt("daliuge"));
  REQUIRE_FALSE(
      h.run("observe",
            {{"kind", "daliuge_session"}, {"daliuge_state", "failed"}, {"raw_state", "FAILED"}})
          .error);
  CHECK(h.s("status") == "failed");
  CHECK(h.s("failure_class") == "daliuge_session_failed");

  harness a;  // an uncertain submission adopted by lookup, then completed
  a.intended();
  a.run("submission_uncertain", {{"error", "lost answer"}, {"failure_class", "unknown"}});
  CHECK(a.s("failure_class") == "unknown");
  REQUIRE_FALSE(a.run("observe", {{"scheduler_state", "running"},
                                  {"raw_state", "RUNNING"},
                                  {"adopt_scheduler_job_id", "42"},
                                  {"scheduler_name", "slurm"},
                                  {"remote_session_dir", "/dlg/s1"},
                                  {"staging_root", "/dlg/s1/wallaby-staging"},
                                  {"submission_receipt_sha256", std::string(64, 'b')},
                                  {"receipt", json::object{{"adopted_by_lookup", true}}},
                                  {"lookup", json::object{{"outcome", "found"}}}})
                    .error);
  CHECK(a.s("submission_receipt_sha256") == std::string(64, 'b'));
  CHECK(a.s("last_error").empty());
  CHECK(a.s("failure_class").empty());
  CHECK(a.s("staging_root") == "/dlg/s1/wallaby-staging");
  CHECK(a.state.at("adopted_by_lookup").as_bool());
  a.run("observe", {{"scheduler_state", "succeeded"},
                    {"raw_state", "COMPLETED"},
                    {"confirms_submission", true}});
  CHECK(a.s("status") == "completed");
  CHECK(a.s("failure_class").empty());
}

TEST_CASE("events keep no secret: backend error texts are redacted and bounded when recorded") {
  harness h;
  h.prepared();
  auto d = h.run("fail", {{"error",
                           "DIM answered 500: retry with token=abc123 at "
                           "https://ops:hunter2@dim.example.org/api?x=1 " +
                               std::string(5000, 'x')},
                          {"failure_class", "dependency_unavailable"}});
  REQUIRE_FALSE(d.error);
  auto text = json::serialize(d.events.front().data);
  CHECK(text.find("abc123") == std::string::npos);
  CHECK(text.find("hunter2") == std::string::npos);
  CHECK(text.find("[redacted]") != std::string::npos);
  CHECK(h.s("last_error").size() <= 2003);  // 2000 bytes and an ellipsis
}

TEST_CASE("a cancel reason is text: a string without NUL or control characters") {
  harness h;
  h.created();
  CHECK(h.refusal("cancel", {{"reason", json::array{json::array{"deep"}}}}) == "invalid_field");
  CHECK(h.refusal("cancel", {{"reason", std::string("nul\0here", 8)}}) == "invalid_field");
  CHECK(h.refusal("cancel", {{"reason", "bell\x07"}}) == "invalid_field");
  CHECK(h.refusal("cancel", {{"reason", std::string(1001, 'r')}}) == "invalid_field");
  auto d = h.run("cancel", {{"reason", "operator request\nsee ticket 42"}});
  REQUIRE_FALSE(d.error);
  CHECK(h.s("cancel_reason") == "operator request\nsee ticket 42");
}

TEST_CASE("outputs a profile requires are verified once the DALiuGE session finished") {
  harness h;
  REQUIRE_FALSE(
      h.run("create", {{"project_module", "m"},
                       {"archive_name", "casda"},
                       {"sources", json::array{json::object{{"source_identifier", "S1"}}}},
                       {"output_verification_required", true}})
          .error);
  REQUIRE_FALSE(h.run("request_execute", {{"do_submit", true}}).error);
  REQUIRE_FALSE(h.run("start").error);
  REQUIRE_FALSE(h.run("prepared", {{"manifest", json::object{{"sources", json::array{}}}},
                                   {"manifest_sha256", std::string(64, 'a')},
                                   {"do_submit", true}})
                    .error);
  h.run("intend_submission", {{"session_id", "BeampipeExecution-x"}, {"backend", "rest_remote"}});
  h.run("record_submission", h.receipt("daliuge"));
  CHECK(h.refusal("verify_outputs", {}) == "outputs_not_pending");
  REQUIRE_FALSE(
      h.run("observe",
            {{"kind", "daliuge_session"}, {"daliuge_state", "finished"}, {"raw_state", "FINISHED"}})
          .error);
  CHECK(h.s("output_state") == "pending");
  CHECK(h.s("status") != "completed");  // not before its outputs are verified
  CHECK(h.refusal("verify_outputs", {{"inventory", json::object{{"schema", "other"}}}}) ==
        "invalid_field");
  json::array products{
      json::object{{"bytes", 10}, {"path", "cubes/S1.fits"}, {"sha256", std::string(64, 'c')}}};
  json::object inventory{{"schema", "wallaby-hires-output-inventory/v1"},
                         {"products", products},
                         {"inventory_sha256", sha256_hex(stable_json(json::value(products)))},
                         {"durable_destination_uri", "s3://wallaby/S1/"},
                         {"publication", json::object{{"acknowledged", true},
                                                      {"publisher", "casda"},
                                                      {"receipt_id", "p1"},
                                                      {"published_at", "2026-11-02T00:00:00Z"}}}};
  REQUIRE_FALSE(h.run("verify_outputs", {{"inventory", inventory}}).error);
  CHECK(h.last_types == std::vector<std::string>{"ExecutionOutputsVerified"});
  CHECK(h.s("output_state") == "verified");
  CHECK(h.s("status") == "completed");
}

TEST_CASE("the state is the ledger row: run records merge, control phases are timed") {
  harness h;
  REQUIRE_FALSE(
      h.run("create", {{"project_module", "m"},
                       {"archive_name", "casda"},
                       {"sources", json::array{json::object{{"source_identifier", "S1"}}}},
                       {"automation", json::object{{"claim_token", "t1"}}}})
          .error);
  CHECK(h.state.at("created_at") == "2026-11-01T00:00:00.000000Z");
  REQUIRE_FALSE(h.run("request_execute").error);
  REQUIRE_FALSE(h.run("start").error);
  REQUIRE_FALSE(h.run("prepared", {{"manifest", json::object{{"sources", json::array{}}}},
                                   {"manifest_sha256", std::string(64, 'a')},
                                   {"do_submit", true}})
                    .error);
  const auto rr = [&] {
    return h.state.at("workflow_manifest").as_object().at("beampipe_run_record").as_object();
  };
  CHECK(rr().at("scheduler").as_object().at("claim_token") == "t1");  // admission kept
  REQUIRE_FALSE(h.run("intend_submission",
                      {{"session_id", "BeampipeExecution-x"}, {"backend", "slurm_remote"}})
                    .error);
  auto receipt = h.receipt("slurm");
  receipt["run_record"] = json::object{{"slurm", json::object{{"slurm_job_id", "42"}}}};
  REQUIRE_FALSE(h.run("record_submission", receipt).error);
  CHECK(rr().at("slurm").as_object().at("slurm_job_id") == "42");  // merged, not replaced
  CHECK(rr().contains("scheduler"));
  const auto& phases = h.state.at("phase_timestamps").as_object();
  CHECK(phases.contains("graph_patched"));
  CHECK(phases.contains("submitted"));
}

TEST_CASE("sources are finalized once, and only after the run ended") {
  harness h;
  h.prepared(false);
  CHECK(h.refusal("finalize_sources") == "execution_not_terminal");
  REQUIRE_FALSE(h.run("fail", {{"error", "graph sha256 mismatch"}}).error);
  REQUIRE(h.run("finalize_sources").events.size() == 1);
  CHECK(h.state.at("sources_finalized") == true);
  CHECK(h.run("finalize_sources").events.empty());
}

TEST_CASE("a job found by name that already ended confirms its submission") {
  harness h;
  h.intended();
  REQUIRE_FALSE(h.run("submission_uncertain", {{"error", "connection reset after deploy"}}).error);
  REQUIRE_FALSE(h.run("observe", {{"adopt_scheduler_job_id", "BeampipeExecution-x"},
                                  {"scheduler_name", "daliuge"},
                                  {"kind", "daliuge_session"},
                                  {"daliuge_state", "finished"},
                                  {"raw_state", "FINISHED"},
                                  {"lookup", json::object{{"outcome", "found"}}}})
                    .error);
  CHECK(h.s("status") == "completed");
  CHECK(h.s("submission_state") == "submitted");  // no poll by id will ever follow
}

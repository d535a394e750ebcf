#include "domain/execution.hpp"

#include <array>

namespace beampipe::domain {

namespace {
template <size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& set) {
  for (auto v : set)
    if (v == s) return true;
  return false;
}
}  // namespace

bool is_submission_state(std::string_view s) {
  return one_of(s, std::array<std::string_view, 6>{"not_started", "preparing", "in_flight",
                                                   "submitted", "uncertain", "failed"});
}

bool is_scheduler_state(std::string_view s) {
  return one_of(s,
                std::array<std::string_view, 8>{"not_submitted", "pending", "running", "succeeded",
                                                "failed", "cancelled", "timed_out", "unknown"});
}

bool is_daliuge_state(std::string_view s) {
  return one_of(s, std::array<std::string_view, 10>{"not_created", "pristine", "building",
                                                    "deploying", "running", "finished", "cancelled",
                                                    "failed", "unknown", "unreachable"});
}

bool daliuge_active(std::string_view s) {
  return one_of(s, std::array<std::string_view, 4>{"pristine", "building", "deploying", "running"});
}

bool scheduler_active(std::string_view s) { return s == "pending" || s == "running"; }

reconcile_decision reconcile(const execution_axes& a) {
  const bool dl_active = daliuge_active(a.daliuge);
  const bool sch_active = scheduler_active(a.scheduler);
  if (a.output == "failed" || a.submission == "failed")
    return {"failed", "failed", "none", "", false, 1};
  if (a.daliuge == "failed") {
    if (sch_active)
      return {"failed", "failed", "poll_scheduler", "daliuge_failed_scheduler_active", false, 2};
    return {"failed", "failed", "none", "", false, 2};
  }
  if (a.scheduler == "failed" || a.scheduler == "timed_out") {
    if (dl_active)
      return {"failed", "failed", "poll_daliuge", "scheduler_failed_daliuge_active", false, 3};
    return {"failed", "failed", "none", "", false, 3};
  }
  if (a.scheduler == "succeeded" && dl_active)
    return {"failed", "inconsistent", "operator_review", "scheduler_finished_daliuge_active", true,
            4};
  if (a.scheduler == "cancelled" || a.daliuge == "cancelled") {
    // One layer cancelled while the other still runs needs a human.
    if (sch_active || dl_active)
      return {"cancelled", "inconsistent", "operator_review", "partial_cancellation", true, 5};
    return {"cancelled", "cancelled", "none", "", false, 5};
  }
  if (a.daliuge == "finished" && (a.scheduler == "succeeded" || a.scheduler == "not_submitted")) {
    if (a.output_verification_required && a.output != "verified")
      return {"running", std::nullopt, "verify_outputs", "", false, 6};
    return {"completed", "succeeded", "none", "", false, 6};
  }
  if (a.submission == "uncertain")
    return {"awaiting_scheduler",           std::nullopt, "poll_scheduler",
            "submission_outcome_uncertain", false,        7};
  if (a.scheduler == "pending")
    return {"awaiting_scheduler", std::nullopt, "poll_scheduler", "", false, 8};
  if (a.scheduler == "running" || dl_active)
    return {"running", std::nullopt, "poll_daliuge", "", false, 9};
  if (a.scheduler == "succeeded" &&
      (a.daliuge == "unknown" || a.daliuge == "unreachable" || a.daliuge == "not_created"))
    return {"awaiting_scheduler",
            std::nullopt,
            "poll_daliuge",
            "scheduler_finished_daliuge_unconfirmed",
            false,
            10};
  if (a.scheduler == "unknown")
    return {"awaiting_scheduler", std::nullopt, "poll_scheduler", "", false, 11};
  return {"pending", std::nullopt, "wait", "", false, 12};
}

std::string scheduler_state_from_slurm(std::string_view n) {
  if (n == "PENDING") return "pending";
  if (n == "RUNNING") return "running";
  if (n == "COMPLETED" || n == "SUCCEEDED") return "succeeded";
  if (n == "FAILED") return "failed";
  if (n == "CANCELLED" || n == "CANCELED") return "cancelled";
  if (n == "TIMEOUT" || n == "TIMED_OUT") return "timed_out";
  if (n == "NOT_SUBMITTED") return "not_submitted";
  return "unknown";
}

std::optional<std::string> plan_retry(const retry_inputs& in, std::string& stage) {
  if (in.status != "failed") return "execution_not_failed";
  if (in.terminal_outcome && *in.terminal_outcome == "inconsistent")
    return "external_state_inconsistent";
  if (in.submission_state == "preparing" || in.submission_state == "in_flight" ||
      in.submission_state == "submitted" || in.submission_state == "uncertain")
    return "submission_may_exist";
  if (in.has_scheduler_job_id || in.scheduler_state != "not_submitted")
    return "scheduler_work_exists";
  if (in.daliuge_state != "not_created") return "daliuge_session_may_exist";
  const bool phase_submit = in.execution_phase && *in.execution_phase == "submit";
  if (phase_submit || (in.submission_state == "failed" && in.has_manifest)) {
    if (!in.has_manifest) return "retry_manifest_missing";
    stage = "submit";
  } else {
    stage = "stage_and_manifest";
  }
  return std::nullopt;
}

}  // namespace beampipe::domain

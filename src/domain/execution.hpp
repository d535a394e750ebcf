#pragma once
// The independent execution axes and the reconciler that derives the ledger status from
// them (spec §2.3), plus retry planning. Pure: no I/O.
//
// Axis values are the spec's snake_case words, kept as strings because they travel in
// events and read models as such; the sets below are the only values the deciders write.
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::domain {

// submission_state: not_started, preparing, in_flight, submitted, uncertain, failed
// scheduler_state:  not_submitted, pending, running, succeeded, failed, cancelled, timed_out,
// unknown daliuge_state:    not_created, pristine, building, deploying, running, finished,
// cancelled,
//                   failed, unknown, unreachable
// output_state:     not_started, pending, verifying, verified, failed, unknown
struct execution_axes {
  std::string submission = "not_started";
  std::string scheduler = "not_submitted";
  std::string daliuge = "not_created";
  std::string output = "not_started";
  bool output_verification_required = false;
};

bool is_submission_state(std::string_view s);
bool is_scheduler_state(std::string_view s);
bool is_daliuge_state(std::string_view s);
bool daliuge_active(std::string_view s);    // pristine | building | deploying | running
bool scheduler_active(std::string_view s);  // pending | running

struct reconcile_decision {
  std::string status;                  // ledger status
  std::optional<std::string> outcome;  // terminal_outcome when the rule sets one
  std::string next_action;             // none | poll_scheduler | poll_daliuge | operator_review |
                                       // verify_outputs | wait
  std::string mismatch_code;           // "" when the layers agree
  bool requires_operator = false;
  int rule = 0;  // 1-based row of the §2.3 table (for tests and diagnostics)
};

// §2.3: the first matching rule wins.
reconcile_decision reconcile(const execution_axes& a);

// Protocols §6.7 / domain §2.3: Slurm's normalised state → scheduler axis
// (PENDING→pending, RUNNING→running, COMPLETED→succeeded, FAILED→failed,
// CANCELLED→cancelled, TIMEOUT→timed_out, anything else → unknown).
std::string scheduler_state_from_slurm(std::string_view normalized);

// §2.3 retry planning. Returns the refusal code, or nullopt with `stage` set.
struct retry_inputs {
  std::string status;
  std::optional<std::string> terminal_outcome;
  std::string submission_state;
  std::string scheduler_state;
  std::string daliuge_state;
  bool has_scheduler_job_id = false;
  std::optional<std::string> execution_phase;
  bool has_manifest = false;
};
std::optional<std::string> plan_retry(const retry_inputs& in, std::string& stage);

}  // namespace beampipe::domain

// Where an execution runs: the DALiuGE REST path (Translator Manager + Data Island Manager)
// or Slurm over SSH, each with a real client and a deterministic simulated twin that is the
// default when no real backend is configured. The execution worker only sees this interface.
//
// All calls block; the worker runs them off actor threads.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "domain/deployment_profile.hpp"

namespace beampipe::adapters {

// What the worker knows about a submitted (or possibly submitted) execution.
struct execution_ref {
  std::string execution_id;
  std::string session_id;          // deterministic DALiuGE session id = Slurm job name
  std::string scheduler_job_id;    // "" before a receipt or an adoption
  std::string remote_session_dir;  // Slurm session folder, when known
  std::string intent_at;           // RFC 3339 UTC time the intent was recorded
  domain::DeploymentProfile profile;
};

struct submit_request {
  std::string execution_id;
  std::string session_id;
  // The logical graph's JSON text (manifest injected, patches applied): the bytes the patched
  // graph artifact holds, sent as they are.
  std::string logical_graph;
  domain::DeploymentProfile profile;
  std::chrono::steady_clock::time_point deadline;
  // Test hook: runs once the backend has accepted the submission and before submit returns
  // (a crash here is the "sent but not recorded" case reconciliation must resolve).
  std::function<void()> after_dispatch;
};

struct submit_receipt {
  std::string scheduler_name;  // "daliuge" | "slurm"
  std::string scheduler_job_id;
  std::string remote_session_dir;
  std::string staging_root;
  std::string manager_url;
  boost::json::value physical_graph;  // what was deployed: the PG spec (REST) or the PGT (Slurm)
  // The backend deployed the logical graph as given (no translation; the simulated DIM): the
  // physical graph is the request's logical graph, and `physical_graph` stays null.
  bool physical_is_logical = false;
  boost::json::object run_record;  // {"dim":{…}} or {"slurm":{…}} (§8.1)
};

// A submission that did not go through. `uncertain` means it may have reached the backend:
// the execution is then held for reconciliation and never resubmitted.
class submission_error : public std::runtime_error {
 public:
  submission_error(const std::string& message, bool uncertain, std::string failure_class = "")
      : std::runtime_error(message),
        uncertain_(uncertain),
        failure_class_(std::move(failure_class)) {}
  bool uncertain() const noexcept { return uncertain_; }
  const std::string& failure_class() const noexcept { return failure_class_; }
  // Where an uncertain Slurm submission's session folder is (the job may exist), or "".
  std::string remote_session_dir, staging_root;

 private:
  bool uncertain_;
  std::string failure_class_;
};

struct observation {
  std::string kind = "scheduler";  // scheduler | daliuge_session
  std::string scheduler_state;     // §2.3 axis value; "" = not observed
  std::string daliuge_state;       // §2.3 axis value; "" = not observed
  std::string raw_state;
  std::string reason;
  std::string error;  // last_error text when this observation fails the run
  std::optional<int> exit_code;
  boost::json::value daliuge_raw_status;  // DIM /status body, when polled
  boost::json::object run_record;         // merged into beampipe_run_record
  boost::json::object payload;
};

struct lookup_result {
  std::string outcome;  // found | not_found | ambiguous | error
  std::string scheduler_job_id;
  std::string remote_session_dir;
  // What the backend holds of the found submission's physical graph (DIM: the session's
  // graph), or null.
  boost::json::value physical_graph;
  observation state;
  boost::json::object payload;  // what was asked and seen, for the observation row
};

struct cancel_result {
  bool confirmed = false;
  std::string reason;
  observation state;  // the confirming observation when confirmed
};

// What the dependency prober learns from a backend's own check of a profile's target.
struct target_check {
  bool up = false;
  std::string detail;  // why it is down; short, never a secret
};

class execution_backend {
 public:
  virtual ~execution_backend() = default;
  virtual std::string description() const = 0;     // for logs and diagnostics, never secrets
  virtual std::string scheduler_name() const = 0;  // "daliuge" | "slurm"
  // §12.2: identifies where a submission goes (Slurm: login node, port, user, slot).
  virtual std::string target_fingerprint(const domain::DeploymentProfile& profile) const = 0;
  virtual std::string manager_url(const domain::DeploymentProfile& profile) const = 0;
  // Throws submission_error.
  virtual submit_receipt submit(const submit_request& request) = 0;
  // One observation per ref (same order). Throws std::runtime_error when the backend cannot
  // be asked at all; per-execution problems come back as observations.
  virtual std::vector<observation> poll(const std::vector<execution_ref>& refs) = 0;
  // Exact-name lookup of a submission whose receipt was never recorded (§12.3).
  virtual lookup_result lookup(const execution_ref& ref) = 0;
  virtual cancel_result cancel(const execution_ref& ref) = 0;
  // Deploys again a DALiuGE session that was created and built but never deployed (its
  // deploy answer was lost or refused); throws when that is not possible. Issue #17.
  virtual void redeploy(const execution_ref&) {
    throw std::runtime_error(description() + " cannot deploy a session again");
  }
  // Spec §3.5 step 6: checked before a submission intent is recorded. Why the backend cannot
  // take a submission now (its managers do not answer), or nullopt.
  virtual std::optional<std::string> preflight(const domain::DeploymentProfile&) {
    return std::nullopt;
  }
  // Frees what a run keeps on the backend once its terminal state is observed and recorded
  // (DALiuGE REST: DELETE the DIM session when the pinned profile's delete_finished_sessions
  // is on; an already missing session counts as freed). nullopt: nothing to do; otherwise
  // what was done, for the log. Throws std::runtime_error when the backend cannot be asked.
  virtual std::optional<std::string> release(const execution_ref&) { return std::nullopt; }
  // The dependency prober's check (/ready, metrics) that the profile's target takes real
  // commands (Slurm: `squeue --version` over the pooled SSH session), within `timeout`.
  // nullopt: the backend has no check of its own.
  virtual std::optional<target_check> check_target(const domain::DeploymentProfile&,
                                                   std::chrono::milliseconds /*timeout*/) {
    return std::nullopt;
  }
  // GET /daliuge/inspect and /daliuge/sessions (issue #21): what the profile's DALiuGE managers
  // say now, each asked once within `timeout`: {translator: {endpoint, reachable, detail,
  // submission_methods}, manager: {endpoint, reachable, detail, sessions}} (URLs redacted).
  // nullopt: the backend has no standing DALiuGE to ask (Slurm starts one per job).
  virtual std::optional<boost::json::object> inspect_daliuge(
      const domain::DeploymentProfile&, std::chrono::milliseconds /*timeout*/) {
    return std::nullopt;
  }
  // GET /scheduler/status: the profile's Slurm login node asked now: {target, reachable,
  // detail, scheduler_version, missing_commands} (of sbatch squeue sacct scancel). nullopt: no
  // Slurm to ask (the simulated backend).
  virtual std::optional<boost::json::object> inspect_scheduler(
      const domain::DeploymentProfile&, std::chrono::milliseconds /*timeout*/) {
    return std::nullopt;
  }
};

// Chooses the backend for a deployment profile (the snapshot pinned at admission).
using backend_factory =
    std::function<std::shared_ptr<execution_backend>(const domain::DeploymentProfile&)>;

// Simulated DIM and Slurm: states follow the time since the intent was recorded
// (DIM: deploying → running → finished; Slurm: PENDING → RUNNING → COMPLETED), so they
// survive restarts and need no stored state. `duration` is the whole run.
std::shared_ptr<execution_backend> make_simulated_dim(std::chrono::milliseconds duration);
std::shared_ptr<execution_backend> make_simulated_slurm(std::chrono::milliseconds duration);

}  // namespace beampipe::adapters

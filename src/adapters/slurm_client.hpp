// Slurm on a remote login node over SSH (protocols §6): submit a DALiuGE session
// ([HEAD] flow, §6.2), poll job states (§6.5), find jobs by name after an uncertain
// submission (§12.3) and cancel with confirmation (§6.6).
//
// Blocking; callers run it off actor threads. Connections are pooled per target and
// reused across calls; calls on one target are serialised. sbatch is never retried: a
// failure that may have reached Slurm is reported as submission_uncertain and must be
// reconciled by job name (find_by_name), never resubmitted.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/ssh_session.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/slurm.hpp"

namespace beampipe::adapters {

class slurm_error : public std::runtime_error {
 public:
  enum class kind {
    invalid_request,       // bad ids, bad profile values: nothing was sent
    transport,             // SSH connect/auth/host key/channel/timeout
    remote_command,        // a command ran and failed (non-zero exit, no exit status)
    bad_output,            // a command's output could not be parsed
    submission_failed,     // submit: certainly nothing was submitted
    submission_uncertain,  // submit: sbatch may have created a job; reconcile by name
  };
  slurm_error(kind k, const std::string& message) : std::runtime_error(message), kind_(k) {}
  kind code() const noexcept { return kind_; }
  // For submission errors: what is known so far (for reconciliation and the operator).
  std::string session_dir;
  std::string sbatch_stdout;

 private:
  kind kind_;
};

struct slurm_target {
  std::string host;
  int port = 22;
  std::string user;
  std::string private_key_file;
  std::optional<std::string> passphrase_file;
  std::string known_hosts_file;
  bool strict_host_key = true;
};

struct slurm_client_options {
  std::chrono::milliseconds connect_timeout{15'000};
  std::chrono::milliseconds command_timeout{120'000};
  std::chrono::seconds pool_idle{300};  // a pooled connection unused this long is reopened
  // Cancel confirmation (§6.6): re-polls, the pause between them, and the overall limit.
  int cancel_confirm_polls = 11;
  std::chrono::milliseconds cancel_confirm_interval{3'000};
  std::chrono::milliseconds cancel_confirm_limit{45'000};
};

struct slurm_probe_result {
  bool ok = false;
  std::vector<std::string> missing_commands;  // of sbatch squeue sacct scancel
  std::string detail;
};

struct slurm_submit_request {
  domain::SlurmRemoteDeployment deployment;
  std::string execution_id;  // E in BeampipeExecution_<E>.*
  std::string session_id;    // SID: DALiuGE session id and Slurm job name
  std::string pgt_json;      // ["<SID>.pgt.graph", [...drops..., {reprodata}]], uploaded as is
  std::string remote_user;   // INI USER; empty = the SSH user
  std::optional<std::string> askapsoft_sif;  // the worker's BEAMPIPE_ASKAPSOFT_SIF
  // Test hook: runs right after the sbatch exec returns, before anything is parsed or
  // returned. Throwing from it simulates a crash between sbatch and the receipt.
  std::function<void(const ssh_exec_result& sbatch)> after_sbatch;
};

struct slurm_submit_result {
  std::string slurm_job_id;
  std::optional<std::string> cluster;
  std::string jobsub_path;
  std::string session_dir;
  std::string staging_root;
  std::string scheduler_id;  // "<SID>:<jobid>|<session_dir>"
  std::string sbatch_stdout;
};

struct slurm_cancel_result {
  bool confirmed = false;
  std::optional<domain::SlurmObservation> last;  // the last state seen
  std::string reason;                            // why it is not confirmed
};

class ssh_pool;

class slurm_client {
 public:
  explicit slurm_client(slurm_target target, slurm_client_options options = {});
  ~slurm_client();

  const slurm_target& target() const noexcept { return target_; }

  // `echo ok` and `command -v` for sbatch squeue sacct scancel. Throws on transport errors.
  slurm_probe_result probe();

  // §6.2 steps 1–5. Throws slurm_error: invalid_request / submission_failed (nothing was
  // submitted) or submission_uncertain (a job may exist); errors thrown by the
  // after_sbatch hook propagate unchanged.
  slurm_submit_result submit(const slurm_submit_request& request);

  // One observation per requested id (squeue, then sacct, else UNKNOWN/none), queried in
  // chunks of 50. Throws slurm_error on invalid ids, transport or command failures.
  std::map<std::string, domain::SlurmObservation> poll(const std::vector<std::string>& job_ids);

  // Exact job-name matches from squeue and sacct (accounting not before not_before_utc).
  std::vector<domain::SlurmNameMatch> find_by_name(
      const std::string& session_id, std::chrono::system_clock::time_point not_before_utc);

  // scancel, then re-poll until CANCELLED is seen (bounded). Never throws for remote
  // outcomes: failures come back as confirmed=false with a reason.
  slurm_cancel_result cancel(const std::string& job_id);

  // One raw command on the pooled connection (diagnostics and tests).
  ssh_exec_result run(const std::string& command, std::string_view stdin_data = {});

  // The dependency prober's check: `squeue --version` on the pooled connection, so a login
  // node whose SSH commands fail (host key, key, account, Slurm) is seen down, not only one
  // that sends no banner. Waiting for a connection another call is using is bounded as for
  // every call; connecting and the command then end within `timeout`. Never throws: ok (the
  // detail is squeue's version line), or a short reason without secrets.
  slurm_probe_result check_command(std::chrono::milliseconds timeout);

 private:
  // `timeout`: one deadline for a connect and the command, counted once the connection is
  // ours; nullopt: the client's connect and command timeouts.
  ssh_exec_result exec(const std::string& command, std::string_view stdin_data, bool retry_stale,
                       std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  void upload(const std::string& remote_path, std::string_view content);
  slurm_target target_;
  slurm_client_options options_;
  std::shared_ptr<ssh_pool> pool_;
};

}  // namespace beampipe::adapters

// Slurm over SSH, the pure half (protocols §6, domain §7.5, §12.2–12.3): state
// normalisation, composite scheduler ids, shell quoting, the generated INI and the
// remote command lines, and parsers for create_dlg_job, sbatch, squeue and sacct
// output. No I/O: the adapter (src/adapters/slurm_client) runs the commands.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/deployment_profile.hpp"
#include "domain/result.hpp"

namespace beampipe::domain {

// --- state mapping (§6.7) ---

// Declared in rank order: UNKNOWN 0 < PENDING 1 < RUNNING 2 < COMPLETED 3 < CANCELLED 4 <
// TIMEOUT 5 < FAILED 6.
enum class SlurmState { unknown, pending, running, completed, cancelled, timeout, failed };

SlurmState normalize_slurm_state(std::string_view raw);
int slurm_state_rank(SlurmState s);
// "UNKNOWN", "PENDING", ... (the normalized spelling).
std::string_view slurm_state_name(SlurmState s);
// COMPLETED, CANCELLED, TIMEOUT, FAILED.
bool slurm_state_terminal(SlurmState s);

// The integer before ':' of sacct's "code:signal"; nullopt when empty or not a number.
std::optional<int> parse_sacct_exit_code(std::string_view text);

// --- composite scheduler id "<SID>:<jobid>|<dir>" (§6.2 step 5) ---

inline constexpr std::size_t kMaxSchedulerIdLength = 512;

struct SlurmSchedulerId {
  std::string session_id;   // DALiuGE session id = Slurm job name; "" for a bare id
  std::string job_id;       // Slurm job id
  std::string session_dir;  // remote session directory; may be empty
};

// "|dir" is omitted when the dir is empty; longer than 512 bytes is an error.
Result<std::string> format_slurm_scheduler_id(const SlurmSchedulerId& id);
// Splits on the first '|', then the first ':'. A bare "12345" gives an empty session.
SlurmSchedulerId parse_slurm_scheduler_id(std::string_view text);

// --- shell quoting ---

// [A-Za-z0-9/._:-]+ stays bare; anything else (and "") is single-quoted with '\''.
std::string shell_quote(std::string_view value);
// The remote login shell runs every exec string: `bash -lc '<script>'`.
std::string bash_login_command(std::string_view script);

// --- submission (§6.2–6.4, [HEAD] form) ---

// Remote paths of one submission: R = dlg_root without trailing '/', S = R/staging.
struct SlurmStagingPaths {
  std::string dlg_root;
  std::string staging_dir;
  std::string pgt_path;                      // S/BeampipeExecution_<E>.pgt.graph
  std::string ini_path;                      // S/BeampipeExecution_<E>.ini
  std::optional<std::string> template_path;  // S/BeampipeExecution_<E>.slurm with a template
};
SlurmStagingPaths slurm_staging_paths(const SlurmRemoteDeployment& d,
                                      std::string_view execution_id);

// §6.3 INI. Rejects values that ConfigParser(ExtendedInterpolation) or the INI syntax
// would misread: any '$', and line breaks outside MODULES.
Result<std::string> render_slurm_ini(const SlurmRemoteDeployment& d, std::string_view remote_user,
                                     std::string_view pgt_path);

// Whether environment_setup needs BEAMPIPE_ASKAPSOFT_SIF (exported and passed to sbatch).
bool slurm_uses_askapsoft_sif(const SlurmRemoteDeployment& d);

// §6.2 environment prelude, one command per line. askapsoft_sif is the worker's
// BEAMPIPE_ASKAPSOFT_SIF; required (non-empty) only when environment_setup mentions it.
Result<std::string> slurm_env_prelude(const SlurmRemoteDeployment& d,
                                      const std::optional<std::string>& askapsoft_sif);

// §6.2 step 3, the whole `bash -lc '…'` exec string.
std::string create_dlg_job_command(const SlurmRemoteDeployment& d, const SlurmStagingPaths& paths,
                                   std::string_view prelude);

// "HH:MM:00" for sbatch --time.
std::string slurm_time_limit(std::int64_t minutes);

// Where the job's stdout and stderr go: <session_dir>/logs/out-%j.log and err-%j.log. sbatch
// resolves relative --output/--error (and jobsub.sh's `#SBATCH --error=err-%j.log`) against
// its working directory, which over SSH is the remote user's $HOME (protocols §0.13), so the
// command gives absolute paths, which override the script's lines.
std::string slurm_log_dir(std::string_view session_dir);
std::string slurm_stderr_glob(std::string_view session_dir);  // <session_dir>/logs/err-*.log

// The sbatch options a profile asks for, in the order sbatch_command passes them (without
// the dashes): account, nodes, time, then partition, mem, constraint, qos, ntasks and
// cpus-per-task when set. GET /scheduler/status shows them as #SBATCH lines.
std::vector<std::pair<std::string, std::string>> slurm_resource_options(
    const SlurmRemoteDeployment& d);
// The same as the #SBATCH lines of a job script, one per option.
std::string slurm_sbatch_directives(const SlurmRemoteDeployment& d);

// §6.2 step 4, the whole `bash -lc '…'` exec string. The job runs in session_dir (--chdir, as
// DALiuGE's own `cd $session_dir && sbatch` does) and logs under slurm_log_dir(session_dir).
std::string sbatch_command(const SlurmRemoteDeployment& d, std::string_view prelude,
                           std::string_view session_id, std::string_view session_dir,
                           std::string_view staging_root);

// Where create_dlg_job put the job script, and what follows from it.
struct JobsubLocation {
  std::string jobsub_path;
  std::string session_dir;   // parent(jobsub_path)
  std::string staging_root;  // session_dir/wallaby-staging
};
// Finds the single `Created job submission script <path>` line and checks the path
// (absolute, no control characters, ',' or ':', no '.'/'..' components, strictly
// under dlg_root and not directly in it).
Result<JobsubLocation> parse_create_dlg_job_output(std::string_view stdout_text,
                                                   std::string_view dlg_root);

struct SbatchReceipt {
  std::string job_id;
  std::optional<std::string> cluster;  // from "jobid;cluster"
};
// Exactly one line must match ^\d+(;[A-Za-z0-9._-]+)?$ (banner lines are allowed).
// An error here means the submission is *uncertain*, never "not submitted".
Result<SbatchReceipt> parse_sbatch_receipt(std::string_view stdout_text);

// --- polling (§6.5) ---

enum class SlurmSource { squeue, sacct, none };
std::string_view slurm_source_name(SlurmSource s);

struct SlurmObservation {
  std::string job_id;
  SlurmState state = SlurmState::unknown;
  std::string raw;  // the state text as Slurm printed it
  SlurmSource source = SlurmSource::none;
  std::optional<int> exit_code;
  std::string reason;  // why a job waits (squeue's %R of a pending job, without parentheses)
  std::string nodes;   // where it runs (%R of any other job is its node list)
};

// A Slurm job id as the poll commands accept it: ^\d+$.
bool valid_slurm_job_id(std::string_view id);

// `squeue -h -t all -j <ids> -o '%i|%T|%R'` (quoted: an unquoted '|' is a pipeline).
// `-t all` (not in the Rust command) keeps finished jobs visible while slurmctld holds
// them (MinJobAge): without it a job vanishes from squeue seconds before slurmdbd has
// it, and a poll or name lookup in that window sees nothing.
std::string squeue_poll_command(const std::vector<std::string>& job_ids);
// `sacct -j <ids> --format=JobID,State,ExitCode -P -n`.
std::string sacct_poll_command(const std::vector<std::string>& job_ids);

// squeue exit 0, or non-zero when every stderr line ends with "invalid job id specified".
bool squeue_outcome_acceptable(int exit_status, std::string_view stderr_text);

// Rows "id|STATE|reason"; blank lines skipped; fewer than 3 fields is an error.
Result<std::vector<SlurmObservation>> parse_squeue_poll(std::string_view stdout_text);
// Rows "JobID|State|ExitCode" folded per base id: the allocation row is authoritative,
// step rows count only without it (highest rank wins).
Result<std::map<std::string, SlurmObservation>> parse_sacct_poll(std::string_view stdout_text);

// Per requested id: squeue's row, else sacct's, else UNKNOWN with source none. A squeue
// row without an exit code takes sacct's exit code for the same job.
std::map<std::string, SlurmObservation> merge_slurm_observations(
    const std::vector<std::string>& job_ids, const std::vector<SlurmObservation>& squeue,
    const std::map<std::string, SlurmObservation>& sacct);

// --- reconciliation by job name (§6.5, §12.3) ---

struct SlurmNameMatch {
  std::string job_id;
  std::string name;
  SlurmState state = SlurmState::unknown;
  std::string raw;
  std::string reason;
  std::string work_dir;  // the job's working directory: its session folder (sbatch --chdir)
  SlurmSource source = SlurmSource::none;
};

// "YYYY-MM-DDTHH:MM:SS" in UTC (sacct --starttime under TZ=UTC).
std::string slurm_utc_time(std::chrono::system_clock::time_point t);

// `squeue -h -t all --name=<SID> -o '%i|%j|%T|%R|%Z'` (`-t all`: see squeue_poll_command); %Z
// and sacct's WorkDir give the session folder an adopted run records (sbatch --chdir).
std::string squeue_name_command(std::string_view job_name);
std::string sacct_name_command(std::string_view job_name,
                               std::chrono::system_clock::time_point not_before);

// 5 fields per non-empty line (else an error; the last, the working directory, may hold '|');
// only exact name matches are kept.
// States are normalised (the Rust code fed raw states into the mapping).
Result<std::vector<SlurmNameMatch>> parse_squeue_name_lookup(std::string_view stdout_text,
                                                             std::string_view job_name);
Result<std::vector<SlurmNameMatch>> parse_sacct_name_lookup(std::string_view stdout_text,
                                                            std::string_view job_name);
// One entry per job id; squeue overrides sacct. Ordered by job id.
std::vector<SlurmNameMatch> merge_name_matches(const std::vector<SlurmNameMatch>& squeue,
                                               const std::vector<SlurmNameMatch>& sacct);

// `scancel -- <id>`.
std::string scancel_command(std::string_view job_id);

// --- target identity (§12.2) ---

// sha256 hex of the compact sorted JSON {credential_slot, login_node, remote_user,
// ssh_port}; an absent credential slot is null.
std::string slurm_target_fingerprint(std::string_view login_node, std::int64_t ssh_port,
                                     std::string_view remote_user,
                                     const std::optional<std::string>& credential_slot);

}  // namespace beampipe::domain

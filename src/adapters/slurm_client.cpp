#include "adapters/slurm_client.hpp"

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

namespace beampipe::adapters {

namespace dom = beampipe::domain;
using kind = slurm_error::kind;
using steady = std::chrono::steady_clock;

// Connections shared by every slurm_client of the process, one per target. Calls on one
// target are serialised by the entry's mutex (a libssh session is not thread-safe).
class ssh_pool {
 public:
  struct entry {
    std::timed_mutex mutex;
    std::unique_ptr<ssh_session> session;
    steady::time_point last_used{};
  };

  static std::shared_ptr<ssh_pool> shared() {
    static auto pool = std::make_shared<ssh_pool>();
    return pool;
  }

  std::shared_ptr<entry> get(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto& e = entries_[key];
    if (!e) e = std::make_shared<entry>();
    return e;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<entry>> entries_;
};

namespace {

// Everything that decides which connection (and which credentials) is used.
std::string pool_key(const slurm_target& t) {
  return t.user + "@" + t.host + ":" + std::to_string(t.port) + "|" + t.private_key_file + "|" +
         t.passphrase_file.value_or("") + "|" + t.known_hosts_file + "|" +
         (t.strict_host_key ? "strict" : "lax");
}

slurm_error transport_error(const ssh_error& e) { return slurm_error(kind::transport, e.what()); }

std::string first_chars(const std::string& s, std::size_t n = 500) {
  return s.size() <= n ? s : s.substr(0, n) + "…";
}

std::string describe_exit(const ssh_exec_result& r) {
  std::string out = r.exit_status ? "exit " + std::to_string(*r.exit_status) : "no exit status";
  if (!r.stderr_text.empty()) out += ": " + first_chars(r.stderr_text);
  return out;
}

}  // namespace

slurm_client::slurm_client(slurm_target target, slurm_client_options options)
    : target_(std::move(target)), options_(options), pool_(ssh_pool::shared()) {}

slurm_client::~slurm_client() = default;

ssh_exec_result slurm_client::exec(const std::string& command, std::string_view stdin_data,
                                   bool retry_stale,
                                   std::optional<std::chrono::milliseconds> timeout) {
  using ms = std::chrono::milliseconds;
  auto entry = pool_->get(pool_key(target_));
  // One attempt holds the entry's lock; a retry takes it again (the lock is never held across
  // a retry, and never waited for longer than one command may take).
  for (int attempt = 0;; ++attempt) {
    std::unique_lock lock(entry->mutex, std::defer_lock);
    if (!lock.try_lock_for(options_.connect_timeout + options_.command_timeout))
      throw ssh_error(ssh_error::kind::timeout,
                      "the SSH connection to " + target_.host + " stayed busy past " +
                          std::to_string((options_.connect_timeout + options_.command_timeout) /
                                         std::chrono::seconds(1)) +
                          " s");
    // The call's own deadline counts from here (a connection busy with another call says
    // nothing about the login node). What is left of it, at most `cap`, at least 1 ms.
    const bool bounded = timeout.has_value();
    const auto until = steady::now() + timeout.value_or(ms(0));
    auto left = [&](ms cap) {
      if (!bounded) return cap;
      return std::clamp(std::chrono::duration_cast<ms>(until - steady::now()), ms(1), cap);
    };
    const auto now = steady::now();
    bool reused = false;
    if (entry->session && entry->session->usable() && now - entry->last_used < options_.pool_idle) {
      reused = true;
    } else {
      entry->session.reset();
      ssh_options o;
      o.host = target_.host;
      o.port = target_.port;
      o.user = target_.user;
      o.private_key_file = target_.private_key_file;
      o.passphrase_file = target_.passphrase_file;
      o.known_hosts_file = target_.known_hosts_file;
      o.strict_host_key = target_.strict_host_key;
      // The connect may be bounded by this call's deadline; the session's command timeout
      // stays the client's, for the calls that reuse it.
      o.connect_timeout = left(options_.connect_timeout);
      o.command_timeout = options_.command_timeout;
      entry->session = std::make_unique<ssh_session>(std::move(o));
    }
    try {
      auto r = entry->session->exec(
          command, stdin_data,
          bounded ? std::optional(left(options_.command_timeout)) : std::nullopt);
      entry->last_used = steady::now();
      return r;
    } catch (const ssh_error& e) {
      entry->session.reset();  // a hung or dropped session is torn down and replaced
      // A pooled connection the server dropped fails before the command reaches it; one
      // fresh attempt is safe for commands that may be repeated anyway.
      if (!(attempt == 0 && reused && retry_stale && e.code() == ssh_error::kind::channel)) throw;
    }
  }
}

ssh_exec_result slurm_client::run(const std::string& command, std::string_view stdin_data) {
  try {
    return exec(command, stdin_data, true);
  } catch (const ssh_error& e) {
    throw transport_error(e);
  }
}

void slurm_client::upload(const std::string& remote_path, std::string_view content) {
  auto r = exec(atomic_upload_command(remote_path), content, true);
  if (r.exit_status != 0)
    throw slurm_error(kind::remote_command,
                      "upload of " + remote_path + " failed (" + describe_exit(r) + ")");
}

slurm_probe_result slurm_client::probe() {
  const std::string cmd =
      "echo ok; for c in sbatch squeue sacct scancel; do command -v \"$c\" >/dev/null 2>&1 || "
      "echo \"missing $c\"; done";
  auto r = run(cmd);
  slurm_probe_result out;
  bool echoed = false;
  std::size_t start = 0;
  const auto& text = r.stdout_text;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto line = text.substr(start, end - start);
    if (line == "ok") echoed = true;
    if (line.rfind("missing ", 0) == 0) out.missing_commands.push_back(line.substr(8));
    start = end + 1;
  }
  out.ok = echoed && r.exit_status == 0 && out.missing_commands.empty();
  if (!echoed)
    out.detail = "login shell did not echo ok (" + describe_exit(r) + ")";
  else if (!out.missing_commands.empty())
    out.detail = "missing commands on the login node";
  else
    out.detail = "ok";
  return out;
}

slurm_probe_result slurm_client::check_command(std::chrono::milliseconds timeout) {
  slurm_probe_result out;
  try {
    auto r = exec("squeue --version", {}, true, timeout);
    auto version = first_chars(r.stdout_text.substr(0, r.stdout_text.find('\n')), 80);
    // "slurm 22.05.8", or "slurm-wlm 22.05.8" from Debian's packages.
    out.ok = r.exit_status == 0 && version.rfind("slurm", 0) == 0;
    out.detail = out.ok               ? version
                 : r.exit_status == 0 ? "squeue --version printed no Slurm version"
                                      : "squeue --version failed (" + describe_exit(r) + ")";
  } catch (const ssh_error& e) {
    out.detail = std::string("ssh: ") + e.what();
  } catch (const std::exception& e) {
    out.detail = e.what();
  }
  if (out.detail.size() > 300) out.detail = first_chars(out.detail, 300);
  return out;
}

slurm_submit_result slurm_client::submit(const slurm_submit_request& req) {
  const auto& d = req.deployment;
  auto invalid = [](const std::string& m) { return slurm_error(kind::invalid_request, m); };
  if (req.execution_id.empty()) throw invalid("submit: execution_id is empty");
  if (req.session_id.empty()) throw invalid("submit: session_id is empty");
  if (req.pgt_json.empty()) throw invalid("submit: the physical graph is empty");
  if (d.dlg_root.empty() || d.dlg_root[0] != '/')
    throw invalid("submit: dlg_root must be absolute");

  const auto paths = dom::slurm_staging_paths(d, req.execution_id);
  const std::string user = req.remote_user.empty() ? target_.user : req.remote_user;
  auto ini = dom::render_slurm_ini(d, user, paths.pgt_path);
  if (!ini) throw invalid("submit: " + ini.error());
  auto prelude = dom::slurm_env_prelude(d, req.askapsoft_sif);
  if (!prelude) throw invalid("submit: " + prelude.error());

  // Steps 1–3 happen before sbatch: whatever fails there, no job exists.
  dom::JobsubLocation where;
  try {
    auto mk = exec("mkdir -p -- " + dom::shell_quote(paths.staging_dir), {}, true);
    if (mk.exit_status != 0)
      throw slurm_error(kind::remote_command,
                        "mkdir " + paths.staging_dir + " failed (" + describe_exit(mk) + ")");
    upload(paths.pgt_path, req.pgt_json);
    upload(paths.ini_path, ini.value());
    if (paths.template_path) upload(*paths.template_path, *d.slurm_template);

    auto gen = exec(dom::create_dlg_job_command(d, paths, prelude.value()), {}, true);
    if (gen.exit_status != 0)
      throw slurm_error(kind::remote_command, "create_dlg_job failed (" + describe_exit(gen) + ")");
    auto loc = dom::parse_create_dlg_job_output(gen.stdout_text, paths.dlg_root);
    if (!loc) throw slurm_error(kind::bad_output, loc.error());
    where = loc.value();
  } catch (const slurm_error& e) {
    throw slurm_error(kind::submission_failed, std::string("not submitted: ") + e.what());
  } catch (const ssh_error& e) {
    throw slurm_error(kind::submission_failed, std::string("not submitted: ") + e.what());
  }

  // Step 4: the one command that must never be repeated.
  const auto cmd = dom::sbatch_command(d, prelude.value(), req.session_id, where.session_dir,
                                       where.staging_root);
  ssh_exec_result sb;
  auto uncertain = [&](const std::string& why) {
    slurm_error e(kind::submission_uncertain, "submission uncertain for " + req.session_id + ": " +
                                                  why + "; reconcile by job name, do not resubmit");
    e.session_dir = where.session_dir;
    e.sbatch_stdout = sb.stdout_text;
    return e;
  };
  try {
    sb = exec(cmd, {}, false);
  } catch (const ssh_error& e) {
    if (!e.request_sent())
      throw slurm_error(kind::submission_failed, std::string("not submitted: ") + e.what());
    throw uncertain(e.what());
  }
  if (req.after_sbatch) req.after_sbatch(sb);
  if (!sb.exit_status) throw uncertain("sbatch ended without an exit status");
  if (*sb.exit_status != 0) {
    slurm_error e(kind::submission_failed, "sbatch rejected the job (" + describe_exit(sb) + ")");
    e.session_dir = where.session_dir;
    e.sbatch_stdout = sb.stdout_text;
    throw e;
  }
  auto receipt = dom::parse_sbatch_receipt(sb.stdout_text);
  if (!receipt) throw uncertain(receipt.error());

  slurm_submit_result out;
  out.slurm_job_id = receipt.value().job_id;
  out.cluster = receipt.value().cluster;
  out.jobsub_path = where.jobsub_path;
  out.session_dir = where.session_dir;
  out.staging_root = where.staging_root;
  out.sbatch_stdout = sb.stdout_text;
  auto id = dom::format_slurm_scheduler_id({req.session_id, out.slurm_job_id, out.session_dir});
  // The job exists; an overlong id is the caller's problem to record, not a lost receipt.
  if (!id) throw uncertain("job " + out.slurm_job_id + " submitted but " + id.error());
  out.scheduler_id = id.value();
  return out;
}

std::map<std::string, dom::SlurmObservation> slurm_client::poll(
    const std::vector<std::string>& job_ids) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (const auto& id : job_ids) {
    if (!dom::valid_slurm_job_id(id))
      throw slurm_error(kind::invalid_request, "not a Slurm job id: '" + id + "'");
    if (seen.insert(id).second) ids.push_back(id);
  }
  std::map<std::string, dom::SlurmObservation> out;
  constexpr std::size_t chunk_size = 50;
  for (std::size_t start = 0; start < ids.size(); start += chunk_size) {
    std::vector<std::string> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(start),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), start + chunk_size)));

    auto sq = run(dom::squeue_poll_command(chunk));
    if (!sq.exit_status || !dom::squeue_outcome_acceptable(*sq.exit_status, sq.stderr_text))
      throw slurm_error(kind::remote_command, "squeue failed (" + describe_exit(sq) + ")");
    auto rows = dom::parse_squeue_poll(sq.stdout_text);
    if (!rows) throw slurm_error(kind::bad_output, rows.error());

    // sacct for ids squeue no longer holds, and for finished ones (squeue has no exit code).
    std::vector<std::string> missing, enrich;
    for (const auto& id : chunk) {
      auto it = std::find_if(rows.value().begin(), rows.value().end(),
                             [&](const dom::SlurmObservation& o) { return o.job_id == id; });
      if (it == rows.value().end())
        missing.push_back(id);
      else if (dom::slurm_state_terminal(it->state))
        enrich.push_back(id);
    }
    std::map<std::string, dom::SlurmObservation> acct;
    if (!missing.empty() || !enrich.empty()) {
      auto want = missing;
      want.insert(want.end(), enrich.begin(), enrich.end());
      auto sa = run(dom::sacct_poll_command(want));
      if (sa.exit_status == 0) {
        auto parsed = dom::parse_sacct_poll(sa.stdout_text);
        if (!parsed) throw slurm_error(kind::bad_output, parsed.error());
        acct = std::move(parsed.value());
      } else if (!missing.empty()) {
        // Only an exit-code enrichment may do without sacct; a missing state may not.
        throw slurm_error(kind::remote_command, "sacct failed (" + describe_exit(sa) + ")");
      }
    }
    for (auto& [id, o] : dom::merge_slurm_observations(chunk, rows.value(), acct))
      out[id] = std::move(o);
  }
  return out;
}

std::vector<dom::SlurmNameMatch> slurm_client::find_by_name(
    const std::string& session_id, std::chrono::system_clock::time_point not_before_utc) {
  if (session_id.empty()) throw slurm_error(kind::invalid_request, "find_by_name: empty name");
  auto sq = run(dom::squeue_name_command(session_id));
  if (sq.exit_status != 0)
    throw slurm_error(kind::remote_command, "squeue --name failed (" + describe_exit(sq) + ")");
  auto a = dom::parse_squeue_name_lookup(sq.stdout_text, session_id);
  if (!a) throw slurm_error(kind::bad_output, a.error());
  auto sa = run(dom::sacct_name_command(session_id, not_before_utc));
  if (sa.exit_status != 0)
    throw slurm_error(kind::remote_command, "sacct --name failed (" + describe_exit(sa) + ")");
  auto b = dom::parse_sacct_name_lookup(sa.stdout_text, session_id);
  if (!b) throw slurm_error(kind::bad_output, b.error());
  return dom::merge_name_matches(a.value(), b.value());
}

slurm_cancel_result slurm_client::cancel(const std::string& job_id) {
  slurm_cancel_result out;
  if (!dom::valid_slurm_job_id(job_id)) {
    out.reason = "not a Slurm job id: '" + job_id + "'";
    return out;
  }
  const auto deadline = steady::now() + options_.cancel_confirm_limit;
  try {
    auto r = run(dom::scancel_command(job_id));
    if (r.exit_status != 0) {
      out.reason = "scancel failed (" + describe_exit(r) + ")";
      return out;
    }
  } catch (const slurm_error& e) {
    out.reason = std::string("scancel: ") + e.what();
    return out;
  }
  // scancel exits 0 even for unknown or finished jobs: only an observed CANCELLED counts.
  for (int i = 0; i < options_.cancel_confirm_polls; ++i) {
    try {
      auto obs = poll({job_id}).at(job_id);
      out.last = obs;
      if (obs.state == dom::SlurmState::cancelled) {
        out.confirmed = true;
        out.reason.clear();
        return out;
      }
      if (dom::slurm_state_terminal(obs.state)) {
        out.reason = "terminal state " + std::string(dom::slurm_state_name(obs.state)) +
                     " before cancellation was confirmed";
        return out;
      }
    } catch (const slurm_error& e) {
      out.reason = std::string("poll after scancel failed: ") + e.what();
      return out;
    }
    if (steady::now() + options_.cancel_confirm_interval > deadline) break;
    std::this_thread::sleep_for(options_.cancel_confirm_interval);
  }
  out.reason = "cancellation not confirmed: last state " +
               std::string(out.last ? dom::slurm_state_name(out.last->state) : "UNKNOWN");
  return out;
}

}  // namespace beampipe::adapters

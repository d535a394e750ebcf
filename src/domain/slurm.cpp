#include "domain/slurm.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <ctime>

#include "domain/canonical_json.hpp"
#include "util/hash.hpp"

namespace beampipe::domain {

namespace json = boost::json;

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Lines without their '\n' (and a trailing '\r').
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  for (auto line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view first_word(std::string_view s) {
  s = trim(s);
  auto end = std::find_if(s.begin(), s.end(), is_space);
  return s.substr(0, static_cast<std::size_t>(end - s.begin()));
}

SlurmState map_token(std::string_view w) {
  if (w.rfind("CANCELLED", 0) == 0) return SlurmState::cancelled;
  static const std::map<std::string_view, SlurmState> table = {
      {"COMPLETED", SlurmState::completed},   {"PENDING", SlurmState::pending},
      {"RUNNING", SlurmState::running},       {"BOOT_FAIL", SlurmState::failed},
      {"DEADLINE", SlurmState::failed},       {"FAILED", SlurmState::failed},
      {"LAUNCH_FAILED", SlurmState::failed},  {"NODE_FAIL", SlurmState::failed},
      {"OUT_OF_MEMORY", SlurmState::failed},  {"PREEMPTED", SlurmState::failed},
      {"RECONFIG_FAIL", SlurmState::failed},  {"TIMEOUT", SlurmState::timeout},
      {"REVOKED", SlurmState::cancelled},     {"COMPLETING", SlurmState::running},
      {"CONFIGURING", SlurmState::running},   {"EXPEDITING", SlurmState::running},
      {"POWER_UP_NODE", SlurmState::running}, {"REQUEUED", SlurmState::running},
      {"REQUEUE_FED", SlurmState::running},   {"RESIZING", SlurmState::running},
      {"SIGNALING", SlurmState::running},     {"STAGE_OUT", SlurmState::running},
      {"UPDATE_DB", SlurmState::running},     {"RESV_DEL_HOLD", SlurmState::pending},
      {"REQUEUE_HOLD", SlurmState::pending},  {"SPECIAL_EXIT", SlurmState::pending},
      {"STOPPED", SlurmState::pending},       {"SUSPENDED", SlurmState::pending},
  };
  auto it = table.find(w);
  return it == table.end() ? SlurmState::unknown : it->second;
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string trim_trailing_slashes(std::string_view s) {
  std::string out = trim_copy(s);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out += ',';
    out += id;
  }
  return out;
}

}  // namespace

// --- state mapping ---

SlurmState normalize_slurm_state(std::string_view raw) {
  auto s = upper(trim(raw));
  if (s.empty()) return SlurmState::unknown;
  if (s.find('+') != std::string::npos) {
    std::vector<std::string_view> parts;
    for (auto p : split(s, '+'))
      if (!trim(p).empty()) parts.push_back(p);
    if (parts.size() > 1) {
      auto best = SlurmState::unknown;
      for (auto p : parts) {
        auto st = normalize_slurm_state(p);
        if (slurm_state_rank(st) > slurm_state_rank(best)) best = st;
      }
      return best;
    }
  }
  // "CANCELLED+" has one non-empty part: the word is "CANCELLED+", prefix rule applies.
  return map_token(first_word(s));
}

int slurm_state_rank(SlurmState s) { return static_cast<int>(s); }

std::string_view slurm_state_name(SlurmState s) {
  switch (s) {
    case SlurmState::pending:
      return "PENDING";
    case SlurmState::running:
      return "RUNNING";
    case SlurmState::completed:
      return "COMPLETED";
    case SlurmState::cancelled:
      return "CANCELLED";
    case SlurmState::timeout:
      return "TIMEOUT";
    case SlurmState::failed:
      return "FAILED";
    case SlurmState::unknown:
      break;
  }
  return "UNKNOWN";
}

bool slurm_state_terminal(SlurmState s) {
  return s == SlurmState::completed || s == SlurmState::cancelled || s == SlurmState::timeout ||
         s == SlurmState::failed;
}

std::optional<int> parse_sacct_exit_code(std::string_view text) {
  auto head = trim(text.substr(0, text.find(':')));
  if (!all_digits(head) || head.size() > 9) return std::nullopt;
  return std::stoi(std::string(head));
}

// --- composite ids ---

Result<std::string> format_slurm_scheduler_id(const SlurmSchedulerId& id) {
  std::string out = id.session_id + ":" + id.job_id;
  if (!id.session_dir.empty()) out += "|" + id.session_dir;
  if (out.size() > kMaxSchedulerIdLength)
    return DomainError{"scheduler_job_id exceeds max length 512: len=" +
                       std::to_string(out.size())};
  return out;
}

SlurmSchedulerId parse_slurm_scheduler_id(std::string_view text) {
  SlurmSchedulerId id;
  auto bar = text.find('|');
  auto head = text.substr(0, bar);
  if (bar != std::string_view::npos) id.session_dir = trim_copy(text.substr(bar + 1));
  auto colon = head.find(':');
  if (colon == std::string_view::npos) {
    id.job_id = trim_copy(head);
  } else {
    id.session_id = trim_copy(head.substr(0, colon));
    id.job_id = trim_copy(head.substr(colon + 1));
  }
  return id;
}

// --- quoting ---

std::string shell_quote(std::string_view value) {
  auto safe = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '_' ||
           c == ':' || c == '-';
  };
  if (!value.empty() && std::all_of(value.begin(), value.end(), safe)) return std::string(value);
  std::string out = "'";
  for (char c : value) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

std::string bash_login_command(std::string_view script) {
  return "bash -lc " + shell_quote(script);
}

// --- submission ---

SlurmStagingPaths slurm_staging_paths(const SlurmRemoteDeployment& d,
                                      std::string_view execution_id) {
  SlurmStagingPaths p;
  p.dlg_root = trim_trailing_slashes(d.dlg_root);
  p.staging_dir = p.dlg_root + "/staging";
  const std::string base = p.staging_dir + "/BeampipeExecution_" + std::string(execution_id);
  p.pgt_path = base + ".pgt.graph";
  p.ini_path = base + ".ini";
  if (d.slurm_template) p.template_path = base + ".slurm";
  return p;
}

Result<std::string> render_slurm_ini(const SlurmRemoteDeployment& d, std::string_view remote_user,
                                     std::string_view pgt_path) {
  std::string out;
  std::optional<std::string> error;
  // One "KEY = value" line. ExtendedInterpolation reads '$' as a reference (and "$$" would
  // come back as "$" only there), so a '$' is refused rather than silently altered.
  auto line = [&](std::string_view key, std::string_view value) {
    if (error) return;
    if (value.find('$') != std::string_view::npos) {
      error = "INI value for " + std::string(key) +
              " contains '$', which create_dlg_job's ConfigParser(ExtendedInterpolation) "
              "would read as an interpolation";
      return;
    }
    if (value.find('\n') != std::string_view::npos || value.find('\r') != std::string_view::npos) {
      error = "INI value for " + std::string(key) + " must be a single line";
      return;
    }
    out += std::string(key) + " = " + std::string(value) + "\n";
  };
  const auto dlg_root = trim_trailing_slashes(d.dlg_root);
  out += "[DEPLOYMENT]\nremote = False\nsubmit = False\n[ENGINE]\n";
  line("NUM_NODES", std::to_string(d.effective_nodes()));
  line("NUM_ISLANDS", std::to_string(d.effective_islands()));
  line("JOB_DUR", std::to_string(d.effective_wall_time_minutes()));
  line("MAX_THREADS", std::to_string(d.max_threads));
  line("VERBOSE_LEVEL", std::to_string(d.verbose_level));
  line("ALL_NICS", d.all_nics ? "True" : "False");
  out += "[GRAPH]\n";
  line("PHYSICAL_GRAPH", pgt_path);
  out += "[FACILITY]\n";
  line("USER", remote_user);
  line("ACCOUNT", d.account);
  line("LOGIN_NODE", d.login_node);
  line("HOME_DIR", d.home_dir);
  line("DLG_ROOT", dlg_root);
  line("LOG_DIR", d.log_dir);
  line("EXEC_PREFIX", d.exec_prefix);
  if (d.modules) {
    // Continuation lines (indented) keep a multi-line MODULES value in one key.
    std::vector<std::string> mods;
    for (auto l : lines_of(*d.modules))
      if (!trim(l).empty()) mods.push_back(trim_copy(l));
    if (!mods.empty()) {
      line("MODULES", mods.front());
      for (std::size_t i = 1; i < mods.size() && !error; ++i) {
        if (mods[i].find('$') != std::string::npos)
          error =
              "INI value for MODULES contains '$', which create_dlg_job's "
              "ConfigParser(ExtendedInterpolation) would read as an interpolation";
        else if (mods[i][0] == '#' || mods[i][0] == ';')
          error = "MODULES line '" + mods[i] + "' would be read as an INI comment";
        out += "    " + mods[i] + "\n";
      }
    }
  }
  if (d.venv) line("VENV", trim(*d.venv));
  if (error) return DomainError{*error};
  return out;
}

bool slurm_uses_askapsoft_sif(const SlurmRemoteDeployment& d) {
  return d.environment_setup &&
         d.environment_setup->find("BEAMPIPE_ASKAPSOFT_SIF") != std::string::npos;
}

Result<std::string> slurm_env_prelude(const SlurmRemoteDeployment& d,
                                      const std::optional<std::string>& askapsoft_sif) {
  const std::string account = "export BEAMPIPE_SLURM_ACCOUNT=" + shell_quote(d.account) + "\n";
  std::string out = "set -euo pipefail\n" + account;
  auto non_empty_lines = [&](const std::string& text) {
    for (auto l : lines_of(text))
      if (!trim(l).empty()) out += std::string(l) + "\n";
  };
  if (d.modules) {
    out += "set +u\n";
    non_empty_lines(*d.modules);
    out += "set -u\n";
  }
  if (d.venv) {
    out += "set +u\n" + trim_copy(*d.venv) + "\nset -u\n";
  }
  if (d.environment_setup) {
    if (slurm_uses_askapsoft_sif(d)) {
      if (!askapsoft_sif || trim(*askapsoft_sif).empty())
        return DomainError{
            "environment_setup uses BEAMPIPE_ASKAPSOFT_SIF but the worker has no value for it"};
      out += "export BEAMPIPE_ASKAPSOFT_SIF=" + shell_quote(*askapsoft_sif) + "\n";
    }
    non_empty_lines(*d.environment_setup);
  }
  out += account;  // again, so the profile account wins over anything the setup exported
  return out;
}

std::string create_dlg_job_command(const SlurmRemoteDeployment& d, const SlurmStagingPaths& paths,
                                   std::string_view prelude) {
  std::string script(prelude);
  if (!script.empty() && script.back() != '\n') script += '\n';
  script += "export DLG_ROOT=" + shell_quote(paths.dlg_root) + "\n";
  script += "python3 -m dlg.deploy.create_dlg_job --action submit -f " + shell_quote(d.facility) +
            " -P " + shell_quote(paths.pgt_path) + " --config_file " + shell_quote(paths.ini_path);
  if (paths.template_path) script += " --slurm_template " + shell_quote(*paths.template_path);
  return bash_login_command(script);
}

std::string slurm_time_limit(std::int64_t minutes) {
  if (minutes < 0) minutes = 0;
  auto hh = std::to_string(minutes / 60);
  auto mm = std::to_string(minutes % 60);
  if (hh.size() < 2) hh.insert(0, 2 - hh.size(), '0');
  if (mm.size() < 2) mm.insert(0, 1, '0');
  return hh + ":" + mm + ":00";
}

std::string slurm_log_dir(std::string_view session_dir) {
  return std::string(session_dir) + "/logs";
}

std::string slurm_stderr_glob(std::string_view session_dir) {
  return slurm_log_dir(session_dir) + "/err-*.log";
}

std::vector<std::pair<std::string, std::string>> slurm_resource_options(
    const SlurmRemoteDeployment& d) {
  std::vector<std::pair<std::string, std::string>> out{
      {"account", d.account},
      {"nodes", std::to_string(d.effective_nodes())},
      {"time", slurm_time_limit(d.effective_wall_time_minutes())}};
  if (const auto& r = d.resources) {
    if (r->partition) out.emplace_back("partition", *r->partition);
    if (r->memory) out.emplace_back("mem", *r->memory);
    if (r->constraint) out.emplace_back("constraint", *r->constraint);
    if (r->quality_of_service) out.emplace_back("qos", *r->quality_of_service);
    if (r->tasks) out.emplace_back("ntasks", std::to_string(*r->tasks));
    if (r->cpus_per_task) out.emplace_back("cpus-per-task", std::to_string(*r->cpus_per_task));
  }
  return out;
}

std::string sbatch_command(const SlurmRemoteDeployment& d, std::string_view prelude,
                           std::string_view session_id, std::string_view session_dir,
                           std::string_view staging_root) {
  std::string script(prelude);
  if (!script.empty() && script.back() != '\n') script += '\n';
  script += "umask 077\n";
  script += "mkdir -p -- " + shell_quote(staging_root) + "\n";
  // Slurm does not create the folders of --output/--error: a missing one loses the logs.
  const auto logs = slurm_log_dir(session_dir);
  script += "mkdir -p -- " + shell_quote(logs) + "\n";
  script += "export WALLABY_HIRES_STAGING_ROOT=" + shell_quote(staging_root) + "\n";
  std::string cmd = "sbatch --export=BEAMPIPE_SLURM_ACCOUNT,WALLABY_HIRES_STAGING_ROOT";
  if (slurm_uses_askapsoft_sif(d)) cmd += ",BEAMPIPE_ASKAPSOFT_SIF";
  cmd += " --parsable --job-name=" + shell_quote(session_id);
  auto options = slurm_resource_options(d);
  // account, nodes and time first, then where the job runs and logs, then the rest.
  for (size_t i = 0; i < 3; ++i)
    cmd += " --" + options[i].first + "=" + shell_quote(options[i].second);
  cmd += " --chdir=" + shell_quote(session_dir);
  // In a filename pattern `%` starts a replacement: a literal one is `%%`.
  std::string pattern_dir;
  for (char c : logs) pattern_dir += c == '%' ? std::string("%%") : std::string(1, c);
  cmd += " --output=" + shell_quote(pattern_dir + "/out-%j.log");
  cmd += " --error=" + shell_quote(pattern_dir + "/err-%j.log");
  for (size_t i = 3; i < options.size(); ++i)
    cmd += " --" + options[i].first + "=" + shell_quote(options[i].second);
  cmd += " " + shell_quote(std::string(session_dir) + "/jobsub.sh");
  script += cmd;
  return bash_login_command(script);
}

Result<JobsubLocation> parse_create_dlg_job_output(std::string_view stdout_text,
                                                   std::string_view dlg_root) {
  static constexpr std::string_view marker = "Created job submission script ";
  std::optional<std::string> path;
  for (auto line : lines_of(stdout_text)) {
    auto pos = line.find(marker);
    if (pos == std::string_view::npos) continue;
    if (path) return DomainError{"create_dlg_job printed more than one job submission script"};
    path = trim_copy(line.substr(pos + marker.size()));
  }
  if (!path || path->empty())
    return DomainError{"create_dlg_job did not print 'Created job submission script <path>'"};
  const auto& p = *path;
  auto bad = [&](const std::string& why) {
    return DomainError{"unsafe job submission script path: " + why};
  };
  if (p[0] != '/') return bad("not absolute");
  if (has_control_char(p)) return bad("contains control characters");
  if (p.find(',') != std::string::npos || p.find(':') != std::string::npos)
    return bad("contains ',' or ':'");
  for (auto comp : split(std::string_view(p).substr(1), '/')) {
    if (comp.empty()) return bad("empty path component");
    if (comp == "." || comp == "..") return bad("'.' or '..' component");
  }
  const auto root = trim_trailing_slashes(dlg_root);
  const std::string prefix = root == "/" ? "/" : root + "/";
  if (p.rfind(prefix, 0) != 0) return bad("not under dlg_root " + root);
  auto slash = p.rfind('/');
  JobsubLocation loc;
  loc.jobsub_path = p;
  loc.session_dir = p.substr(0, slash);
  if (loc.session_dir.size() < prefix.size()) return bad("directly in dlg_root " + root);
  loc.staging_root = loc.session_dir + "/wallaby-staging";
  return loc;
}

Result<SbatchReceipt> parse_sbatch_receipt(std::string_view stdout_text) {
  std::vector<SbatchReceipt> found;
  for (auto line : lines_of(stdout_text)) {
    auto l = trim(line);
    auto semi = l.find(';');
    auto id = l.substr(0, semi);
    if (!all_digits(id)) continue;
    SbatchReceipt r{std::string(id), std::nullopt};
    if (semi != std::string_view::npos) {
      auto cluster = l.substr(semi + 1);
      bool ok = !cluster.empty() && std::all_of(cluster.begin(), cluster.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      });
      if (!ok) continue;
      r.cluster = std::string(cluster);
    }
    found.push_back(std::move(r));
  }
  if (found.size() != 1)
    return DomainError{"sbatch output has " + std::to_string(found.size()) +
                       " job id lines (expected exactly one): submission uncertain"};
  return found.front();
}

// --- polling ---

std::string_view slurm_source_name(SlurmSource s) {
  switch (s) {
    case SlurmSource::squeue:
      return "squeue";
    case SlurmSource::sacct:
      return "sacct";
    case SlurmSource::none:
      break;
  }
  return "none";
}

bool valid_slurm_job_id(std::string_view id) { return all_digits(id); }

std::string squeue_poll_command(const std::vector<std::string>& job_ids) {
  return "squeue -h -t all -j " + join_ids(job_ids) + " -o '%i|%T|%R'";
}

std::string sacct_poll_command(const std::vector<std::string>& job_ids) {
  return "sacct -j " + join_ids(job_ids) + " --format=JobID,State,ExitCode -P -n";
}

bool squeue_outcome_acceptable(int exit_status, std::string_view stderr_text) {
  if (exit_status == 0) return true;
  bool any = false;
  for (auto line : lines_of(stderr_text)) {
    auto l = lower(trim(line));
    if (l.empty()) continue;
    static constexpr std::string_view suffix = "invalid job id specified";
    if (l.size() < suffix.size() || l.compare(l.size() - suffix.size(), suffix.size(), suffix) != 0)
      return false;
    any = true;
  }
  return any;  // a bare non-zero exit with nothing said is a failure
}

Result<std::vector<SlurmObservation>> parse_squeue_poll(std::string_view stdout_text) {
  std::vector<SlurmObservation> out;
  for (auto line : lines_of(stdout_text)) {
    if (trim(line).empty()) continue;
    auto first = line.find('|');
    auto second = first == std::string_view::npos ? first : line.find('|', first + 1);
    if (second == std::string_view::npos)
      return DomainError{"squeue line without 3 '|' fields: " + std::string(line)};
    SlurmObservation o;
    o.job_id = trim_copy(line.substr(0, first));
    o.raw = trim_copy(line.substr(first + 1, second - first - 1));
    o.state = normalize_slurm_state(o.raw);
    // %R is the reason a job waits only while it is pending; otherwise its node list.
    auto column = trim_copy(line.substr(second + 1));
    if (o.state == SlurmState::pending) {
      if (column.size() >= 2 && column.front() == '(' && column.back() == ')')
        column = column.substr(1, column.size() - 2);
      o.reason = column;
    } else if (column != "None" && column != "(null)") {
      o.nodes = column;
    }
    o.source = SlurmSource::squeue;
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::map<std::string, SlurmObservation>> parse_sacct_poll(std::string_view stdout_text) {
  std::map<std::string, SlurmObservation> alloc;
  std::map<std::string, SlurmObservation> steps;
  for (auto line : lines_of(stdout_text)) {
    if (trim(line).empty()) continue;
    auto f = split(line, '|');
    if (f.size() < 2) return DomainError{"sacct line without JobID|State: " + std::string(line)};
    auto job = trim(f[0]);
    auto dot = job.find('.');
    SlurmObservation o;
    o.job_id = std::string(job.substr(0, dot));
    o.raw = trim_copy(f[1]);
    o.state = normalize_slurm_state(o.raw);  // "CANCELLED by 1002" → CANCELLED
    o.source = SlurmSource::sacct;
    if (f.size() >= 3) o.exit_code = parse_sacct_exit_code(f[2]);
    if (o.job_id.empty()) continue;
    if (dot == std::string_view::npos) {
      alloc[o.job_id] = std::move(o);
    } else {
      auto it = steps.find(o.job_id);
      if (it == steps.end() || slurm_state_rank(o.state) > slurm_state_rank(it->second.state))
        steps[o.job_id] = std::move(o);
    }
  }
  for (auto& [id, o] : steps) alloc.try_emplace(id, std::move(o));
  return alloc;
}

std::map<std::string, SlurmObservation> merge_slurm_observations(
    const std::vector<std::string>& job_ids, const std::vector<SlurmObservation>& squeue,
    const std::map<std::string, SlurmObservation>& sacct) {
  std::map<std::string, SlurmObservation> out;
  for (const auto& id : job_ids) {
    auto sq = std::find_if(squeue.begin(), squeue.end(),
                           [&](const SlurmObservation& o) { return o.job_id == id; });
    auto sa = sacct.find(id);
    if (sq != squeue.end()) {
      auto o = *sq;
      if (!o.exit_code && sa != sacct.end()) o.exit_code = sa->second.exit_code;
      out[id] = std::move(o);
    } else if (sa != sacct.end()) {
      out[id] = sa->second;
    } else {
      SlurmObservation o;
      o.job_id = id;
      out[id] = std::move(o);
    }
  }
  return out;
}

// --- reconciliation by name ---

std::string slurm_utc_time(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string squeue_name_command(std::string_view job_name) {
  return "squeue -h -t all --name=" + shell_quote(job_name) + " -o '%i|%j|%T|%R|%Z'";
}

std::string sacct_name_command(std::string_view job_name,
                               std::chrono::system_clock::time_point not_before) {
  return "TZ=UTC sacct -n -X --name=" + shell_quote(job_name) +
         " --starttime=" + shell_quote(slurm_utc_time(not_before)) +
         " -o 'JobIDRaw,JobName,State,Reason,WorkDir' -P";
}

namespace {
Result<std::vector<SlurmNameMatch>> parse_name_lookup(std::string_view text,
                                                      std::string_view job_name,
                                                      SlurmSource source) {
  std::vector<SlurmNameMatch> out;
  for (auto line : lines_of(text)) {
    if (trim(line).empty()) continue;
    auto f = split(line, '|');
    if (f.size() < 5)
      return DomainError{std::string(slurm_source_name(source)) +
                         " name lookup line does not have 5 fields: " + std::string(line)};
    SlurmNameMatch m;
    m.job_id = trim_copy(f[0]);
    m.name = std::string(f[1]);
    if (m.name != job_name) continue;
    m.raw = trim_copy(f[2]);
    m.state = normalize_slurm_state(m.raw);
    m.reason = trim_copy(f[3]);
    // The working directory is the last field and may itself hold a '|'.
    auto dir_at = f[0].size() + f[1].size() + f[2].size() + f[3].size() + 4;
    m.work_dir = trim_copy(line.substr(std::min(dir_at, line.size())));
    m.source = source;
    out.push_back(std::move(m));
  }
  return out;
}
}  // namespace

Result<std::vector<SlurmNameMatch>> parse_squeue_name_lookup(std::string_view stdout_text,
                                                             std::string_view job_name) {
  return parse_name_lookup(stdout_text, job_name, SlurmSource::squeue);
}

Result<std::vector<SlurmNameMatch>> parse_sacct_name_lookup(std::string_view stdout_text,
                                                            std::string_view job_name) {
  return parse_name_lookup(stdout_text, job_name, SlurmSource::sacct);
}

std::vector<SlurmNameMatch> merge_name_matches(const std::vector<SlurmNameMatch>& squeue,
                                               const std::vector<SlurmNameMatch>& sacct) {
  std::map<std::string, SlurmNameMatch> by_id;
  for (const auto& m : sacct) by_id[m.job_id] = m;
  for (const auto& m : squeue) by_id[m.job_id] = m;
  std::vector<SlurmNameMatch> out;
  for (auto& [id, m] : by_id) out.push_back(std::move(m));
  return out;
}

std::string scancel_command(std::string_view job_id) { return "scancel -- " + shell_quote(job_id); }

// --- target identity ---

std::string slurm_target_fingerprint(std::string_view login_node, std::int64_t ssh_port,
                                     std::string_view remote_user,
                                     const std::optional<std::string>& credential_slot) {
  json::object o;
  if (credential_slot)
    o["credential_slot"] = *credential_slot;
  else
    o["credential_slot"] = nullptr;
  o["login_node"] = login_node;
  o["remote_user"] = remote_user;
  o["ssh_port"] = ssh_port;
  return util::sha256_hex(stable_json(o));
}

std::string slurm_sbatch_directives(const SlurmRemoteDeployment& d) {
  std::string out;
  for (const auto& [option, value] : slurm_resource_options(d))
    out += (out.empty() ? "" : "\n") + std::string("#SBATCH --") + option + "=" + value;
  return out;
}

}  // namespace beampipe::domain

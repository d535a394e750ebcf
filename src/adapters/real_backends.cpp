// The real execution backends: DALiuGE Translator Manager + Data Island Manager over REST
// (domain §7.4) and Slurm over SSH with the TM's unroll_and_partition (§7.5).
#include "adapters/real_backends.hpp"

#include <filesystem>
#include <map>
#include <mutex>

#include "adapters/daliuge_client.hpp"
#include "adapters/slurm_client.hpp"
#include "domain/canonical_json.hpp"
#include "domain/execution.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"

namespace beampipe::adapters {
namespace json = boost::json;

namespace {

std::string now_iso() { return util::to_iso_millis(util::clock::now()); }

std::string tm_url_of(const domain::DeploymentProfile& p) {
  return p.translation.tm_url.value_or("http://localhost:9000");  // §3.5 step 6 default
}

// ------------------------------------------------------------------ DALiuGE REST

std::string daliuge_axis(const dim_poll_summary& s) {
  using st = domain::execution_status;
  if (s.status == st::failed) return "failed";
  if (s.status == st::completed) return "finished";
  if (s.status == st::cancelled) return "cancelled";
  switch (s.session_state) {
    case domain::dim_session_state::pristine:
      return "pristine";
    case domain::dim_session_state::building:
      return "building";
    case domain::dim_session_state::deploying:
      return "deploying";
    case domain::dim_session_state::running:
      return "running";
    default:
      return "unknown";
  }
}

class rest_backend final : public execution_backend {
 public:
  explicit rest_backend(daliuge_options options) : options_(std::move(options)) {}
  std::string description() const override { return "DALiuGE REST (TM + DIM)"; }
  std::string scheduler_name() const override { return "daliuge"; }

  static const domain::RestRemoteDeployment& rest(const domain::DeploymentProfile& p) {
    return std::get<domain::RestRemoteDeployment>(p.deployment);
  }
  std::string manager_url(const domain::DeploymentProfile& p) const override {
    return domain::dim_base_url(rest(p)).value_or("");
  }
  std::string target_fingerprint(const domain::DeploymentProfile& p) const override {
    return util::sha256_hex(
        domain::stable_json(json::object{{"dim", manager_url(p)}, {"tm", tm_url_of(p)}}));
  }

  daliuge_options options_for(const domain::DeploymentProfile& p) const {
    auto o = options_;
    o.http.verify_tls = rest(p).verify_ssl;
    return o;
  }

  submit_receipt submit(const submit_request& req) override {
    auto base = manager_url(req.profile);
    if (base.empty())
      throw submission_error("deployment profile has no deploy_host", false, "configuration");
    auto opts = options_for(req.profile);
    translator_client tm(tm_url_of(req.profile), opts);
    dim_client dim(base, opts);
    const auto& r = rest(req.profile);
    rest_submit_request sr;
    sr.session_id = req.session_id;
    sr.logical_graph = req.logical_graph;
    sr.num_partitions = static_cast<int>(std::max<int64_t>(1, req.profile.translation.num_par));
    sr.num_islands = static_cast<int>(std::max<int64_t>(1, req.profile.translation.num_islands));
    sr.algorithm = req.profile.translation.algo;
    sr.dim_host_for_tm = r.dim_host_for_tm.value_or(r.deploy_host.value_or("localhost"));
    sr.dim_port_for_tm = static_cast<int>(r.dim_port_for_tm.value_or(8001));
    rest_submit_result out;
    try {
      out = submit_rest(tm, dim, sr);
    } catch (const rest_submission_error& e) {
      throw submission_error(std::string("DALiuGE submission failed at ") +
                                 std::string(to_string(e.failed_step())) + ": " + e.what(),
                             e.uncertain(), e.uncertain() ? "unknown" : "dependency_unavailable");
    }
    if (req.after_dispatch) req.after_dispatch();
    submit_receipt rc;
    rc.scheduler_name = "daliuge";
    rc.scheduler_job_id = out.session_id;
    rc.manager_url = out.manager_url;
    rc.physical_graph = out.physical_graph;
    rc.run_record = {
        {"dim",
         json::object{
             {"session_id", out.session_id},
             {"deploy",
              json::object{{"deployed_at", now_iso()},
                           {"dim_rest_base", out.manager_url},
                           {"verify_ssl", r.verify_ssl},
                           {"session_already_existed", out.session_already_existed},
                           {"operator_urls",
                            json::object{{"dim_session_status_url", out.session_status_url},
                                         {"dim_graph_status_url", out.graph_status_url}}}}}}}};
    return rc;
  }

  observation poll_one(const dim_client& dim, const std::string& sid) {
    observation o;
    o.kind = "daliuge_session";
    try {
      auto s = dim.poll(sid);
      o.daliuge_state = daliuge_axis(s);
      o.raw_state = std::string(domain::to_string(s.session_state));
      o.daliuge_raw_status = s.status_json;
      if (s.session_missing) o.reason = "session_missing";
      json::array drops;
      for (const auto& u : s.error_drop_uids) drops.push_back(json::value(u));
      o.payload = {{"status", s.status_json},
                   {"graph_status", s.graph_status_json},
                   {"error_drop_uids", drops}};
      json::object last{{"session_state", o.raw_state}, {"observed_at", now_iso()}};
      json::object block{{"last_observation", last}};
      if (o.daliuge_state == "finished" || o.daliuge_state == "failed" ||
          o.daliuge_state == "cancelled") {
        auto terminal = last;
        terminal["ledger_status"] = o.daliuge_state == "finished" ? "completed" : o.daliuge_state;
        terminal["session_id"] = sid;
        terminal["error_drops_count"] = s.error_drop_uids.size();
        if (o.daliuge_state == "failed") {
          o.error = "DALiuGE session " + sid + " failed" +
                    (s.error_drop_uids.empty()
                         ? std::string()
                         : " (" + std::to_string(s.error_drop_uids.size()) + " error drop(s))");
          terminal["error"] = o.error;
        }
        block["terminal"] = std::move(terminal);
      }
      o.run_record = {{"dim", std::move(block)},
                      {"dim_poll", json::object{{"session_id", sid},
                                                {"status", s.status_json},
                                                {"graph_status", s.graph_status_json},
                                                {"error_drop_uids", drops}}}};
      if (o.daliuge_state == "failed")
        o.run_record["dim_logs_url"] = dim.session_url(sid) + "/logs";
    } catch (const daliuge_error& e) {
      // One session's failure stays with it (§12.8): recorded, polled again next round.
      o.daliuge_state =
          e.code() == daliuge_error::kind::unreachable || e.code() == daliuge_error::kind::timeout
              ? "unreachable"
              : "unknown";
      o.raw_state = std::string(to_string(e.code()));
      o.reason = e.what();
    }
    return o;
  }

  std::vector<observation> poll(const std::vector<execution_ref>& refs) override {
    std::vector<observation> out;
    for (const auto& ref : refs) {
      dim_client dim(manager_url(ref.profile), options_for(ref.profile));
      out.push_back(poll_one(dim, ref.session_id));
    }
    return out;
  }

  lookup_result lookup(const execution_ref& ref) override {
    dim_client dim(manager_url(ref.profile), options_for(ref.profile));
    lookup_result r;
    r.payload = {{"session_id", ref.session_id}, {"dim", dim.base_url()}};
    if (!dim.session_exists(ref.session_id)) {
      r.outcome = "not_found";
      return r;
    }
    r.outcome = "found";
    r.scheduler_job_id = ref.session_id;
    r.state = poll_one(dim, ref.session_id);
    try {
      r.physical_graph = dim.graph(ref.session_id);  // what the lost receipt would have named
    } catch (const std::exception&) {
      // Best effort: the adoption does not depend on it.
    }
    return r;
  }

  std::optional<std::string> preflight(const domain::DeploymentProfile& p) override {
    auto opts = options_for(p);
    auto tm = translator_client(tm_url_of(p), opts).probe();
    if (!tm.reachable)
      return "the Translator Manager at " + util::redact_url(tm_url_of(p)) + " does not answer (" +
             tm.detail + ")";
    auto dim = dim_client(manager_url(p), opts).probe();
    if (!dim.reachable)
      return "the Data Island Manager at " + util::redact_url(manager_url(p)) +
             " does not answer (" + dim.detail + ")";
    return std::nullopt;
  }

  std::optional<json::object> inspect_daliuge(const domain::DeploymentProfile& p,
                                              std::chrono::milliseconds timeout) override {
    auto opts = options_for(p);
    opts.http.max_attempts = 1;
    opts.http.connect_timeout = timeout;
    opts.probe_timeout = opts.status_timeout = opts.default_timeout = timeout;
    const auto& r = rest(p);
    json::object tm{{"endpoint", util::redact_url(tm_url_of(p))},
                    {"reachable", false},
                    {"detail", nullptr},
                    {"submission_methods", json::array()}};
    try {
      json::array methods;
      for (auto& m :
           translator_client(tm_url_of(p), opts)
               .submission_methods(r.dim_host_for_tm.value_or(r.deploy_host.value_or("localhost")),
                                   static_cast<int>(r.dim_port_for_tm.value_or(8001))))
        methods.emplace_back(m);
      tm["reachable"] = true;
      tm["submission_methods"] = std::move(methods);
    } catch (const std::exception& e) {
      tm["detail"] = e.what();
    }
    json::object dim{{"endpoint", util::redact_url(manager_url(p))},
                     {"reachable", false},
                     {"detail", nullptr},
                     {"sessions", json::array()}};
    if (manager_url(p).empty()) {
      dim["detail"] = "the profile has no deploy_host";
    } else {
      try {
        dim["sessions"] = dim_client(manager_url(p), opts).list_sessions();
        dim["reachable"] = true;
      } catch (const std::exception& e) {
        dim["detail"] = e.what();
      }
    }
    return json::object{{"translator", std::move(tm)}, {"manager", std::move(dim)}};
  }

  void redeploy(const execution_ref& ref) override {
    dim_client dim(manager_url(ref.profile), options_for(ref.profile));
    // The DIM holds the graph that was appended: its roots are what the first deploy sent.
    json::array drops;
    auto graph = dim.graph(ref.session_id);
    if (graph.is_object())
      for (const auto& kv : graph.as_object()) drops.push_back(kv.value());
    if (drops.empty())
      throw std::runtime_error("session " + ref.session_id + " holds no graph to deploy");
    dim.deploy(ref.session_id, domain::physical_graph_roots(json::value(std::move(drops))));
  }

  std::optional<std::string> release(const execution_ref& ref) override {
    if (!rest(ref.profile).delete_finished_sessions || ref.session_id.empty()) return std::nullopt;
    dim_client dim(manager_url(ref.profile), options_for(ref.profile));
    try {
      dim.destroy(ref.session_id);
    } catch (const daliuge_error& e) {
      if (e.code() != daliuge_error::kind::not_found) throw;
      return "DIM session " + ref.session_id + " was already gone";
    }
    return "DIM session " + ref.session_id + " deleted";
  }

  cancel_result cancel(const execution_ref& ref) override {
    dim_client dim(manager_url(ref.profile), options_for(ref.profile));
    cancel_result c;
    try {
      dim.cancel(ref.session_id);
    } catch (const daliuge_error& e) {
      // NoSessionException: the DIM forgot the session (it restarted). Nothing of it runs
      // there any more, so there is nothing left to cancel (issue #17: this looped).
      if (e.code() == daliuge_error::kind::not_found && !dim.session_exists(ref.session_id)) {
        c.confirmed = true;
        c.state.kind = "daliuge_session";
        c.state.daliuge_state = "cancelled";
        c.state.raw_state = "session_missing";
        c.state.reason = "the DIM no longer knows the session; nothing is left to cancel";
        return c;
      }
      c.reason = e.what();
      return c;
    } catch (const std::exception& e) {
      c.reason = e.what();
      return c;
    }
    c.state = poll_one(dim, ref.session_id);
    c.confirmed = c.state.daliuge_state == "cancelled";
    if (!c.confirmed) c.reason = "session is " + c.state.raw_state + " after cancel";
    return c;
  }

 private:
  daliuge_options options_;
};

// ------------------------------------------------------------------ Slurm over SSH

class slurm_backend final : public execution_backend {
 public:
  slurm_backend(slurm_credentials creds, daliuge_options tm_options)
      : creds_(std::move(creds)), tm_options_(std::move(tm_options)) {}
  std::string description() const override { return "Slurm over SSH"; }
  std::string scheduler_name() const override { return "slurm"; }

  static const domain::SlurmRemoteDeployment& slurm(const domain::DeploymentProfile& p) {
    return std::get<domain::SlurmRemoteDeployment>(p.deployment);
  }
  std::string user_of(const domain::DeploymentProfile& p) const {
    return domain::effective_remote_user(slurm(p), creds_.env_remote_user, creds_.env_user);
  }
  std::string manager_url(const domain::DeploymentProfile& p) const override {
    return "ssh://" + user_of(p) + "@" + slurm(p).login_node + ":" +
           std::to_string(slurm(p).ssh_port);
  }
  std::string target_fingerprint(const domain::DeploymentProfile& p) const override {
    return domain::slurm_target_fingerprint(slurm(p).login_node, slurm(p).ssh_port, user_of(p),
                                            slurm(p).ssh_credential);
  }

  // Key material: the profile's credential slot under BEAMPIPE_SSH_CREDENTIALS_DIR, else the
  // SLURM_SSH_* files. Only paths are handled here; the client reads and checks the files.
  slurm_target target_of(const domain::DeploymentProfile& p) const {
    const auto& d = slurm(p);
    slurm_target t;
    t.host = d.login_node;
    t.port = static_cast<int>(d.ssh_port);
    t.user = user_of(p);
    t.strict_host_key = creds_.strict_host_key;
    if (d.ssh_credential && !creds_.credentials_dir.empty()) {
      auto dir = std::filesystem::path(creds_.credentials_dir) / *d.ssh_credential;
      t.private_key_file = (dir / "private_key").string();
      t.known_hosts_file = (dir / "known_hosts").string();
      if (std::filesystem::exists(dir / "passphrase"))
        t.passphrase_file = (dir / "passphrase").string();
    } else {
      t.private_key_file = creds_.private_key_file;
      t.known_hosts_file = creds_.known_hosts_file;
      if (!creds_.passphrase_file.empty()) t.passphrase_file = creds_.passphrase_file;
    }
    return t;
  }

  std::shared_ptr<slurm_client> client_for(const domain::DeploymentProfile& p) {
    auto t = target_of(p);
    auto key = t.host + "|" + std::to_string(t.port) + "|" + t.user + "|" + t.private_key_file +
               "|" + t.known_hosts_file;
    std::lock_guard lk(mu_);
    auto& c = clients_[key];
    if (!c) c = std::make_shared<slurm_client>(t);
    return c;
  }

  std::optional<target_check> check_target(const domain::DeploymentProfile& p,
                                           std::chrono::milliseconds timeout) override {
    auto r = client_for(p)->check_command(timeout);
    return target_check{r.ok, r.ok ? std::string() : r.detail};
  }

  std::optional<json::object> inspect_scheduler(const domain::DeploymentProfile& p,
                                                std::chrono::milliseconds timeout) override {
    auto client = client_for(p);
    const auto& t = client->target();
    json::object o{{"target", t.user + "@" + t.host + ":" + std::to_string(t.port)},
                   {"reachable", false},
                   {"detail", nullptr},
                   {"scheduler_version", nullptr},
                   {"missing_commands", json::array()}};
    // Connecting and one command within the timeout first: a dead node costs no more.
    auto check = client->check_command(timeout);
    if (!check.ok) {
      o["detail"] = check.detail;
      return o;
    }
    o["reachable"] = true;
    try {
      auto version = client->run("squeue --version").stdout_text;
      if (auto nl = version.find('\n'); nl != std::string::npos) version.resize(nl);
      if (!version.empty()) o["scheduler_version"] = version;
      json::array missing;
      for (auto& m : client->probe().missing_commands) missing.emplace_back(m);
      o["missing_commands"] = std::move(missing);
    } catch (const std::exception& e) {
      o["detail"] = e.what();
    }
    return o;
  }

  submit_receipt submit(const submit_request& req) override {
    const auto& d = slurm(req.profile);
    boost::json::array pgt;
    try {
      translator_client tm(tm_url_of(req.profile), tm_options_);
      auto raw = tm.unroll_and_partition(
          req.logical_graph,
          static_cast<int>(std::max<int64_t>(1, req.profile.translation.num_par)),
          static_cast<int>(std::max<int64_t>(1, d.effective_islands())),
          req.profile.translation.algo);
      auto bound = domain::bind_slurm_pgt(json::value(raw), req.session_id);
      if (!bound) throw submission_error(bound.error(), false, "configuration");
      pgt = std::move(bound.value());
    } catch (const daliuge_error& e) {
      throw submission_error(std::string("TM unroll_and_partition failed: ") + e.what(), false,
                             "dependency_unavailable");
    }
    slurm_submit_request sr;
    sr.deployment = d;
    sr.execution_id = req.execution_id;
    sr.session_id = req.session_id;
    sr.pgt_json = json::serialize(pgt);
    sr.remote_user = user_of(req.profile);
    if (!creds_.askapsoft_sif.empty()) sr.askapsoft_sif = creds_.askapsoft_sif;
    if (req.after_dispatch) sr.after_sbatch = [&](const ssh_exec_result&) { req.after_dispatch(); };
    slurm_submit_result out;
    try {
      out = client_for(req.profile)->submit(sr);
    } catch (const slurm_error& e) {
      bool uncertain = e.code() == slurm_error::kind::submission_uncertain;
      submission_error out(std::string("Slurm submission failed: ") + e.what(), uncertain,
                           uncertain ? "unknown" : "dependency_unavailable");
      if (uncertain && !e.session_dir.empty()) {
        out.remote_session_dir = e.session_dir;
        out.staging_root = e.session_dir + "/wallaby-staging";
      }
      throw out;
    }
    submit_receipt rc;
    rc.scheduler_name = "slurm";
    rc.scheduler_job_id = out.slurm_job_id;
    rc.remote_session_dir = out.session_dir;
    rc.staging_root = out.staging_root;
    rc.manager_url = manager_url(req.profile);
    rc.physical_graph = json::value(pgt);
    rc.run_record = {
        {"slurm", json::object{{"session_id", req.session_id},
                               {"slurm_job_id", out.slurm_job_id},
                               {"composite_scheduler_job_id", out.scheduler_id},
                               {"submitted_at", now_iso()},
                               {"login_node", d.login_node},
                               {"remote_user", user_of(req.profile)},
                               {"paths", json::object{{"session_dir", out.session_dir},
                                                      {"staging_root", out.staging_root}}}}}};
    return rc;
  }

  static observation to_observation(const domain::SlurmObservation& s, const execution_ref& ref) {
    observation o;
    auto name = std::string(domain::slurm_state_name(s.state));
    o.scheduler_state = domain::scheduler_state_from_slurm(name);
    o.raw_state = s.raw.empty() ? name : s.raw;
    o.reason = s.reason;
    o.exit_code = s.exit_code;
    json::object last{{"state", name},
                      {"source", std::string(domain::slurm_source_name(s.source))},
                      {"observed_at", now_iso()},
                      {"raw", o.raw_state.substr(0, 512)}};
    if (s.exit_code) last["exit_code"] = *s.exit_code;
    if (!s.nodes.empty()) last["nodes"] = s.nodes.substr(0, 512);
    json::object block{{"last_observation", last}};
    if (domain::slurm_state_terminal(s.state)) {
      auto terminal = last;
      std::string ledger = name == "COMPLETED"   ? "completed"
                           : name == "CANCELLED" ? "cancelled"
                                                 : "failed";
      terminal["ledger_status"] = ledger;
      terminal["slurm_job_id_ref"] = ref.scheduler_job_id;
      if (ledger == "failed") {
        std::string reason = name == "TIMEOUT" ? "timeout" : "failed";
        terminal["reason"] = reason;
        o.error = "SLURM job " + ref.scheduler_job_id + " finished in state=" + name +
                  " reason=" + reason;
        if (s.exit_code) o.error += " exit_code=" + std::to_string(*s.exit_code);
        if (!ref.remote_session_dir.empty()) {
          // Where sbatch_command sends the job's stderr.
          auto glob = domain::slurm_stderr_glob(ref.remote_session_dir);
          o.error += " stderr_glob=" + glob;
          terminal["diagnostics"] = json::object{{"stderr_glob", glob}};
        }
      } else if (ledger == "cancelled") {
        terminal["reason"] = "scheduler_cancelled";
      }
      block["terminal"] = std::move(terminal);
    }
    o.run_record = {{"slurm", std::move(block)}};
    return o;
  }

  std::vector<observation> poll(const std::vector<execution_ref>& refs) override {
    // One SSH session and one batched query per target.
    std::map<std::string, std::vector<size_t>> by_target;
    for (size_t i = 0; i < refs.size(); ++i)
      by_target[target_fingerprint(refs[i].profile)].push_back(i);
    std::vector<observation> out(refs.size());
    for (const auto& [fp, idx] : by_target) {
      std::vector<std::string> ids;
      for (auto i : idx) ids.push_back(refs[i].scheduler_job_id);
      auto states = client_for(refs[idx.front()].profile)->poll(ids);
      for (auto i : idx) {
        auto it = states.find(refs[i].scheduler_job_id);
        domain::SlurmObservation s;
        if (it != states.end()) s = it->second;
        out[i] = to_observation(s, refs[i]);
      }
    }
    return out;
  }

  lookup_result lookup(const execution_ref& ref) override {
    auto intent =
        util::parse_rfc3339(ref.intent_at).value_or(util::clock::now() - std::chrono::hours(24));
    // Accounting from shortly before the intent: clocks of the two hosts may differ.
    auto matches =
        client_for(ref.profile)->find_by_name(ref.session_id, intent - std::chrono::minutes(5));
    lookup_result r;
    json::array seen;
    for (const auto& m : matches)
      seen.push_back(json::object{{"job_id", m.job_id},
                                  {"state", std::string(domain::slurm_state_name(m.state))},
                                  {"source", std::string(domain::slurm_source_name(m.source))}});
    r.payload = {{"session_id", ref.session_id},
                 {"not_before", util::to_rfc3339(intent)},
                 {"matches", seen}};
    if (matches.empty()) {
      r.outcome = "not_found";
    } else if (matches.size() > 1) {
      r.outcome = "ambiguous";
    } else {
      r.outcome = "found";
      r.scheduler_job_id = matches.front().job_id;
      // The job runs in its session folder (sbatch --chdir): trusted only under dlg_root.
      auto root = slurm(ref.profile).dlg_root;
      while (root.size() > 1 && root.back() == '/') root.pop_back();
      const auto& dir = matches.front().work_dir;
      if (!root.empty() && dir.rfind(root + "/", 0) == 0 && dir.find("/..") == std::string::npos)
        r.remote_session_dir = dir;
      domain::SlurmObservation s;
      s.job_id = matches.front().job_id;
      s.state = matches.front().state;
      s.raw = matches.front().raw;
      s.source = matches.front().source;
      s.reason = matches.front().reason;
      auto adopted = ref;
      adopted.scheduler_job_id = s.job_id;
      r.state = to_observation(s, adopted);
    }
    return r;
  }

  cancel_result cancel(const execution_ref& ref) override {
    cancel_result c;
    auto r = client_for(ref.profile)->cancel(ref.scheduler_job_id);
    c.confirmed = r.confirmed;
    c.reason = r.reason;
    if (r.last) c.state = to_observation(*r.last, ref);
    if (r.confirmed) c.state.scheduler_state = "cancelled";
    return c;
  }

 private:
  slurm_credentials creds_;
  daliuge_options tm_options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<slurm_client>> clients_;
};

}  // namespace

std::shared_ptr<execution_backend> make_rest_backend() {
  return std::make_shared<rest_backend>(daliuge_options{});
}

std::shared_ptr<execution_backend> make_slurm_backend(slurm_credentials creds) {
  return std::make_shared<slurm_backend>(std::move(creds), daliuge_options{});
}

}  // namespace beampipe::adapters

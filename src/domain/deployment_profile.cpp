#include "domain/deployment_profile.hpp"

#include <algorithm>
#include <cctype>

#include "domain/canonical_json.hpp"
#include "domain/json_decoder.hpp"
#include "domain/redaction.hpp"

namespace beampipe::domain {
namespace json = boost::json;
using detail::Decoder;

namespace {

// Profiles are stored and returned by the API, so no key may look like it carries a
// credential: they must only ever name a credential slot.
void secret_scan(const json::value& v, const std::string& path, DiagnosticSink& sink,
                 int depth = 0) {
  if (depth > 32 || !v.is_object()) return;
  for (const auto& kv : v.get_object()) {
    auto p = join_path(path, std::string(kv.key()));
    if (looks_secret(kv.key()))
      sink.error(p, "secret_not_allowed",
                 "deployment profiles must not contain secrets ('" + std::string(kv.key()) + "')",
                 "store the secret in the credential store and reference it with "
                 "deployment.ssh_credential");
    secret_scan(kv.value(), p, sink, depth + 1);
  }
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 50 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

void decode_rest(Decoder& d, const json::object& o, RestRemoteDeployment& r) {
  d.opt_str(o, "deployment", "dim_host_for_tm", r.dim_host_for_tm);
  if (o.contains("dim_port_for_tm")) {
    r.dim_port_for_tm.reset();  // explicit null means "use 8000" (spec §1.4)
    d.opt_integer(o, "deployment", "dim_port_for_tm", r.dim_port_for_tm);
  }
  d.opt_str(o, "deployment", "deploy_host", r.deploy_host);
  if (o.contains("deploy_port")) {
    r.deploy_port.reset();
    d.opt_integer(o, "deployment", "deploy_port", r.deploy_port);
  }
  d.boolean(o, "deployment", "verify_ssl", r.verify_ssl);
  d.boolean(o, "deployment", "use_https", r.use_https);
  d.boolean(o, "deployment", "delete_finished_sessions", r.delete_finished_sessions);
}

void decode_slurm(Decoder& d, const json::object& o, SlurmRemoteDeployment& s) {
  const std::string p = "deployment";
  d.str(o, p, "login_node", s.login_node, true);
  d.integer(o, p, "ssh_port", s.ssh_port);
  d.opt_str(o, p, "remote_user", s.remote_user);
  d.str(o, p, "account", s.account, true);
  d.str(o, p, "home_dir", s.home_dir, true);
  d.str(o, p, "log_dir", s.log_dir, true);
  d.str(o, p, "dlg_root", s.dlg_root, true);
  d.str(o, p, "exec_prefix", s.exec_prefix);
  d.opt_str(o, p, "venv", s.venv);
  d.opt_str(o, p, "modules", s.modules);
  d.str(o, p, "facility", s.facility);
  d.integer(o, p, "job_duration_minutes", s.job_duration_minutes);
  d.integer(o, p, "num_nodes", s.num_nodes);
  d.integer(o, p, "num_islands", s.num_islands);
  d.integer(o, p, "verbose_level", s.verbose_level);
  d.integer(o, p, "max_threads", s.max_threads);
  d.boolean(o, p, "all_nics", s.all_nics);
  d.boolean(o, p, "zerorun", s.zerorun);
  d.boolean(o, p, "sleepncopy", s.sleepncopy);
  d.boolean(o, p, "check_with_session", s.check_with_session);
  if (const auto* v = Decoder::member(o, "verify_ssl")) {
    if (v->is_bool())
      s.verify_ssl = v->get_bool();
    else
      d.type_error("deployment.verify_ssl", "boolean", *v);
  }
  d.opt_str(o, p, "slurm_template", s.slurm_template);
  d.opt_str(o, p, "ssh_credential", s.ssh_credential);
  if (const auto* r = Decoder::member(o, "resources")) {
    const std::string rp = "deployment.resources";
    if (const auto* ro = d.object(*r, rp,
                                  {"partition", "nodes", "tasks", "cpus_per_task", "memory",
                                   "wall_time_minutes", "constraint", "quality_of_service"})) {
      SlurmResources res;
      d.opt_str(*ro, rp, "partition", res.partition);
      d.opt_integer(*ro, rp, "nodes", res.nodes);
      d.opt_integer(*ro, rp, "tasks", res.tasks);
      d.opt_integer(*ro, rp, "cpus_per_task", res.cpus_per_task);
      d.opt_str(*ro, rp, "memory", res.memory);
      d.opt_integer(*ro, rp, "wall_time_minutes", res.wall_time_minutes);
      d.opt_str(*ro, rp, "constraint", res.constraint);
      d.opt_str(*ro, rp, "quality_of_service", res.quality_of_service);
      s.resources = std::move(res);
    }
  }
  if (const auto* t = Decoder::member(o, "manager_topology")) {
    const std::string tp = "deployment.manager_topology";
    if (const auto* to = d.object(*t, tp, {"nodes", "islands", "co_host_dim"})) {
      ManagerTopology mt;
      d.opt_integer(*to, tp, "nodes", mt.nodes);
      d.opt_integer(*to, tp, "islands", mt.islands);
      if (const auto* c = Decoder::member(*to, "co_host_dim")) {
        if (c->is_bool())
          mt.co_host_dim = c->get_bool();
        else
          d.type_error(tp + ".co_host_dim", "boolean", *c);
      }
      s.manager_topology = std::move(mt);
    }
  }
  d.opt_str(o, p, "container_runtime", s.container_runtime);
  d.opt_str(o, p, "environment_setup", s.environment_setup);
}

template <class T>
void put(json::object& o, std::string_view k, const std::optional<T>& v) {
  if (v)
    o[k] = *v;
  else
    o[k] = nullptr;
}

}  // namespace

std::int64_t SlurmRemoteDeployment::effective_nodes() const {
  if (resources && resources->nodes) return *resources->nodes;
  if (manager_topology && manager_topology->nodes) return *manager_topology->nodes;
  return num_nodes;
}
std::int64_t SlurmRemoteDeployment::effective_islands() const {
  if (manager_topology && manager_topology->islands) return *manager_topology->islands;
  return num_islands;
}
std::int64_t SlurmRemoteDeployment::effective_wall_time_minutes() const {
  if (resources && resources->wall_time_minutes) return *resources->wall_time_minutes;
  return job_duration_minutes;
}

ProfileParseResult parse_deployment_profile(const json::value& body) {
  ProfileParseResult out;
  try {
    DiagnosticSink sink;
    Decoder d(sink);
    const auto* root = d.object(body, "(body)",
                                {"name", "description", "project_module", "is_default",
                                 "max_concurrent_executions", "translation", "deployment"});
    for (auto& diag : sink.items())
      if (diag.path.rfind("(body).", 0) == 0) diag.path = diag.path.substr(7);
    if (!root) {
      out.diagnostics = std::move(sink.items());
      return out;
    }
    secret_scan(body, "", sink);
    DeploymentProfile p;
    d.str(*root, "", "name", p.name, true);
    d.opt_str(*root, "", "description", p.description);
    d.opt_str(*root, "", "project_module", p.project_module);
    d.boolean(*root, "", "is_default", p.is_default);
    d.opt_integer(*root, "", "max_concurrent_executions", p.max_concurrent_executions);
    if (const auto* t = Decoder::member(*root, "translation")) {
      if (const auto* to =
              d.object(*t, "translation", {"algo", "num_par", "num_islands", "tm_url"})) {
        d.str(*to, "translation", "algo", p.translation.algo);
        d.integer(*to, "translation", "num_par", p.translation.num_par);
        d.integer(*to, "translation", "num_islands", p.translation.num_islands);
        d.opt_str(*to, "translation", "tm_url", p.translation.tm_url);
      }
    }
    if (const auto* dep = Decoder::member(*root, "deployment")) {
      std::string kind;
      if (dep->is_object()) {
        d.str(dep->get_object(), "deployment", "kind", kind, true);
      } else {
        d.type_error("deployment", "mapping", *dep);
      }
      if (kind == "rest_remote") {
        if (const auto* o =
                d.object(*dep, "deployment",
                         {"kind", "dim_host_for_tm", "dim_port_for_tm", "deploy_host",
                          "deploy_port", "verify_ssl", "use_https", "delete_finished_sessions"})) {
          RestRemoteDeployment r;
          decode_rest(d, *o, r);
          p.deployment = std::move(r);
        }
      } else if (kind == "slurm_remote") {
        if (const auto* o = d.object(*dep, "deployment",
                                     {"kind",
                                      "login_node",
                                      "ssh_port",
                                      "remote_user",
                                      "account",
                                      "home_dir",
                                      "log_dir",
                                      "dlg_root",
                                      "exec_prefix",
                                      "venv",
                                      "modules",
                                      "facility",
                                      "job_duration_minutes",
                                      "num_nodes",
                                      "num_islands",
                                      "verbose_level",
                                      "max_threads",
                                      "all_nics",
                                      "zerorun",
                                      "sleepncopy",
                                      "check_with_session",
                                      "verify_ssl",
                                      "slurm_template",
                                      "ssh_credential",
                                      "resources",
                                      "manager_topology",
                                      "container_runtime",
                                      "environment_setup"})) {
          SlurmRemoteDeployment s;
          decode_slurm(d, *o, s);
          p.deployment = std::move(s);
        }
      } else if (!kind.empty()) {
        sink.error("deployment.kind", "invalid_config_value",
                   "unknown deployment kind '" + kind + "'",
                   "supported: rest_remote, slurm_remote");
      }
    } else {
      d.missing("deployment");
    }
    out.profile = std::move(p);
    out.diagnostics = std::move(sink.items());
  } catch (const std::exception& e) {
    out.profile.reset();
    out.diagnostics.push_back(
        {"(body)", "invalid_config_structure", Severity::error, e.what(), std::nullopt});
  }
  return out;
}

ProfileParseResult parse_deployment_profile(std::string_view json_text) {
  std::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value v = json::parse(json_text, ec, {}, opts);
  if (ec) {
    ProfileParseResult out;
    out.diagnostics.push_back(
        {"(body)", "invalid_json", Severity::error, ec.message(), std::nullopt});
    return out;
  }
  return parse_deployment_profile(v);
}

std::vector<Diagnostic> validate_deployment_profile(const DeploymentProfile& p) {
  DiagnosticSink sink;
  auto nonempty_when_set = [&](const std::optional<std::string>& v, const std::string& path) {
    if (v && trim_copy(*v).empty())
      sink.error(path, "invalid_config_value", path + " must be non-empty when set");
  };
  auto port = [&](const std::optional<std::int64_t>& v, const std::string& path) {
    if (v && (*v < 1 || *v > 65535))
      sink.error(path, "invalid_config_value", path + " must be in 1..=65535");
  };
  if (!valid_name(p.name))
    sink.error("name", p.name.empty() ? "required" : "invalid_config_value",
               "name must be 1-50 characters from [A-Za-z0-9._-]");
  if (p.description && p.description->size() > 255)
    sink.error("description", "invalid_config_value", "description must be at most 255 characters");
  if (p.project_module && (trim_copy(*p.project_module).empty() || p.project_module->size() > 50))
    sink.error("project_module", "invalid_config_value",
               "project_module must be 1-50 characters when set");
  if (p.max_concurrent_executions && *p.max_concurrent_executions < 1)
    sink.error("max_concurrent_executions", "invalid_limit",
               "max_concurrent_executions must be >= 1");
  if (p.translation.algo != "metis" && p.translation.algo != "mysarkar")
    sink.error("translation.algo", "invalid_config_value",
               "translation.algo must be metis or mysarkar");
  if (p.translation.num_par < 1)
    sink.error("translation.num_par", "invalid_limit", "translation.num_par must be >= 1");
  if (p.translation.num_islands < 0)
    sink.error("translation.num_islands", "invalid_limit", "translation.num_islands must be >= 0");
  nonempty_when_set(p.translation.tm_url, "translation.tm_url");
  if (p.translation.tm_url && !trim_copy(*p.translation.tm_url).empty() &&
      p.translation.tm_url->rfind("http://", 0) != 0 &&
      p.translation.tm_url->rfind("https://", 0) != 0)
    sink.error("translation.tm_url", "invalid_config_value",
               "translation.tm_url must be an http(s) URL");

  if (const auto* r = std::get_if<RestRemoteDeployment>(&p.deployment)) {
    if (!r->deploy_host || trim_copy(*r->deploy_host).empty())
      sink.error("deployment.deploy_host", "required",
                 "rest_remote requires deployment.deploy_host");
    nonempty_when_set(r->dim_host_for_tm, "deployment.dim_host_for_tm");
    port(r->dim_port_for_tm, "deployment.dim_port_for_tm");
    port(r->deploy_port, "deployment.deploy_port");
  } else {
    const auto& s = std::get<SlurmRemoteDeployment>(p.deployment);
    const std::string d = "deployment.";
    if (trim_copy(s.login_node).empty())
      sink.error(d + "login_node", "required", "slurm_remote requires login_node");
    port(s.ssh_port, d + "ssh_port");
    if (trim_copy(s.account).empty())
      sink.error(d + "account", "required", "slurm_remote requires account");
    for (auto [value, field] :
         {std::pair{&s.home_dir, "home_dir"}, {&s.log_dir, "log_dir"}, {&s.dlg_root, "dlg_root"}}) {
      if (trim_copy(*value).empty())
        sink.error(d + field, "required", std::string("slurm_remote requires ") + field);
      else if ((*value)[0] != '/')
        sink.error(d + field, "invalid_config_value", d + field + " must be an absolute path");
    }
    if (s.dlg_root == "/")
      sink.error(d + "dlg_root", "invalid_config_value", "deployment.dlg_root must not be /");
    if (s.effective_nodes() < 1)
      sink.error(d + "num_nodes", "invalid_limit", "effective node count must be > 0");
    if (s.effective_islands() < 1)
      sink.error(d + "num_islands", "invalid_limit", "effective island count must be > 0");
    if (s.effective_wall_time_minutes() < 1)
      sink.error(d + "job_duration_minutes", "invalid_limit",
                 "effective wall time must be > 0 minutes");
    if (s.max_threads < 0)
      sink.error(d + "max_threads", "invalid_limit", "deployment.max_threads must be >= 0");
    if (trim_copy(s.exec_prefix).empty())
      sink.error(d + "exec_prefix", "invalid_config_value", "exec_prefix must be non-empty");
    if (trim_copy(s.facility).empty())
      sink.error(d + "facility", "invalid_config_value", "facility must be non-empty");
    nonempty_when_set(s.remote_user, d + "remote_user");
    nonempty_when_set(s.venv, d + "venv");
    nonempty_when_set(s.modules, d + "modules");
    nonempty_when_set(s.slurm_template, d + "slurm_template");
    nonempty_when_set(s.container_runtime, d + "container_runtime");
    nonempty_when_set(s.environment_setup, d + "environment_setup");
    if (s.ssh_credential) {
      const auto& c = *s.ssh_credential;
      if (!valid_name(c) || c.find("..") != std::string::npos)
        sink.error(d + "ssh_credential", "invalid_config_value",
                   "ssh_credential must match [A-Za-z0-9._-]{1,50} and must not contain '..', '/' "
                   "or '\\'");
    }
    if (s.resources) {
      const auto& r = *s.resources;
      const std::string rp = d + "resources.";
      nonempty_when_set(r.partition, rp + "partition");
      nonempty_when_set(r.memory, rp + "memory");
      nonempty_when_set(r.constraint, rp + "constraint");
      nonempty_when_set(r.quality_of_service, rp + "quality_of_service");
      for (auto [v, f] : {std::pair{&r.nodes, "nodes"},
                          {&r.tasks, "tasks"},
                          {&r.cpus_per_task, "cpus_per_task"},
                          {&r.wall_time_minutes, "wall_time_minutes"}})
        if (*v && **v < 1) sink.error(rp + f, "invalid_limit", rp + f + " must be > 0");
    }
    if (s.manager_topology) {
      const std::string tp = d + "manager_topology.";
      if (s.manager_topology->nodes && *s.manager_topology->nodes < 1)
        sink.error(tp + "nodes", "invalid_limit", tp + "nodes must be > 0");
      if (s.manager_topology->islands && *s.manager_topology->islands < 1)
        sink.error(tp + "islands", "invalid_limit", tp + "islands must be > 0");
    }
  }
  return std::move(sink.items());
}

ProfileValidation validate_deployment_profile_body(const json::value& body) {
  ProfileValidation out;
  auto parsed = parse_deployment_profile(body);
  out.diagnostics = std::move(parsed.diagnostics);
  if (parsed.profile) {
    for (auto& d : validate_deployment_profile(*parsed.profile))
      out.diagnostics.push_back(std::move(d));
    if (!has_errors(out.diagnostics)) out.profile = std::move(parsed.profile);
  }
  return out;
}

json::value to_json(const TranslationConfig& t) {
  json::object o;
  o["algo"] = t.algo;
  o["num_par"] = t.num_par;
  o["num_islands"] = t.num_islands;
  if (t.tm_url) o["tm_url"] = *t.tm_url;
  return o;
}

json::value to_json(const Deployment& dep) {
  json::object o;
  if (const auto* r = std::get_if<RestRemoteDeployment>(&dep)) {
    o["kind"] = "rest_remote";
    put(o, "dim_host_for_tm", r->dim_host_for_tm);
    put(o, "dim_port_for_tm", r->dim_port_for_tm);
    put(o, "deploy_host", r->deploy_host);
    put(o, "deploy_port", r->deploy_port);
    o["verify_ssl"] = r->verify_ssl;
    o["use_https"] = r->use_https;
    // Only when on: profiles stored before the option keep their spec_sha256.
    if (r->delete_finished_sessions) o["delete_finished_sessions"] = true;
    return o;
  }
  const auto& s = std::get<SlurmRemoteDeployment>(dep);
  o["kind"] = "slurm_remote";
  o["login_node"] = s.login_node;
  o["ssh_port"] = s.ssh_port;
  put(o, "remote_user", s.remote_user);
  o["account"] = s.account;
  o["home_dir"] = s.home_dir;
  o["log_dir"] = s.log_dir;
  o["dlg_root"] = s.dlg_root;
  o["exec_prefix"] = s.exec_prefix;
  put(o, "venv", s.venv);
  put(o, "modules", s.modules);
  o["facility"] = s.facility;
  o["job_duration_minutes"] = s.job_duration_minutes;
  o["num_nodes"] = s.num_nodes;
  o["num_islands"] = s.num_islands;
  o["verbose_level"] = s.verbose_level;
  o["max_threads"] = s.max_threads;
  o["all_nics"] = s.all_nics;
  o["zerorun"] = s.zerorun;
  o["sleepncopy"] = s.sleepncopy;
  o["check_with_session"] = s.check_with_session;
  put(o, "verify_ssl", s.verify_ssl);
  put(o, "slurm_template", s.slurm_template);
  put(o, "ssh_credential", s.ssh_credential);
  if (s.resources) {
    json::object r;
    put(r, "partition", s.resources->partition);
    put(r, "nodes", s.resources->nodes);
    put(r, "tasks", s.resources->tasks);
    put(r, "cpus_per_task", s.resources->cpus_per_task);
    put(r, "memory", s.resources->memory);
    put(r, "wall_time_minutes", s.resources->wall_time_minutes);
    put(r, "constraint", s.resources->constraint);
    put(r, "quality_of_service", s.resources->quality_of_service);
    o["resources"] = std::move(r);
  } else {
    o["resources"] = nullptr;
  }
  if (s.manager_topology) {
    json::object t;
    put(t, "nodes", s.manager_topology->nodes);
    put(t, "islands", s.manager_topology->islands);
    put(t, "co_host_dim", s.manager_topology->co_host_dim);
    o["manager_topology"] = std::move(t);
  } else {
    o["manager_topology"] = nullptr;
  }
  put(o, "container_runtime", s.container_runtime);
  put(o, "environment_setup", s.environment_setup);
  return o;
}

json::value to_json(const DeploymentProfile& p) {
  json::object o;
  o["name"] = p.name;
  put(o, "description", p.description);
  put(o, "project_module", p.project_module);
  o["is_default"] = p.is_default;
  put(o, "max_concurrent_executions", p.max_concurrent_executions);
  o["translation"] = to_json(p.translation);
  o["deployment"] = to_json(p.deployment);
  return o;
}

std::string profile_spec_sha256(const DeploymentProfile& p) {
  return sha256_hex(stable_json(to_json(p)));
}

json::value profile_snapshot(const DeploymentProfile& p, std::int64_t revision) {
  json::value v = to_json(p);
  auto& o = v.get_object();
  o["revision"] = revision;
  o["spec_sha256"] = profile_spec_sha256(p);
  return v;
}

std::optional<std::string> dim_base_url(const RestRemoteDeployment& d) {
  if (!d.deploy_host || trim_copy(*d.deploy_host).empty()) return std::nullopt;
  const std::int64_t port = d.deploy_port.value_or(8001);
  const std::string scheme = d.use_https ? "https" : "http";
  const std::int64_t default_port = d.use_https ? 443 : 80;
  std::string url = scheme + "://" + trim_copy(*d.deploy_host);
  if (port != default_port) url += ":" + std::to_string(port);
  return url;
}

std::string effective_remote_user(const SlurmRemoteDeployment& d,
                                  const std::optional<std::string>& env_slurm_remote_user,
                                  const std::optional<std::string>& env_user) {
  for (const auto* v : {&d.remote_user, &env_slurm_remote_user, &env_user})
    if (*v && !trim_copy(**v).empty()) return trim_copy(**v);
  return "root";
}

ProfileValidation validate_stored_profile(boost::json::object pinned) {
  for (const char* added : {"uuid", "revision", "spec_sha256"}) pinned.erase(added);
  return validate_deployment_profile_body(boost::json::value(std::move(pinned)));
}

}  // namespace beampipe::domain

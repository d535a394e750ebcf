#include "app/diagnostics.hpp"

#include <algorithm>

#include "adapters/credential_slots.hpp"
#include "app/security.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/project_config.hpp"
#include "projections/deployment_profiles/queries.hpp"
#include "projections/engine.hpp"
#include "projections/project_configs/queries.hpp"
#include "services/dependency_prober.hpp"
#include "services/node_heartbeat.hpp"
#include "store/db.hpp"
#include "store/event_store.hpp"
#include "store/leases.hpp"
#include "store/migrations.hpp"
#include "util/redact.hpp"
#include "util/time.hpp"

namespace beampipe::app {
namespace json = boost::json;

bool diagnosis::ok() const {
  return std::none_of(checks.begin(), checks.end(), [](auto& c) { return c.status == "fail"; });
}

namespace {

struct report {
  diagnosis& d;
  void pass(std::string id, std::string message, std::string subject = {}) {
    d.checks.push_back({std::move(id), "pass", std::move(message), "", std::move(subject)});
  }
  void warn(std::string id, std::string message, std::string hint, std::string subject = {}) {
    d.checks.push_back(
        {std::move(id), "warn", std::move(message), std::move(hint), std::move(subject)});
  }
  void fail(std::string id, std::string message, std::string hint, std::string subject = {}) {
    d.checks.push_back(
        {std::move(id), "fail", std::move(message), std::move(hint), std::move(subject)});
  }
};

std::string first_error(const std::vector<domain::Diagnostic>& ds) {
  for (const auto& x : ds)
    if (x.severity == domain::Severity::error)
      return (x.path.empty() ? "" : x.path + ": ") + x.message;
  return "invalid";
}

// The database, its schema, and the read models the API answers from.
store::database::dedicated check_database(report& r, store::database& db, const settings& s) {
  store::database::dedicated c;
  try {
    c = db.connect(store::db_role::prober, "doctor");
    pqxx::nontransaction tx{*c};
    tx.exec("SELECT 1");
    r.pass("database.connected", "PostgreSQL answers");
  } catch (const std::exception& e) {
    r.fail("database.unreachable", e.what(),
           "check DATABASE_URL and that PostgreSQL is running (`beampipe start` starts the "
           "embedded one)");
    return nullptr;
  }
  auto m = store::check_migrations(*c);
  if (m.current())
    r.pass("database.migrations", "schema at version " + std::to_string(m.applied));
  else
    r.fail("database.migrations_pending",
           "schema at version " + std::to_string(m.applied) + ", this binary needs " +
               std::to_string(m.latest),
           "run `beampipe migrate` (a node applies them when it starts)");
  if (!m.current()) return nullptr;

  auto head = store::head_position(*c);
  int64_t lag = 0, dead = 0;
  for (const auto& eng : projections::standard_engines_by_group()) {
    pqxx::read_transaction tx{*c};
    for (const auto& cp : eng->checkpoints(tx)) lag = std::max(lag, head - cp.at.position);
    tx.commit();
    dead += static_cast<int64_t>(eng->dead_letters(*c).size());
  }
  if (lag <= s.ready_max_lag)
    r.pass("projections.caught_up", "read models " + std::to_string(lag) + " events behind");
  else
    r.warn("projections.behind", "read models " + std::to_string(lag) + " events behind",
           "projections apply in a running node; if one runs, GET /ready shows whether they fail");
  if (dead == 0)
    r.pass("projections.dead_letters", "no dead letters");
  else
    r.warn(
        "projections.dead_letters", std::to_string(dead) + " events a read model could not apply",
        "`beampipe projections dead-letters` lists them; --retry POSITION once the cause is fixed");
  return c;
}

void check_security(report& r, const settings& s) {
  std::vector<std::string> fails, warns;
  for (const auto& f : security_findings(s)) {
    if (f.status == "fail") fails.push_back(f.check + ": " + f.message);
    if (f.status == "warn") warns.push_back(f.check + ": " + f.message);
  }
  auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : "; ") + x;
    return out;
  };
  if (!fails.empty())
    r.fail("security.policy_failed", joined(fails),
           "run `beampipe security check` for each finding");
  else if (!warns.empty() && s.production())
    r.warn("security.policy_warnings", joined(warns),
           "`beampipe security check` lists each finding");
  else if (!warns.empty())
    // In development these are notes on what production would want, not problems.
    r.pass("security.policy", "environment development; for production: " + joined(warns));
  else
    r.pass("security.policy", "environment " + s.environment + ": no finding");
}

void check_tap(report& r, const settings& s, std::chrono::seconds timeout) {
  if (s.casda_tap_url.empty() && s.vizier_tap_url.empty()) {
    r.pass("tap.simulated", "no TAP URL set: discovery uses the bundled simulated archive");
    return;
  }
  for (const auto& [name, url] : {std::pair{std::string("casda"), s.casda_tap_url},
                                  {std::string("vizier"), s.vizier_tap_url}}) {
    if (url.empty()) {
      r.pass("tap." + name + ".not_configured", "no " + name + " TAP URL set");
      continue;
    }
    auto p = services::probe_tap("tap_" + name, url, timeout);
    if (p.up)
      r.pass("tap." + name + ".reachable", p.target + " answers");
    else
      r.fail("tap." + name + ".unreachable", p.target + ": " + p.detail,
             "check the URL, the network path (VPN, proxy) and that the service is up");
  }
}

void check_projects(report& r, pqxx::transaction_base& tx) {
  auto configs = projections::project_configs::active_configs(tx);
  if (configs.empty()) {
    r.warn("projects.none", "no project config is active",
           "upload one with POST /api/v2/project-configs");
    return;
  }
  for (const auto& c : configs) {
    boost::system::error_code ec;
    auto doc = json::parse(c.spec, ec);
    auto parsed = ec ? domain::ConfigParseResult{} : domain::parse_project_config(doc);
    std::vector<domain::Diagnostic> problems = parsed.diagnostics;
    if (parsed.config)
      for (auto& d : domain::validate_project_config(*parsed.config)) problems.push_back(d);
    bool valid = parsed.config && std::none_of(problems.begin(), problems.end(), [](auto& d) {
                   return d.severity == domain::Severity::error;
                 });
    if (valid)
      r.pass("project.valid", "version " + std::to_string(c.version) + " is valid", c.project_id);
    else
      r.fail("project.invalid",
             "version " + std::to_string(c.version) + ": " +
                 (ec ? "the stored spec is not JSON" : first_error(problems)),
             "`beampipe project validate -f FILE` shows every problem; upload a corrected config",
             c.project_id);
  }
}

// The profile the backend checks are made for: the named one, else the operator default.
std::optional<json::object> check_profile(report& r, pqxx::transaction_base& tx,
                                          const diagnostics_options& o,
                                          std::optional<domain::DeploymentProfile>& parsed) {
  std::optional<json::object> row =
      o.profile ? projections::deployment_profiles::pinnable_by_name(tx, *o.profile)
                : projections::deployment_profiles::operator_default(tx);
  if (!row) {
    if (o.profile)
      r.fail("profile.not_found", "no deployment profile named " + *o.profile,
             "GET /api/v2/deployment-profiles lists them", *o.profile);
    else
      r.pass(
          "profile.none",
          "no global default profile (nor a single default): backend checks need a profile name");
    return std::nullopt;
  }
  std::string name(row->at("name").as_string());
  auto v = domain::validate_stored_profile(*row);
  if (!v.valid()) {
    r.fail("profile.invalid", first_error(v.diagnostics),
           "fix it with PATCH /api/v2/deployment-profiles/{id}", name);
    return std::nullopt;
  }
  parsed = v.profile;
  r.pass("profile.valid", "revision " + json::serialize(row->at("revision")) + " is valid", name);
  return row;
}

void check_backends(report& r, const settings& s, const diagnostics_options& o,
                    const json::object& row, const domain::DeploymentProfile& profile) {
  std::string name(row.at("name").as_string());
  if (!s.use_real_backends) {
    r.pass("backends.simulated",
           "simulated backend: executions reach no DALiuGE or Slurm (BEAMPIPE_USE_REAL_BACKENDS)",
           name);
    return;
  }
  if (const auto* slurm = std::get_if<domain::SlurmRemoteDeployment>(&profile.deployment)) {
    if (slurm->ssh_credential) {
      auto slot = adapters::find_credential_slot(s.ssh_credentials_dir, *slurm->ssh_credential);
      if (!slot || !slot->private_key || !slot->known_hosts)
        r.fail("slurm.credentials_missing",
               "slot " + *slurm->ssh_credential + " lacks " +
                   (!slot                ? std::string("everything (no such slot)")
                    : !slot->private_key ? "private_key"
                                         : "known_hosts"),
               "put private_key and known_hosts under BEAMPIPE_SSH_CREDENTIALS_DIR/" +
                   *slurm->ssh_credential + "/",
               name);
      else if (!slot->safe_permissions)
        r.fail("slurm.credentials_unsafe",
               "slot " + *slurm->ssh_credential + ": the key or passphrase is readable by others",
               "chmod 600 the private_key and passphrase files", name);
      else
        r.pass("slurm.credentials",
               "slot " + *slurm->ssh_credential + " holds a key and known_hosts", name);
    }
  }
  for (const auto& p : services::probe_profile(row, o.backends, o.timeout)) {
    std::string what = p.dependency == "daliuge_tm"    ? "daliuge.translator"
                       : p.dependency == "daliuge_dim" ? "daliuge.manager"
                                                       : "slurm";
    if (p.up)
      r.pass(what == "slurm" ? "slurm.connected" : what + "_reachable", p.target + " answers",
             name);
    else
      r.fail(what == "slurm" ? "slurm.connectivity_failed" : what + "_unreachable",
             p.target + ": " + p.detail,
             what == "slurm" ? "check the network path, the SSH key and known_hosts, and that "
                               "squeue runs for the remote user"
                             : "check the URL, the network path and that the manager runs",
             name);
  }
}

void check_cluster(report& r, pqxx::connection& c, const settings& s) {
  pqxx::read_transaction tx{c};
  auto census = services::take_census(tx, s.heartbeat_every);
  tx.commit();
  if (census.workers_alive > 0)
    r.pass("workers.alive", std::to_string(census.workers_alive) + " node(s) run workers");
  else
    r.warn("workers.none", "no live node runs workers: discovery and executions wait",
           "start a node with the workers role (`beampipe start` runs all roles)");
  if (census.stale > 0)
    r.warn("workers.stale", std::to_string(census.stale) + " node(s) stopped heartbeating",
           "GET /api/v2/ready lists the nodes; a stale node's leases expire and move");
  auto lease = store::read_lease(c, "scheduler");
  if (lease && !lease->expired)
    r.pass("scheduler.leader", "held by " + lease->owner);
  else
    r.warn("scheduler.no_leader", "no node holds the scheduler lease: admissions wait",
           "start a node with BEAMPIPE_SCHEDULER_ENABLED=true (the default)");
}

}  // namespace

diagnosis diagnose(store::database& db, const settings& s, const diagnostics_options& o) {
  diagnosis d;
  d.generated_at = util::now_rfc3339();
  report r{d};
  r.pass("config.loaded", "settings loaded (environment " + s.environment + ")");
  check_security(r, s);
  check_tap(r, s, o.timeout);
  auto c = check_database(r, db, s);
  if (!c) return d;
  std::optional<json::object> row;
  std::optional<domain::DeploymentProfile> profile;
  {
    pqxx::read_transaction tx{*c};
    check_projects(r, tx);
    row = check_profile(r, tx, o, profile);
  }
  if (row) d.profile = std::string(row->at("name").as_string());
  if (row && profile) check_backends(r, s, o, *row, *profile);
  check_cluster(r, *c, s);
  return d;
}

json::object to_json(const diagnosis& d) {
  json::array checks;
  int64_t pass = 0, warn = 0, fail = 0;
  for (const auto& c : d.checks) {
    json::object o{{"id", c.id}, {"status", c.status}, {"message", c.message}};
    o["hint"] = c.hint.empty() ? json::value(nullptr) : json::value(c.hint);
    o["subject"] = c.subject.empty() ? json::value(nullptr) : json::value(c.subject);
    checks.push_back(std::move(o));
    (c.status == "pass" ? pass : c.status == "warn" ? warn : fail)++;
  }
  return {{"ok", d.ok()},
          {"generated_at", d.generated_at},
          {"profile", d.profile ? json::value(*d.profile) : json::value(nullptr)},
          {"summary", json::object{{"pass", pass}, {"warn", warn}, {"fail", fail}}},
          {"checks", std::move(checks)}};
}

}  // namespace beampipe::app

#include "app/backends.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "adapters/casda_staging.hpp"
#include "adapters/real_backends.hpp"

namespace beampipe::app {
namespace {

std::string system_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

std::string describe_backends(const settings& s) {
  return s.use_real_backends ? "real" : "simulated";
}

adapters::backend_factory make_backend_factory(const settings& s) {
  if (s.use_real_backends) {
    adapters::slurm_credentials creds;
    creds.credentials_dir = s.ssh_credentials_dir;
    creds.private_key_file = s.slurm_ssh_private_key_file;
    // HOME and USER are the system's, not beampipe settings: the documented fallbacks.
    const auto home = system_env("HOME");
    if (creds.private_key_file.empty()) {
      for (const char* k : {"/.ssh/id_ed25519", "/.ssh/id_rsa"})
        if (!home.empty() && std::filesystem::exists(home + k)) {
          creds.private_key_file = home + k;
          break;
        }
    }
    creds.passphrase_file = s.slurm_ssh_passphrase_file;
    creds.known_hosts_file = s.slurm_ssh_known_hosts_source;
    if (creds.known_hosts_file.empty() && !home.empty())
      creds.known_hosts_file = home + "/.ssh/known_hosts";
    creds.strict_host_key = s.slurm_ssh_strict_known_hosts;
    if (!s.slurm_remote_user.empty()) creds.env_remote_user = s.slurm_remote_user;
    if (auto v = system_env("USER"); !v.empty()) creds.env_user = v;
    creds.askapsoft_sif = s.askapsoft_sif;
    auto rest = adapters::make_rest_backend();
    auto slurm = adapters::make_slurm_backend(std::move(creds));
    return [rest, slurm](
               const domain::DeploymentProfile& p) -> std::shared_ptr<adapters::execution_backend> {
      if (std::holds_alternative<domain::SlurmRemoteDeployment>(p.deployment)) return slurm;
      return rest;
    };
  }
  auto dim = adapters::make_simulated_dim(s.simulated_run);
  auto slurm = adapters::make_simulated_slurm(s.simulated_run);
  return [dim, slurm](
             const domain::DeploymentProfile& p) -> std::shared_ptr<adapters::execution_backend> {
    if (std::holds_alternative<domain::SlurmRemoteDeployment>(p.deployment)) return slurm;
    return dim;
  };
}

actors::stager make_stager(const settings& s) {
  // CASDA staging needs the real archive and credentials (§3.5 step 8, §7.6).
  if (s.use_real_backends) {
    adapters::casda_staging_config base;
    if (!s.casda_login_url.empty()) base.login_url = s.casda_login_url;
    base.credential_hosts = s.casda_credential_hosts;
    base.stage_by_sbid = s.casda_stage_by_sbid;
    base.poll_interval = s.casda_poll_interval;
    // The password file is read per staging, so a rotated secret needs no restart.
    return [base, username = s.casda_username, password = s.casda_password,
            password_file = s.casda_password_file](const std::string& archive,
                                                   const boost::json::array& records) {
      actors::staging_outcome out;
      if (archive != "casda") {
        out.records = records;
        out.report = {{"mode", "pass_through"}, {"reason", "archive is not casda"}};
        return out;
      }
      auto creds = adapters::casda_credentials_from(username, password, password_file);
      if (!creds)
        throw std::runtime_error(
            "CASDA_USERNAME/CASDA_PASSWORD required for staging but not configured");
      auto cfg = base;
      cfg.username = creds->username;
      cfg.password = creds->password;
      adapters::casda_staging_client client(cfg);
      client.login();
      auto result = client.stage(records);
      out.records = std::move(result.records);
      out.skipped_sbids.assign(result.skipped_sbids.begin(), result.skipped_sbids.end());
      out.report = result.to_json();
      out.report["mode"] = "casda";
      return out;
    };
  }
  // Pass-through: the manifest uses the archive's own access URLs.
  return [](const std::string&, const boost::json::array& records) {
    actors::staging_outcome out;
    out.records = records;
    out.report = {{"mode", "pass_through"}};
    return out;
  };
}

}  // namespace beampipe::app

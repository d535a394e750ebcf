#include "cli/backends.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "adapters/casda_staging.hpp"
#include "adapters/real_backends.hpp"

namespace beampipe::cli {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool truthy(std::string v) {
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "1" || v == "true" || v == "yes";
}

std::chrono::milliseconds simulated_duration() {
  auto v = env("BEAMPIPE_SIMULATED_RUN_MS");
  return std::chrono::milliseconds(v.empty() ? 20000 : std::stol(v));
}

}  // namespace

bool real_backends_enabled() { return truthy(env("BEAMPIPE_USE_REAL_BACKENDS")); }

std::string describe_backends() { return real_backends_enabled() ? "real" : "simulated"; }

adapters::backend_factory make_backend_factory() {
  if (real_backends_enabled()) {
    adapters::slurm_credentials creds;
    creds.credentials_dir = env("BEAMPIPE_SSH_CREDENTIALS_DIR");
    creds.private_key_file = env("SLURM_SSH_PRIVATE_KEY_FILE");
    if (creds.private_key_file.empty()) {
      auto home = env("HOME");
      for (const char* k : {"/.ssh/id_ed25519", "/.ssh/id_rsa"})
        if (!home.empty() && std::filesystem::exists(home + k)) {
          creds.private_key_file = home + k;
          break;
        }
    }
    creds.passphrase_file = env("SLURM_SSH_PRIVATE_KEY_PASSPHRASE_FILE");
    creds.known_hosts_file = env("SLURM_SSH_KNOWN_HOSTS_SOURCE");
    if (creds.known_hosts_file.empty() && !env("HOME").empty())
      creds.known_hosts_file = env("HOME") + "/.ssh/known_hosts";
    auto strict = env("BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS");
    creds.strict_host_key = strict.empty() || truthy(strict);
    if (auto v = env("SLURM_REMOTE_USER"); !v.empty()) creds.env_remote_user = v;
    if (auto v = env("USER"); !v.empty()) creds.env_user = v;
    creds.askapsoft_sif = env("BEAMPIPE_ASKAPSOFT_SIF");
    auto rest = adapters::make_rest_backend();
    auto slurm = adapters::make_slurm_backend(std::move(creds));
    return [rest, slurm](
               const domain::DeploymentProfile& p) -> std::shared_ptr<adapters::execution_backend> {
      if (std::holds_alternative<domain::SlurmRemoteDeployment>(p.deployment)) return slurm;
      return rest;
    };
  }
  auto dim = adapters::make_simulated_dim(simulated_duration());
  auto slurm = adapters::make_simulated_slurm(simulated_duration());
  return [dim, slurm](
             const domain::DeploymentProfile& p) -> std::shared_ptr<adapters::execution_backend> {
    if (std::holds_alternative<domain::SlurmRemoteDeployment>(p.deployment)) return slurm;
    return dim;
  };
}

actors::stager make_stager() {
  // CASDA staging needs the real archive and credentials (§3.5 step 8, §7.6).
  if (real_backends_enabled())
    return [](const std::string& archive, const boost::json::array& records) {
      actors::staging_outcome out;
      if (archive != "casda") {
        out.records = records;
        out.report = {{"mode", "pass_through"}, {"reason", "archive is not casda"}};
        return out;
      }
      auto creds = adapters::casda_credentials_from_env();
      if (!creds)
        throw std::runtime_error(
            "CASDA_USERNAME/CASDA_PASSWORD required for staging but not configured");
      adapters::casda_staging_config cfg;
      cfg.username = creds->username;
      cfg.password = creds->password;
      if (auto v = env("CASDA_LOGIN_URL"); !v.empty()) cfg.login_url = v;
      for (std::string item; const char ch : env("CASDA_CREDENTIAL_HOSTS") + ",")
        if (ch == ',' || ch == ' ') {
          if (!item.empty()) cfg.credential_hosts.push_back(item);
          item.clear();
        } else {
          item.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
        }
      if (auto v = env("CASDA_STAGE_BY_SBID"); !v.empty()) cfg.stage_by_sbid = truthy(v);
      if (auto v = env("BEAMPIPE_CASDA_POLL_INTERVAL_MS"); !v.empty())
        cfg.poll_interval = std::chrono::milliseconds(std::stol(v));
      adapters::casda_staging_client client(cfg);
      client.login();
      auto result = client.stage(records);
      out.records = std::move(result.records);
      out.skipped_sbids.assign(result.skipped_sbids.begin(), result.skipped_sbids.end());
      out.report = result.to_json();
      out.report["mode"] = "casda";
      return out;
    };
  // Pass-through: the manifest uses the archive's own access URLs.
  return [](const std::string&, const boost::json::array& records) {
    actors::staging_outcome out;
    out.records = records;
    out.report = {{"mode", "pass_through"}};
    return out;
  };
}

}  // namespace beampipe::cli

#include "cli/backends.hpp"

#include <cstdlib>
#include <string>

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
  auto dim = adapters::make_simulated_dim(simulated_duration());
  auto slurm = adapters::make_simulated_slurm(simulated_duration());
  return [dim, slurm](
             const domain::DeploymentProfile& p) -> std::shared_ptr<adapters::execution_backend> {
    if (std::holds_alternative<domain::SlurmRemoteDeployment>(p.deployment)) return slurm;
    return dim;
  };
}

actors::stager make_stager() {
  // Pass-through: the manifest uses the archive's own access URLs.
  return [](const std::string&, const boost::json::array& records) {
    actors::staging_outcome out;
    out.records = records;
    out.report = {{"mode", "pass_through"}};
    return out;
  };
}

}  // namespace beampipe::cli

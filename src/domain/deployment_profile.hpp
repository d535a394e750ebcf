// DALiuGE deployment profiles (spec §1.4, §12.6): parsing, [HEAD] validation,
// defaults and the spec_sha256 snapshot.
//
// Secrets are never part of a profile: unknown keys are rejected, and keys that
// look like secrets (password, token, private_key, …) get a dedicated error. A
// Slurm profile names a credential slot (`ssh_credential`) instead.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/diagnostics.hpp"

namespace beampipe::domain {

struct TranslationConfig {
  std::string algo = "metis";  // "metis" | "mysarkar"
  std::int64_t num_par = 1;
  std::int64_t num_islands = 0;
  std::optional<std::string> tm_url;
};

struct RestRemoteDeployment {
  std::optional<std::string> dim_host_for_tm;
  std::optional<std::int64_t> dim_port_for_tm = 8001;
  std::optional<std::string> deploy_host;
  std::optional<std::int64_t> deploy_port = 8001;
  bool verify_ssl = true;  // [HEAD] default
  bool use_https = false;
  // DELETE /api/sessions/<sid> on the DIM once a run's session is observed terminal and
  // recorded (the reference's dim_destroy_session). Off: finished sessions stay on the DIM.
  bool delete_finished_sessions = false;
};

struct SlurmResources {
  std::optional<std::string> partition;
  std::optional<std::int64_t> nodes;
  std::optional<std::int64_t> tasks;
  std::optional<std::int64_t> cpus_per_task;
  std::optional<std::string> memory;
  std::optional<std::int64_t> wall_time_minutes;
  std::optional<std::string> constraint;
  std::optional<std::string> quality_of_service;
};

struct ManagerTopology {
  std::optional<std::int64_t> nodes;
  std::optional<std::int64_t> islands;
  std::optional<bool> co_host_dim;
};

struct SlurmRemoteDeployment {
  std::string login_node;
  std::int64_t ssh_port = 22;
  std::optional<std::string> remote_user;
  std::string account;
  std::string home_dir;
  std::string log_dir;
  std::string dlg_root;
  std::string exec_prefix = "srun -l";
  std::optional<std::string> venv;
  std::optional<std::string> modules;
  std::string facility = "setonix";
  std::int64_t job_duration_minutes = 30;
  std::int64_t num_nodes = 1;
  std::int64_t num_islands = 1;
  std::int64_t verbose_level = 1;
  std::int64_t max_threads = 0;
  bool all_nics = false;
  bool zerorun = false;
  bool sleepncopy = false;
  bool check_with_session = false;
  std::optional<bool> verify_ssl;
  std::optional<std::string> slurm_template;  // template file content
  std::optional<std::string> ssh_credential;  // credential slot name, not a secret
  std::optional<SlurmResources> resources;
  std::optional<ManagerTopology> manager_topology;
  std::optional<std::string> container_runtime;
  std::optional<std::string> environment_setup;

  // Node/island/wall-time values the submit step uses: resources and topology
  // override the flat fields.
  std::int64_t effective_nodes() const;
  std::int64_t effective_islands() const;
  std::int64_t effective_wall_time_minutes() const;
};

using Deployment = std::variant<RestRemoteDeployment, SlurmRemoteDeployment>;

struct DeploymentProfile {
  std::string name;
  std::optional<std::string> description;
  std::optional<std::string> project_module;  // absent = global profile
  bool is_default = false;
  std::optional<std::int64_t> max_concurrent_executions;
  TranslationConfig translation;
  Deployment deployment = RestRemoteDeployment{};
};

struct ProfileParseResult {
  std::optional<DeploymentProfile> profile;  // set when the body was an object
  std::vector<Diagnostic> diagnostics;       // structure problems (unknown keys, types, secrets)
};

// Decodes a request body (POST/PATCH with the full body). Never throws.
ProfileParseResult parse_deployment_profile(const boost::json::value& body);
ProfileParseResult parse_deployment_profile(std::string_view json_text);

// [HEAD] rules (§1.4), all reported at once. Never throws.
std::vector<Diagnostic> validate_deployment_profile(const DeploymentProfile& profile);

// Parse + validate in one go: all diagnostics, and the profile when valid.
struct ProfileValidation {
  std::optional<DeploymentProfile> profile;  // only when there are no errors
  std::vector<Diagnostic> diagnostics;
  bool valid() const { return profile.has_value(); }
};
ProfileValidation validate_deployment_profile_body(const boost::json::value& body);
// The same for a profile as the read model pins it (with uuid, revision and spec_sha256).
ProfileValidation validate_stored_profile(boost::json::object pinned);

// Typed JSON with defaults filled (what is stored in `translation` / `deployment`).
boost::json::value to_json(const TranslationConfig& t);
boost::json::value to_json(const Deployment& d);
// {name, description, project_module, is_default, max_concurrent_executions,
//  translation, deployment} (absent optionals as null).
boost::json::value to_json(const DeploymentProfile& p);

// §12.6: sha256 of the compact sorted JSON of to_json(profile).
std::string profile_spec_sha256(const DeploymentProfile& p);

// §12.6 deployment_profile_snapshot: to_json(profile) + revision + spec_sha256.
boost::json::value profile_snapshot(const DeploymentProfile& p, std::int64_t revision);

// DIM base URL (§1.4): scheme from use_https ([HEAD]), port omitted when it is the
// scheme default (80 for http, 443 for https). nullopt without deploy_host.
std::optional<std::string> dim_base_url(const RestRemoteDeployment& d);

// remote_user fallback: profile → env SLURM_REMOTE_USER → env USER → "root".
// The caller reads the environment and passes the values in.
std::string effective_remote_user(const SlurmRemoteDeployment& d,
                                  const std::optional<std::string>& env_slurm_remote_user,
                                  const std::optional<std::string>& env_user);

}  // namespace beampipe::domain

#pragma once
// Every setting beampipe reads from its environment, in one table: the variable, its default,
// its parser and one line of documentation. The environment is parsed once, at start, into a
// typed `settings`; nothing else reads these variables. The same table renders the environment
// section of `beampipe --help`, `beampipe settings` (effective values, secrets never shown) and
// the README's Environment table (a test fails when the README and the table disagree).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "domain/admission.hpp"

namespace beampipe::app {

// One variable's value, or nullopt when it is unset. Injected so loading stays testable.
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;
env_lookup process_env();

struct settings {
  // Process and storage.
  std::string database_url;  // empty: `start` runs an embedded PostgreSQL
  std::string data_dir;      // derived when unset: $XDG_DATA_HOME/beampipe or ~/.local/share/…
  std::string home;          // derived when unset: data_dir
  std::string node_id;       // derived when unset: <hostname>-<pid>
  std::string env_file;      // the settings file read under the environment (beampipe init)
  std::string environment;   // development | production
  bool log_json = false;
  std::string log_level;
  std::chrono::seconds idle_actor{};
  int64_t append_writers = 1;
  // API.
  std::string bind_addr;
  int64_t api_threads = 8;
  int64_t max_header_bytes = 0;
  int64_t max_body_bytes = 0;
  std::chrono::seconds read_timeout{};
  int64_t max_connections = 0;
  int64_t max_streams = 0;
  int64_t stream_buffer_bytes = 0;
  std::chrono::seconds stream_heartbeat{};
  int64_t ready_max_lag = 0;
  bool metrics_server_enabled = true;
  std::string metrics_bind_addr;
  std::chrono::seconds dependency_probe_every{};
  std::chrono::seconds heartbeat_every{};
  std::chrono::seconds audit_checkpoint_every{};
  // Cluster (issue #23): empty bind address, a single node holding every stream.
  std::string cluster_bind_addr;
  int64_t cluster_shards = 64;
  std::chrono::seconds cluster_lease{};
  std::string cluster_tls_cert, cluster_tls_key, cluster_tls_ca;  // all or none
  // Access.
  std::string jwt_secret;
  std::string jwt_secret_file;
  std::chrono::minutes access_token_ttl{};
  std::chrono::hours refresh_token_ttl{};  // read in days
  std::string admin_username;
  std::string admin_password;
  std::string admin_password_file;
  std::string admin_email;
  int64_t rate_limit_requests = 0;
  std::chrono::seconds rate_limit_period{};
  std::vector<std::string> trusted_proxy_cidrs;
  bool require_rate_limiter = false;
  bool allow_default_jwt_secret = false;
  bool allow_inline_secrets = false;
  bool allow_insecure_ssh_host_keys = false;
  // Discovery.
  std::string casda_tap_url;
  std::string vizier_tap_url;
  std::optional<int64_t> tap_maxrec;
  int64_t discovery_source_concurrency = 4;
  std::string simulated_datalink_base;
  // Scheduler and shaping (§4.1).
  bool scheduler_enabled = true;
  std::chrono::seconds scheduler_interval{};
  std::chrono::milliseconds scheduler_lease{};
  std::chrono::milliseconds admission_lock_wait{};
  // WebAssembly hooks (§5.9).
  int64_t wasm_max_memory_mb = 64;
  std::chrono::milliseconds wasm_timeout{};
  std::chrono::milliseconds projection_coalesce{};
  domain::shaping_knobs shaping;
  // Executions.
  bool use_real_backends = false;
  std::chrono::milliseconds simulated_run{};
  int64_t worker_concurrency = 4;
  std::string worker_pool = "default";
  std::string worker_instance_name;
  std::chrono::seconds worker_lock{};
  int64_t worker_max_attempts = 3;
  std::chrono::milliseconds worker_retry_base{};
  std::chrono::milliseconds execution_scan{};
  std::chrono::milliseconds dim_poll_interval{};
  std::chrono::milliseconds slurm_poll_interval{};
  std::chrono::milliseconds reconcile_interval{};
  std::chrono::seconds dim_poll_budget{};
  std::chrono::seconds slurm_poll_budget{};
  std::chrono::seconds submission_timeout{};
  std::chrono::seconds dim_lookup_budget{};
  std::chrono::seconds slurm_lookup_budget{};
  int64_t cancel_attempts = 8;
  std::chrono::seconds redeploy_grace{};
  std::vector<std::string> graph_url_allow;
  std::string fault_inject;
  // Slurm over SSH.
  std::string slurm_ssh_private_key_file;
  std::string slurm_ssh_passphrase_file;
  std::string slurm_ssh_known_hosts_source;
  bool slurm_ssh_strict_known_hosts = true;
  std::string ssh_credentials_dir;
  std::string slurm_remote_user;
  std::string askapsoft_sif;
  // CASDA staging.
  std::string casda_username;
  std::string casda_password;
  std::string casda_password_file;
  std::string casda_login_url;
  bool casda_stage_by_sbid = true;
  std::vector<std::string> casda_credential_hosts;
  std::chrono::milliseconds casda_poll_interval{};
  // Alerts.
  std::chrono::milliseconds alert_scan{};
  std::chrono::seconds alert_evaluate_every{};
  int64_t alert_delivery_max_attempts = 8;
  std::chrono::seconds alert_backoff{};
  std::chrono::seconds alert_backoff_cap{};
  std::chrono::milliseconds alert_webhook_timeout{};
  std::string alert_ca_file;
  std::chrono::hours alert_trigger_lookback{};

  bool production() const { return environment == "production"; }
};

// How `beampipe settings` shows a value: as is, only whether it is set, or a URL without its
// credentials and query.
enum class shown_as { value, secret, url };

struct setting {
  std::string_view name;
  std::string_view fallback;  // the default, as text its parser reads; empty: unset
  std::string_view shown;     // the default as documented when it is derived, not a literal
  std::string_view doc;
  shown_as show = shown_as::value;
  // Spec §4.1: a bad shaping knob is reported and keeps its default; every other bad value
  // stops the start.
  bool lenient = false;
  std::function<void(settings&, std::string_view)> parse;  // throws std::invalid_argument
  std::function<std::string(const settings&)> text;        // the effective value, as text
};

const std::vector<setting>& setting_table();

// Every problem of one load, each naming its variable.
struct settings_error : std::invalid_argument {
  explicit settings_error(std::vector<std::string> problems);
  std::vector<std::string> problems;
};

struct loaded_settings {
  settings values;
  std::vector<std::string> warnings;  // lenient values that kept their default
};

// Defaults, then the environment, then `overrides` (command-line options, by variable name);
// blank values count as unset. Throws settings_error listing every bad value.
loaded_settings load_settings(const env_lookup& env,
                              const std::map<std::string, std::string>& overrides = {});

// Variables in `environ` that are not settings but one or two letters away from one: a typo
// would otherwise keep the default silently. (Other BEAMPIPE_* names belong to the build and
// test scripts, so they are not reported.) name → the setting it is probably meant to be.
std::vector<std::pair<std::string, std::string>> misspelt_variables(char** environ);

// "  NAME  default — meaning" lines for `beampipe --help`.
std::string help_text();
// The README's Environment table, exactly.
std::string markdown_table();
// name → effective value (secrets as "set"), and where it came from (default, environment,
// option), for `beampipe settings`.
struct effective_setting {
  std::string name;
  std::string value;
  std::string origin;
};
std::vector<effective_setting> effective(const settings& s, const env_lookup& env,
                                         const std::map<std::string, std::string>& overrides,
                                         const std::map<std::string, std::string>& file = {});

// A settings file (`beampipe init` writes one; BEAMPIPE_ENV_FILE or --env-file names it):
// NAME=value lines, '#' comments and blank lines, a value optionally in ' or " quotes. Only
// setting names, each once; BEAMPIPE_ENV_FILE itself is not one. Throws settings_error naming
// the file and line of every problem.
struct env_file {
  std::map<std::string, std::string> values;
  std::vector<std::string> warnings;  // e.g. a secret in a file others can read
};
env_file read_env_file(const std::string& path);
// `env` first; what it leaves unset (or blank) comes from the file.
env_lookup with_env_file(env_lookup env, std::map<std::string, std::string> file);

}  // namespace beampipe::app

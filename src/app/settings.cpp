#include "app/settings.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>

#include "archive/simulated.hpp"
#include "util/input_rules.hpp"
#include "util/redact.hpp"

namespace beampipe::app {
namespace {

template <class T>
using member = T settings::*;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int64_t parse_integer(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  auto range = [&] {
    return "an integer from " + std::to_string(min) +
           (max == INT64_MAX ? std::string(" up") : " to " + std::to_string(max));
  };
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    throw std::invalid_argument("must be " + range());
  return v;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out.append(out.empty() ? "" : ",").append(i);
  return out;
}

// Comma- or space-separated; empty items dropped.
std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::string item;
  for (char ch : std::string(text) + ",") {
    if (ch == ',' || ch == ' ') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item.push_back(ch);
    }
  }
  return out;
}

// A setting shown as its value, with a literal default.
setting plain(std::string_view name, std::string_view fallback, std::string_view doc,
              std::function<void(settings&, std::string_view)> parse,
              std::function<std::string(const settings&)> text) {
  return {name, fallback, "", doc, shown_as::value, false, std::move(parse), std::move(text)};
}

setting text(std::string_view name, member<std::string> m, std::string_view fallback,
             std::string_view doc, shown_as show = shown_as::value, std::string_view shown = "") {
  auto out = plain(
      name, fallback, doc, [m](settings& s, std::string_view v) { s.*m = std::string(v); },
      [m](const settings& s) { return s.*m; });
  out.show = show;
  out.shown = shown;
  return out;
}

// A short name an operator groups by: 1..64 of A-Z a-z 0-9 . _ - (empty allowed when optional).
setting short_name(std::string_view name, member<std::string> m, std::string_view fallback,
                   bool optional, std::string_view doc) {
  auto parse = [m, optional](settings& s, std::string_view v) {
    if (!(optional && v.empty()) && !util::is_short_name(v))
      throw std::invalid_argument("must be 1 to 64 of A-Z a-z 0-9 . _ -");
    s.*m = std::string(v);
  };
  return plain(name, fallback, doc, parse, [m](const settings& s) { return s.*m; });
}

setting choice(std::string_view name, member<std::string> m, std::string_view fallback,
               std::vector<std::string> options, std::string_view doc) {
  auto parse = [m, options](settings& s, std::string_view v) {
    auto l = lower(v);
    if (std::find(options.begin(), options.end(), l) == options.end())
      throw std::invalid_argument("must be one of " + join(options));
    s.*m = l;
  };
  return plain(name, fallback, doc, parse, [m](const settings& s) { return s.*m; });
}

setting flag(std::string_view name, member<bool> m, std::string_view fallback,
             std::string_view doc) {
  auto parse = [m](settings& s, std::string_view v) {
    auto l = lower(v);
    if (l == "1" || l == "true" || l == "yes" || l == "on")
      s.*m = true;
    else if (l == "0" || l == "false" || l == "no" || l == "off")
      s.*m = false;
    else
      throw std::invalid_argument("must be true or false");
  };
  return plain(name, fallback, doc, parse,
               [m](const settings& s) { return std::string(s.*m ? "true" : "false"); });
}

setting integer(std::string_view name, member<int64_t> m, std::string_view fallback, int64_t min,
                int64_t max, std::string_view doc) {
  return plain(
      name, fallback, doc,
      [=](settings& s, std::string_view v) { s.*m = parse_integer(v, min, max); },
      [m](const settings& s) { return std::to_string(s.*m); });
}

// A §4.1 shaping knob: a non-negative integer; a bad one is reported and keeps its default.
setting knob(std::string_view name, int64_t domain::shaping_knobs::*m, std::string_view fallback,
             std::string_view doc) {
  auto out = plain(
      name, fallback, doc,
      [m](settings& s, std::string_view v) { s.shaping.*m = parse_integer(v, 0, INT64_MAX); },
      [m](const settings& s) { return std::to_string(s.shaping.*m); });
  out.lenient = true;
  return out;
}

// A duration in the unit its variable is named for (…_MS, …_SECONDS, …); `per` converts a unit
// the type does not have (days read into hours).
template <class D>
setting duration(std::string_view name, member<D> m, std::string_view fallback, int64_t min,
                 int64_t max, std::string_view doc, int64_t per = 1) {
  return plain(
      name, fallback, doc,
      [=](settings& s, std::string_view v) { s.*m = D(parse_integer(v, min, max) * per); },
      [=](const settings& s) { return std::to_string((s.*m).count() / per); });
}

setting list(std::string_view name, member<std::vector<std::string>> m, std::string_view shown,
             std::string_view doc, bool lowercase = false) {
  auto out = plain(
      name, "", doc,
      [=](settings& s, std::string_view v) { s.*m = split_list(lowercase ? lower(v) : v); },
      [m](const settings& s) { return join(s.*m); });
  out.shown = shown;
  return out;
}

constexpr int64_t kMax = INT64_MAX;
constexpr int64_t kDay = 86'400;

std::vector<setting> build_table() {
  using S = settings;
  std::vector<setting> t;
  // Process and storage.
  t.push_back(text("DATABASE_URL", &S::database_url, "",
                   "libpq URL or conninfo; unset → `start` runs an embedded PostgreSQL",
                   shown_as::secret));
  t.push_back(text("BEAMPIPE_BIND_ADDR", &S::bind_addr, "127.0.0.1:8080",
                   "API listen address (`:0` picks a free port)"));
  t.push_back(text("BEAMPIPE_DATA_DIR", &S::data_dir, "", "embedded database folder",
                   shown_as::value, "`$XDG_DATA_HOME/beampipe` or `~/.local/share/beampipe`"));
  t.push_back(text("BEAMPIPE_HOME", &S::home, "",
                   "`graph.path` must name a regular file under it (after resolving links); "
                   "`start --demo` writes its graph here",
                   shown_as::value, "the data folder (`BEAMPIPE_DATA_DIR`)"));
  t.push_back(text("BEAMPIPE_ENV_FILE", &S::env_file, "",
                   "a file of `NAME=value` settings (`beampipe init` writes one), read under the "
                   "environment: a variable that is set wins; also `--env-file`"));
  t.push_back(text("BEAMPIPE_NODE_ID", &S::node_id, "", "recorded in every event's metadata",
                   shown_as::value, "`<host>-<pid>`"));
  t.push_back(choice("BEAMPIPE_ENV", &S::environment, "development", {"development", "production"},
                     "`production` turns on the security gates (see `beampipe security check`)"));
  t.push_back(flag("BEAMPIPE_LOG_JSON", &S::log_json, "false", "JSON lines on stderr"));
  t.push_back(choice("BEAMPIPE_LOG_LEVEL", &S::log_level, "info",
                     {"trace", "debug", "info", "warn", "error", "critical", "off"},
                     "least severe level logged"));
  t.push_back(duration("BEAMPIPE_IDLE_ACTOR_SECONDS", &S::idle_actor, "300", 1, kDay,
                       "idle aggregates are passivated after this"));
  t.push_back(integer("BEAMPIPE_APPEND_WRITERS", &S::append_writers, "1", 1, 64,
                      "group-commit connections; streams are sharded over them (on 2 cores one "
                      "is faster)"));
  // API.
  t.push_back(integer("BEAMPIPE_API_THREADS", &S::api_threads, "8", 1, 256, "API handler threads"));
  t.push_back(integer("BEAMPIPE_MAX_HEADER_BYTES", &S::max_header_bytes, "8192", 1024, 1 << 20,
                      "larger request headers get 431"));
  t.push_back(integer("BEAMPIPE_MAX_BODY_BYTES", &S::max_body_bytes, "1048576", 1024, 1LL << 30,
                      "larger request bodies get 413"));
  t.push_back(duration("BEAMPIPE_READ_TIMEOUT_SECONDS", &S::read_timeout, "30", 1, kDay,
                       "per-read deadline on a connection"));
  t.push_back(integer("BEAMPIPE_MAX_CONNECTIONS", &S::max_connections, "512", 1, 1 << 20,
                      "open API connections at most (never more than the open-file limit minus "
                      "128); at the cap new clients wait in the listen backlog until one closes"));
  t.push_back(integer("BEAMPIPE_MAX_STREAMS", &S::max_streams, "100", 1, 100000,
                      "open event streams (GET /events/stream) at most per process; 503 past it"));
  t.push_back(integer("BEAMPIPE_STREAM_BUFFER_BYTES", &S::stream_buffer_bytes, "1048576", 4096,
                      1 << 30,
                      "bytes an event stream holds for a client that reads slower than events "
                      "come; past it the client is told where to resume and closed"));
  t.push_back(duration("BEAMPIPE_STREAM_HEARTBEAT_SECONDS", &S::stream_heartbeat, "15", 1, 3600,
                       "a comment on an event stream that had nothing to say this long"));
  t.push_back(integer("BEAMPIPE_READY_MAX_LAG", &S::ready_max_lag, "10000", 0, kMax,
                      "`/ready` answers 503 when projections lag more events than this"));
  t.push_back(flag("BEAMPIPE_METRICS_SERVER_ENABLED", &S::metrics_server_enabled, "true",
                   "serve `GET /metrics` on its own listener"));
  t.push_back(text("BEAMPIPE_METRICS_BIND_ADDR", &S::metrics_bind_addr, "127.0.0.1:9090",
                   "the metrics listener's address"));
  t.push_back(duration("BEAMPIPE_DEPENDENCY_PROBE_SECONDS", &S::dependency_probe_every, "60", 0,
                       kDay,
                       "how often PostgreSQL, TAP and (with real backends) TM/DIM/Slurm are "
                       "probed; `0`: never"));
  t.push_back(duration("BEAMPIPE_AUDIT_CHECKPOINT_SECONDS", &S::audit_checkpoint_every, "600", 0,
                       kDay,
                       "how often a node records an audit checkpoint over the finished history "
                       "(`beampipe audit verify`); `0`: only `beampipe audit checkpoint`"));
  t.push_back(duration("BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS", &S::heartbeat_every, "10", 1,
                       3600, "node heartbeat; a node is alive within three intervals"));
  t.push_back(text("BEAMPIPE_CLUSTER_BIND_ADDR", &S::cluster_bind_addr, "",
                   "host:port of this node in a cluster; set, the node holds a share of the "
                   "stream shards under leases and appends only to those; unset: a single node "
                   "holding every stream"));
  t.push_back(integer("BEAMPIPE_CLUSTER_SHARDS", &S::cluster_shards, "64", 1, 4096,
                      "shards the streams map to; the same on every node of a cluster"));
  t.push_back(duration("BEAMPIPE_CLUSTER_LEASE_SECONDS", &S::cluster_lease, "10", 2, 600,
                       "a shard lease's length: a node that stops renewing loses its shards "
                       "this long after its last renewal"));
  t.push_back(text("BEAMPIPE_CLUSTER_TLS_CERT", &S::cluster_tls_cert, "",
                   "PEM certificate (chain) this node shows the other members; with _KEY and "
                   "_CA, members talk over mutually authenticated TLS (required in production)"));
  t.push_back(text("BEAMPIPE_CLUSTER_TLS_KEY", &S::cluster_tls_key, "",
                   "PEM private key of BEAMPIPE_CLUSTER_TLS_CERT (unencrypted; keep it 0600)"));
  t.push_back(text("BEAMPIPE_CLUSTER_TLS_CA", &S::cluster_tls_ca, "",
                   "PEM file of the CA certificates a member's certificate must chain to"));
  // Access.
  t.push_back(text("BEAMPIPE_JWT_SECRET", &S::jwt_secret, "",
                   "signs access tokens (HS256); unset (and no file): a random 256-bit secret "
                   "generated once and kept in the database",
                   shown_as::secret));
  t.push_back(text("BEAMPIPE_JWT_SECRET_FILE", &S::jwt_secret_file, "",
                   "a file whose first line is the token signing secret"));
  t.push_back(duration("BEAMPIPE_ACCESS_TOKEN_EXPIRE_MINUTES", &S::access_token_ttl, "30", 1,
                       kMax / 60, "access token lifetime"));
  t.push_back(duration("BEAMPIPE_REFRESH_TOKEN_EXPIRE_DAYS", &S::refresh_token_ttl, "7", 1, 3650,
                       "refresh token lifetime", 24));
  t.push_back(text("BEAMPIPE_ADMIN_USERNAME", &S::admin_username, "",
                   "the first superuser, created at start when no user exists yet"));
  t.push_back(text("BEAMPIPE_ADMIN_PASSWORD", &S::admin_password, "",
                   "its password (stored only as an Argon2id hash, never in events or logs)",
                   shown_as::secret));
  t.push_back(text("BEAMPIPE_ADMIN_PASSWORD_FILE", &S::admin_password_file, "",
                   "a file holding that password (production wants this, not the inline one)"));
  t.push_back(text("BEAMPIPE_ADMIN_EMAIL", &S::admin_email, "", "its email address"));
  t.push_back(integer("BEAMPIPE_RATE_LIMIT_REQUESTS", &S::rate_limit_requests, "10", 0, kMax,
                      "requests per client and rate-limited route per window (`0`: no limits)"));
  t.push_back(duration("BEAMPIPE_RATE_LIMIT_PERIOD_SECONDS", &S::rate_limit_period, "3600", 1, kDay,
                       "the rate limit's window"));
  t.push_back(list("BEAMPIPE_TRUSTED_PROXY_CIDRS", &S::trusted_proxy_cidrs, "",
                   "proxies whose `X-Forwarded-For` names the client (comma-separated addresses "
                   "or CIDRs)"));
  t.push_back(flag("BEAMPIPE_REQUIRE_RATE_LIMITER", &S::require_rate_limiter, "false",
                   "`true`: 503 when the limiter's database is unusable (always so in "
                   "production)"));
  t.push_back(flag("BEAMPIPE_ALLOW_DEFAULT_JWT_SECRET", &S::allow_default_jwt_secret, "false",
                   "break glass: production starts with the database's generated secret"));
  t.push_back(flag("BEAMPIPE_ALLOW_INLINE_SECRETS", &S::allow_inline_secrets, "false",
                   "break glass: production starts with `CASDA_PASSWORD` or "
                   "`BEAMPIPE_ADMIN_PASSWORD` set inline"));
  t.push_back(flag("BEAMPIPE_ALLOW_INSECURE_SSH_HOST_KEYS", &S::allow_insecure_ssh_host_keys,
                   "false", "break glass: production starts without strict SSH host keys"));
  // Discovery.
  t.push_back(text("BEAMPIPE_CASDA_TAP_URL", &S::casda_tap_url, "",
                   "CASDA's TAP service; unset with `BEAMPIPE_VIZIER_TAP_URL`: the simulated "
                   "archive",
                   shown_as::url));
  t.push_back(text("BEAMPIPE_VIZIER_TAP_URL", &S::vizier_tap_url, "", "VizieR's TAP service",
                   shown_as::url));
  t.push_back(plain(
      "BEAMPIPE_TAP_MAXREC", "",
      "MAXREC on every TAP query; a capped result is recorded as truncated",
      [](settings& s, std::string_view v) { s.tap_maxrec = parse_integer(v, 1, kMax); },
      [](const settings& s) {
        return s.tap_maxrec ? std::to_string(*s.tap_maxrec) : std::string();
      }));
  t.push_back(integer("BEAMPIPE_DISCOVERY_SOURCE_CONCURRENCY", &S::discovery_source_concurrency,
                      "4", 1, 256, "sources discovered at once"));
  t.push_back(text("BEAMPIPE_SIMULATED_DATALINK_BASE", &S::simulated_datalink_base,
                   archive::simulated_archive::kDefaultDatalinkBase,
                   "where the simulated archive's DataLink URLs point"));
  // Scheduler.
  t.push_back(flag("BEAMPIPE_SCHEDULER_ENABLED", &S::scheduler_enabled, "true",
                   "take part in the scheduler election (one leader per database)"));
  t.push_back(duration("BEAMPIPE_SCHEDULER_INTERVAL_SECONDS", &S::scheduler_interval, "60", 1, kDay,
                       "tick interval of the elected scheduler (first tick at election)"));
  t.push_back(duration("BEAMPIPE_SCHEDULER_LEASE_MS", &S::scheduler_lease, "30000", 300,
                       kDay * 1000, "scheduler lease; a stand-by takes over once it expires"));
  t.push_back(duration("BEAMPIPE_ADMISSION_LOCK_WAIT_MS", &S::admission_lock_wait, "30000", 100,
                       600000,
                       "longest wait for the cluster-wide execution admission lock (then 503 "
                       "admission_busy)"));
  t.push_back(integer("BEAMPIPE_WASM_MAX_MEMORY_MB", &S::wasm_max_memory_mb, "64", 1, 4095,
                      "memory cap of a WebAssembly hook's module (its declared maximum is lowered "
                      "to this)"));
  t.push_back(duration("BEAMPIPE_WASM_TIMEOUT_MS", &S::wasm_timeout, "2000", 10, 600000,
                       "time limit of one WebAssembly hook call (then it is stopped)"));
  t.push_back(duration("BEAMPIPE_PROJECTION_COALESCE_MS", &S::projection_coalesce, "5", 0, 1000,
                       "while commits keep coming and no read waits for them, the least time "
                       "between two steps of a read model group (one step then applies them all; "
                       "0: step on every commit)"));
  using K = domain::shaping_knobs;
  t.push_back(knob(domain::kEnvDiscoveryMaxInFlightBatches, &K::discovery_max_in_flight_batches,
                   "4", "live discovery claims at most, all projects (§4.1)"));
  t.push_back(knob(domain::kEnvDiscoveryMaxBatchesPerTick, &K::discovery_max_batches_per_tick, "4",
                   "discovery batches per tick when the project sets no limit"));
  t.push_back(knob(domain::kEnvExecutionMaxInFlightRuns, &K::execution_max_in_flight_runs, "2",
                   "active executions at most, all projects"));
  t.push_back(knob(domain::kEnvQueueMaxDepth, &K::queue_max_depth, "200",
                   "queued jobs (deferred and recurring too) past which ticks admit nothing"));
  t.push_back(knob(domain::kEnvEnqueuePacingMs, &K::enqueue_pacing_ms, "0",
                   "pause after each enqueued job"));
  // Executions.
  t.push_back(flag("BEAMPIPE_USE_REAL_BACKENDS", &S::use_real_backends, "false",
                   "`true`: executions go to the profile's real TM/DIM or Slurm login node; "
                   "otherwise the simulated DIM/Slurm run them"));
  t.push_back(duration("BEAMPIPE_SIMULATED_RUN_MS", &S::simulated_run, "20000", 0, kDay * 1000,
                       "how long a simulated DALiuGE/Slurm run takes"));
  t.push_back(integer("BEAMPIPE_WORKER_CONCURRENCY", &S::worker_concurrency, "4", 1, 256,
                      "execution steps a process runs at once"));
  t.push_back(short_name("BEAMPIPE_WORKER_POOL", &S::worker_pool, "default", false,
                         "the pool this process's worker is listed in (GET /workers/pools)"));
  t.push_back(short_name("BEAMPIPE_WORKER_INSTANCE_NAME", &S::worker_instance_name, "", true,
                         "a name for this process's worker in GET /workers"));
  t.push_back(duration("BEAMPIPE_WORKER_LOCK_SECONDS", &S::worker_lock, "120", 1, kDay,
                       "job lease; renewed every third of it; a lease left to expire is "
                       "recovered by another worker"));
  t.push_back(integer("BEAMPIPE_WORKER_MAX_ATTEMPTS", &S::worker_max_attempts, "3", 1, 1000,
                      "attempts per job before the dead letter (an operator's requeue starts a "
                      "new round)"));
  t.push_back(duration("BEAMPIPE_WORKER_RETRY_BASE_MS", &S::worker_retry_base, "15000", 0,
                       3'600'000,
                       "base of the retry backoff: `min(3600 s, base·2^(attempt−1) + jitter)`, "
                       "jitter from the job id"));
  t.push_back(duration("BEAMPIPE_EXECUTION_SCAN_MS", &S::execution_scan, "500", 1, 3'600'000,
                       "how often the execution worker looks for work"));
  t.push_back(duration("BEAMPIPE_DIM_POLL_INTERVAL_MS", &S::dim_poll_interval, "3000", 1, 3'600'000,
                       "DIM session polling interval"));
  t.push_back(duration("BEAMPIPE_SLURM_POLL_INTERVAL_MS", &S::slurm_poll_interval, "30000", 1,
                       3'600'000,
                       "Slurm polling interval (one SSH session per login node polls every "
                       "job)"));
  t.push_back(duration("BEAMPIPE_RECONCILE_INTERVAL_MS", &S::reconcile_interval, "30000", 1,
                       3'600'000, "name lookups of uncertain submissions"));
  t.push_back(duration("BEAMPIPE_DIM_POLL_BUDGET_SECONDS", &S::dim_poll_budget, "720", 0,
                       kDay * 365,
                       "past this a DALiuGE run is flagged for an operator "
                       "(`poll_budget_exhausted`), still polled, not failed"));
  t.push_back(duration("BEAMPIPE_SLURM_POLL_BUDGET_SECONDS", &S::slurm_poll_budget, "14400", 0,
                       kDay * 365, "the same for a Slurm run"));
  t.push_back(duration("BEAMPIPE_WORKER_SUBMISSION_TIMEOUT_SECONDS", &S::submission_timeout, "1800",
                       1, kDay * 30, "submission deadline recorded with the intent"));
  t.push_back(duration("BEAMPIPE_DIM_LOOKUP_BUDGET_SECONDS", &S::dim_lookup_budget, "3600", 0,
                       kDay * 365,
                       "after the submission deadline, how long name lookups may find nothing "
                       "before the run is flagged `lookup_budget_exhausted` and may be "
                       "abandoned"));
  t.push_back(duration("BEAMPIPE_SLURM_LOOKUP_BUDGET_SECONDS", &S::slurm_lookup_budget, "3600", 0,
                       kDay * 365, "the same for a Slurm run"));
  t.push_back(integer("BEAMPIPE_CANCEL_ATTEMPTS", &S::cancel_attempts, "8", 1, 100,
                      "unconfirmed cancel attempts (3 s doubling to 5 min) before the cancel is "
                      "withdrawn (`cancel_unconfirmed`)"));
  t.push_back(duration("BEAMPIPE_REDEPLOY_GRACE_SECONDS", &S::redeploy_grace, "45", 1, kDay,
                       "after the one recorded redeploy of a DALiuGE session found not deployed, "
                       "how long it may still show BUILDING before the run fails"));
  t.push_back(list("BEAMPIPE_GRAPH_URL_ALLOW", &S::graph_url_allow, "unset (any host)",
                   "hosts (or `host:port`) `graph.url` may fetch from; production refuses "
                   "loopback and link-local targets not named here; redirects are not "
                   "followed"));
  t.push_back(choice("BEAMPIPE_FAULT_INJECT", &S::fault_inject, "",
                     {"kill_after_dispatch", "kill_during_prepare"},
                     "tests only: kill the process after a backend accepted a submission, "
                     "before its receipt is recorded (or while a run is prepared)"));
  // Slurm over SSH.
  t.push_back(text("SLURM_SSH_PRIVATE_KEY_FILE", &S::slurm_ssh_private_key_file, "",
                   "Slurm login key (refused when group/world readable)", shown_as::value,
                   "`~/.ssh/id_ed25519`, `~/.ssh/id_rsa`"));
  t.push_back(text("SLURM_SSH_PRIVATE_KEY_PASSPHRASE_FILE", &S::slurm_ssh_passphrase_file, "",
                   "its passphrase"));
  t.push_back(text("SLURM_SSH_KNOWN_HOSTS_SOURCE", &S::slurm_ssh_known_hosts_source, "",
                   "pinned host keys; an unknown or changed key is refused", shown_as::value,
                   "`~/.ssh/known_hosts`"));
  t.push_back(flag("BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS", &S::slurm_ssh_strict_known_hosts,
                   "true", "`false` accepts unknown (never changed) host keys"));
  t.push_back(text("BEAMPIPE_SSH_CREDENTIALS_DIR", &S::ssh_credentials_dir, "",
                   "per-profile slots: `<dir>/<ssh_credential>/{private_key,known_hosts,"
                   "passphrase}`"));
  t.push_back(text("SLURM_REMOTE_USER", &S::slurm_remote_user, "",
                   "remote user when the profile names none", shown_as::value, "`$USER`"));
  t.push_back(text(
      "BEAMPIPE_ASKAPSOFT_SIF", &S::askapsoft_sif, "",
      "the ASKAPsoft Singularity image, exported to Slurm jobs whose profile's environment setup "
      "names it"));
  // CASDA staging.
  t.push_back(text("CASDA_USERNAME", &S::casda_username, "",
                   "CASDA staging user (real backends, `do_stage`)"));
  t.push_back(text("CASDA_PASSWORD", &S::casda_password, "", "its password (prefer the file)",
                   shown_as::secret));
  t.push_back(text("CASDA_PASSWORD_FILE", &S::casda_password_file, "",
                   "a file holding the CASDA password"));
  t.push_back(text("CASDA_LOGIN_URL", &S::casda_login_url, "", "staging login probe", shown_as::url,
                   "CASDA's TAP availability endpoint"));
  t.push_back(flag("CASDA_STAGE_BY_SBID", &S::casda_stage_by_sbid, "true",
                   "one SODA job per SBID (else one for all)"));
  t.push_back(list("CASDA_CREDENTIAL_HOSTS", &S::casda_credential_hosts, "the login URL's host",
                   "other hosts the CASDA credentials may go to; DataLink URLs from archive "
                   "metadata that name any other host, or plain http to a non-loopback host, "
                   "are refused",
                   true));
  t.push_back(duration("BEAMPIPE_CASDA_POLL_INTERVAL_MS", &S::casda_poll_interval, "10000", 1,
                       3'600'000, "how often a CASDA staging (SODA) job is polled"));
  // Alerts.
  t.push_back(duration("BEAMPIPE_ALERT_SCAN_MS", &S::alert_scan, "1000", 50, 3'600'000,
                       "how often the alert worker looks for events and due deliveries"));
  t.push_back(duration("BEAMPIPE_ALERT_EVALUATOR_INTERVAL_SECONDS", &S::alert_evaluate_every, "60",
                       1, kDay, "periodic alert rules are evaluated this often"));
  t.push_back(integer("BEAMPIPE_ALERT_DELIVERY_MAX_ATTEMPTS", &S::alert_delivery_max_attempts, "8",
                      1, 1000, "attempts per alert delivery before it is given up"));
  t.push_back(duration("BEAMPIPE_ALERT_DELIVERY_BACKOFF_SECONDS", &S::alert_backoff, "30", 1, kDay,
                       "first retry delay of a delivery, doubling"));
  t.push_back(duration("BEAMPIPE_ALERT_DELIVERY_BACKOFF_MAX_SECONDS", &S::alert_backoff_cap, "3600",
                       1, kDay, "the longest retry delay"));
  t.push_back(duration("BEAMPIPE_ALERT_WEBHOOK_TIMEOUT_MS", &S::alert_webhook_timeout, "10000", 100,
                       600'000, "deadline of one webhook or SMTP delivery"));
  t.push_back(text("BEAMPIPE_ALERT_CA_FILE", &S::alert_ca_file, "",
                   "extra CA certificates for HTTPS webhooks and SMTP over TLS"));
  t.push_back(duration("BEAMPIPE_ALERT_TRIGGER_LOOKBACK_HOURS", &S::alert_trigger_lookback, "24", 1,
                       24 * 365, "failed runs older than this are not alerted"));
  return t;
}

std::string data_dir_default(const env_lookup& env) {
  auto get = [&](const char* n) { return env(n).value_or(""); };
  if (auto x = get("XDG_DATA_HOME"); !x.empty()) return x + "/beampipe";
  if (auto h = get("HOME"); !h.empty()) return h + "/.local/share/beampipe";
  return "/var/lib/beampipe/data";
}

std::string host_and_pid() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

std::string shown_default(const setting& s) {
  if (!s.shown.empty()) return std::string(s.shown);
  if (s.fallback.empty()) return "unset";
  return "`" + std::string(s.fallback) + "`";
}

}  // namespace

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

const std::vector<setting>& setting_table() {
  static const std::vector<setting> table = build_table();
  return table;
}

namespace {
std::string problems_text(const std::vector<std::string>& problems) {
  std::string out = "invalid settings:";
  for (const auto& p : problems) out.append("\n  ").append(p);
  return out;
}
}  // namespace

settings_error::settings_error(std::vector<std::string> p)
    : std::invalid_argument(problems_text(p)), problems(std::move(p)) {}

loaded_settings load_settings(const env_lookup& env,
                              const std::map<std::string, std::string>& overrides) {
  loaded_settings out;
  auto& s = out.values;
  std::vector<std::string> problems;
  for (const auto& entry : setting_table()) {
    if (!entry.fallback.empty()) entry.parse(s, entry.fallback);
    const std::string name(entry.name);
    std::optional<std::string> raw;
    if (auto o = overrides.find(name); o != overrides.end())
      raw = o->second;
    else if (env)
      raw = env(name);
    if (!raw) continue;
    auto value = trim(*raw);
    if (value.empty()) continue;  // blank = unset
    if (util::text_problem(*raw, util::text_kind::text)) {
      problems.push_back(name + " holds control characters or invalid UTF-8");
      continue;
    }
    try {
      entry.parse(s, value);
    } catch (const std::invalid_argument& e) {
      // The value is echoed back only when it is not a secret.
      auto message = name + " " + e.what() + ", got " +
                     (entry.show == shown_as::value ? "'" + std::string(value) + "'"
                                                    : std::string("a secret value"));
      if (entry.lenient)
        out.warnings.push_back(message + "; using the default " + std::string(entry.fallback));
      else
        problems.push_back(message);
    }
  }
  // The cluster's TLS is all or nothing: half of it would silently fall back to plain TCP.
  int tls_parts =
      !s.cluster_tls_cert.empty() + !s.cluster_tls_key.empty() + !s.cluster_tls_ca.empty();
  if (tls_parts != 0 && tls_parts != 3)
    problems.push_back(
        "BEAMPIPE_CLUSTER_TLS_CERT, BEAMPIPE_CLUSTER_TLS_KEY and BEAMPIPE_CLUSTER_TLS_CA go "
        "together: set all three or none");
  else if (tls_parts == 3 && s.cluster_bind_addr.empty())
    problems.push_back("BEAMPIPE_CLUSTER_TLS_* is set but BEAMPIPE_CLUSTER_BIND_ADDR is not");
  if (!problems.empty()) throw settings_error(std::move(problems));
  if (s.data_dir.empty()) s.data_dir = data_dir_default(env);
  if (s.home.empty()) s.home = s.data_dir;
  if (s.node_id.empty()) s.node_id = host_and_pid();
  return out;
}

namespace {
// Levenshtein distance, stopping early once it exceeds `limit`.
size_t edit_distance(std::string_view a, std::string_view b, size_t limit) {
  if ((a.size() > b.size() ? a.size() - b.size() : b.size() - a.size()) > limit) return limit + 1;
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0], best = ++row[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
      best = std::min(best, row[j]);
    }
    if (best > limit) return limit + 1;
  }
  return row[b.size()];
}
}  // namespace

std::vector<std::pair<std::string, std::string>> misspelt_variables(char** environ_) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto& table = setting_table();
  for (char** e = environ_; e && *e; ++e) {
    std::string_view entry(*e);
    auto name = entry.substr(0, entry.find('='));
    if (std::any_of(table.begin(), table.end(), [&](const setting& s) { return s.name == name; }))
      continue;
    for (const auto& s : table)
      if (edit_distance(name, s.name, 2) <= 2) {
        out.emplace_back(name, s.name);
        break;
      }
  }
  return out;
}

std::string help_text() {
  std::string out;
  for (const auto& s : setting_table()) {
    std::string line = "  " + std::string(s.name);
    line.append(line.size() < 46 ? 46 - line.size() : 1, ' ');
    auto def = shown_default(s);
    def.erase(std::remove(def.begin(), def.end(), '`'), def.end());
    out.append(line).append(def).append("\n      ").append(s.doc).append("\n");
  }
  return out;
}

std::string markdown_table() {
  std::string out = "| variable | default | meaning |\n|---|---|---|\n";
  for (const auto& s : setting_table())
    out.append("| `")
        .append(s.name)
        .append("` | ")
        .append(shown_default(s))
        .append(" | ")
        .append(s.doc)
        .append(" |\n");
  return out;
}

std::vector<effective_setting> effective(const settings& s, const env_lookup& env,
                                         const std::map<std::string, std::string>& overrides,
                                         const std::map<std::string, std::string>& file) {
  std::vector<effective_setting> out;
  for (const auto& entry : setting_table()) {
    const std::string name(entry.name);
    std::string origin = "default";
    if (overrides.count(name) && !trim(overrides.at(name)).empty())
      origin = "option";
    else if (auto v = env ? env(name) : std::nullopt; v && !trim(*v).empty())
      origin = "environment";
    else if (auto f = file.find(name); f != file.end() && !trim(f->second).empty())
      origin = "file";
    auto value = entry.text(s);
    if (entry.show == shown_as::secret)
      value = value.empty() ? "" : "(set)";
    else if (entry.show == shown_as::url && !value.empty())
      value = util::redact_url(value);
    out.push_back({name, value, origin});
  }
  return out;
}

env_file read_env_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw settings_error({path + ": cannot read the settings file"});
  env_file out;
  std::vector<std::string> problems;
  std::set<std::string> secrets;
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    auto where = path + ":" + std::to_string(no) + ": ";
    if (no > 10000 || line.size() > 64 * 1024) {
      problems.push_back(where + "the file is too large for a settings file");
      break;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (util::text_problem(line, util::text_kind::text)) {
      problems.push_back(where + "holds control characters or invalid UTF-8");
      continue;
    }
    auto t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    if (t.rfind("export ", 0) == 0) t = trim(t.substr(7));
    auto eq = t.find('=');
    if (eq == std::string_view::npos) {
      problems.push_back(where + "expected NAME=value");
      continue;
    }
    std::string name(trim(t.substr(0, eq)));
    std::string value(trim(t.substr(eq + 1)));
    const setting* entry = nullptr;
    for (const auto& e : setting_table())
      if (e.name == name) entry = &e;
    if (!entry || name == "BEAMPIPE_ENV_FILE") {
      problems.push_back(where + "'" + name + "' is not a setting a file can hold");
      continue;
    }
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    if (!out.values.emplace(name, value).second) {
      problems.push_back(where + name + " is set twice");
      continue;
    }
    if (entry->show == shown_as::secret && !value.empty()) secrets.insert(name);
  }
  if (!problems.empty()) throw settings_error(std::move(problems));
  // A secret written into the file is only as safe as the file.
  struct stat st {};
  if (!secrets.empty() && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
    std::string names;
    for (const auto& n : secrets) names += (names.empty() ? "" : ", ") + n;
    out.warnings.push_back(path + " holds " + names +
                           " and others can read it: chmod 600 it (or use the _FILE settings)");
  }
  return out;
}

env_lookup with_env_file(env_lookup env, std::map<std::string, std::string> file) {
  return [env = std::move(env),
          file = std::move(file)](const std::string& name) -> std::optional<std::string> {
    if (auto v = env ? env(name) : std::nullopt; v && !trim(*v).empty()) return v;
    if (auto f = file.find(name); f != file.end()) return f->second;
    return std::nullopt;
  };
}

}  // namespace beampipe::app

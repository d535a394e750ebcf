// Admission and shaping (spec §4), job error classification (§3.10) and the [HEAD] retry
// delay (§2.4) as pure decisions. No I/O, no clock reads, no database: the scheduler gathers
// snapshots from read models, calls these functions and turns the decision into commands
// (claims, discover_batch / execute jobs, pending flags, claim releases).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/diagnostics.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/project_config.hpp"
#include "domain/readiness.hpp"

namespace beampipe::domain {

using admission_clock = std::chrono::system_clock;
using admission_time = admission_clock::time_point;

// --- skip reasons (§4.2, stable strings) ---

enum class skip_reason {
  disabled,
  queue_full,
  tap_unreachable,
  in_flight_cap,
  project_in_flight_cap,
  profile_in_flight_cap,  // [HEAD]
  rate_limited,
  threshold_not_met,
  max_batches_per_tick,
  sources_skipped_not_ready,
  no_pending_sources,
  profile_not_found,  // automation.execution.deployment_profile_name names no profile
};

std::string_view to_string(skip_reason r);
std::optional<skip_reason> parse_skip_reason(std::string_view s);

// reason → count for one tick; goes to logs and metrics only.
struct skip_reasons {
  std::map<skip_reason, std::int64_t> counts;

  void bump(skip_reason r, std::int64_t n = 1) { counts[r] += n; }
  std::int64_t count(skip_reason r) const;
  bool empty() const { return counts.empty(); }
};

// {"<reason>":count,…} in enum order (the reference's BTreeMap order).
boost::json::object to_json(const skip_reasons& reasons);

// `current < cap`: the one comparison every in-flight cap uses.
constexpr bool can_admit(std::int64_t current, std::int64_t cap) { return current < cap; }

// --- global shaping knobs (§4.1, environment) ---

struct shaping_knobs {
  std::int64_t discovery_max_in_flight_batches = 4;  // live discovery claim tokens, all modules
  std::int64_t discovery_max_batches_per_tick = 4;   // when the project sets no batch limit
  std::int64_t execution_max_in_flight_runs = 2;     // active executions, all modules
  std::int64_t queue_max_depth = 200;                // queued jobs (deferred and recurring too)
  std::int64_t enqueue_pacing_ms = 0;                // sleep after each enqueued job
};

inline constexpr std::string_view kEnvDiscoveryMaxInFlightBatches =
    "BEAMPIPE_SHAPING_DISCOVERY_MAX_IN_FLIGHT_BATCHES";
inline constexpr std::string_view kEnvDiscoveryMaxBatchesPerTick =
    "BEAMPIPE_SHAPING_DISCOVERY_MAX_BATCHES_PER_TICK";
inline constexpr std::string_view kEnvExecutionMaxInFlightRuns =
    "BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS";
inline constexpr std::string_view kEnvQueueMaxDepth = "BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH";
inline constexpr std::string_view kEnvEnqueuePacingMs = "BEAMPIPE_SHAPING_ENQUEUE_PACING_MS";

// --- discovery admission (§4.2) ---

// Built-in worker fallbacks, used when the tick payload omits a value (§4.1).
inline constexpr std::int64_t kDiscoveryBatchSizeFallback = 50;
inline constexpr std::int32_t kDiscoveryStaleHoursFallback = 24;
inline constexpr std::int64_t kDiscoveryClaimTtlMinutesFallback = 180;

// §2.1 "Due": what the predicate needs from a source_registry row.
struct discovery_source_snapshot {
  std::string source_identifier;
  bool enabled = false;
  admission_time created_at{};
  std::optional<admission_time> last_checked_at;
  // Expiry of the discovery claim; nullopt when no claim is held.
  std::optional<admission_time> discovery_claim_expires_at;
};

// enabled, no live discovery claim (expiry null or ≤ now) and last_checked_at null or
// ≤ now − stale_after_hours (the tick-level value; the per-source column is never read).
bool is_discovery_due(const discovery_source_snapshot& source, admission_time now,
                      std::int32_t stale_after_hours);

// The due sources in claim order: created_at ASC, then source_identifier so that equal
// timestamps give a deterministic order.
std::vector<std::string> due_sources(std::vector<discovery_source_snapshot> sources,
                                     admission_time now, std::int32_t stale_after_hours);

// The scheduler_tick payload (§3). An automated tick carries every field (built by
// discovery_tick_payload_from); a manual trigger (`discover_trigger:<module>`) carries none,
// so every built-in fallback applies.
struct discovery_tick_payload {
  std::optional<std::int64_t> batch_size;
  std::optional<std::int64_t> stale_after_hours;
  std::optional<std::int64_t> claim_ttl_minutes;
  std::optional<std::int64_t> queue_max_depth;
  std::optional<std::int64_t> tick_discovery_source_limit;
  std::optional<std::int64_t> tick_discovery_batch_limit;
  std::optional<std::int64_t> concurrent_discovery_batch_limit;
};

// What bootstrap enqueues for a project: its automation.discovery (defaults applied), with
// queue_max_depth = the project value or the global knob.
discovery_tick_payload discovery_tick_payload_from(const DiscoveryAutomation& discovery,
                                                   const shaping_knobs& knobs);

// The per-tick values of §4.2 steps 3, 5 and 6.
struct discovery_tick_policy {
  std::int64_t batch_size = kDiscoveryBatchSizeFallback;
  std::int32_t stale_after_hours = kDiscoveryStaleHoursFallback;
  std::int64_t claim_ttl_minutes = kDiscoveryClaimTtlMinutesFallback;
  std::int64_t tick_source_limit = kDiscoveryBatchSizeFallback;
  std::int64_t max_batches_per_tick = 4;
  std::int64_t queue_max_depth = 200;
  std::optional<std::int64_t> project_in_flight_cap;

  // `remaining` at the start of the loop: max(tick_source_limit, batch_size), never negative.
  std::int64_t source_budget() const;
};

// batch_size and claim_ttl_minutes and both tick limits only when > 0 (else the fallback);
// stale_after_hours whenever it fits an i32 (even ≤ 0, as the reference does);
// queue_max_depth and the project cap as given.
discovery_tick_policy resolve_discovery_tick(const discovery_tick_payload& payload,
                                             const shaping_knobs& knobs);

// Result of one TAP probe (§4.2 step 2). `configured` = a URL was known (the project's
// adapters.*_tap_url, else the environment).
struct tap_endpoint_health {
  bool configured = false;
  bool reachable = true;
};

struct tap_health_report {
  tap_endpoint_health casda;
  tap_endpoint_health vizier;
};

// The required adapters (adapters.required, compared case-insensitively) among
// {casda, vizier} that are configured and unreachable, in `required` order.
std::vector<std::string> unreachable_required_adapters(const tap_health_report& report,
                                                       const std::vector<std::string>& required);

struct discovery_admission_input {
  // False when the tick must not run for this module (no active config, or a tick that is
  // neither automated nor a manual trigger); → `disabled`.
  bool enabled = true;
  discovery_tick_payload payload;
  shaping_knobs knobs;
  // nullopt when the probe is disabled (BEAMPIPE_DISCOVERY_TAP_HEALTH_CHECK_ENABLED=false) or
  // the config did not parse: the check is skipped.
  std::optional<tap_health_report> tap_health;
  std::vector<std::string> required_adapters;
  std::int64_t queue_depth = 0;                // COUNT(*) of queued jobs
  std::int64_t global_in_flight_batches = 0;   // distinct unexpired discovery claim tokens
  std::int64_t project_in_flight_batches = 0;  // the same for this module
  std::vector<std::string> due_sources;        // §2.1 Due, created_at ASC (see due_sources())
};

// One discover_batch job: the caller claims these sources under a fresh UUIDv7 token with
// expires = now + claim_ttl_minutes and enqueues `discover:<module>:<token>`.
struct discovery_batch {
  std::vector<std::string> source_identifiers;
};

struct discovery_admission_decision {
  discovery_tick_policy policy;
  std::vector<discovery_batch> batches;  // in claim order; pace after each enqueue
  std::int64_t claim_ttl_minutes = kDiscoveryClaimTtlMinutesFallback;
  skip_reasons reasons;
  std::vector<std::string> tap_unreachable;  // adapters that tripped tap_unreachable

  std::int64_t total_sources() const;
};

// §4.2 steps 2–7. The loop re-checks the queue depth and the global in-flight cap before each
// batch; every batch created raises both by one. The project cap is checked once, before the
// loop, exactly as in the reference.
discovery_admission_decision decide_discovery_admission(const discovery_admission_input& input);

// --- execution admission (§4.3 with the [HEAD] changes) ---

// ⚠Q7 fix ([HEAD], §12.11): an execution is in flight while it is pending, running, retrying
// or awaiting_scheduler, whatever its scheduler_name (submitted runs count too).
bool counts_as_in_flight(execution_status status);

struct execution_snapshot {
  std::string project_module;
  std::optional<std::string> deployment_profile_id;
  execution_status status = execution_status::pending;
};

struct execution_in_flight {
  std::int64_t global = 0;
  std::int64_t project = 0;
  std::int64_t profile = 0;  // 0 when `profile_id` is nullopt
};

execution_in_flight count_executions_in_flight(const std::vector<execution_snapshot>& executions,
                                               std::string_view project_module,
                                               const std::optional<std::string>& profile_id);

// An enabled source with workflow_run_pending = true.
struct pending_source {
  std::string source_identifier;
  std::optional<admission_time> workflow_run_pending_at;
  admission_time created_at{};
  bool live_workflow_claim = false;  // workflow_claim_token set and not expired
  SourceReadinessState readiness;    // signatures, discovery lease, metadata rows (§5.10)
};

struct execution_admission_input {
  // `enabled` = false → `disabled`. Typed config's automation.execution, or
  // lenient_execution_policy(spec) when the spec no longer decodes.
  ExecutionAutomation policy;
  shaping_knobs knobs;
  // Counted with counts_as_in_flight (see count_executions_in_flight).
  std::int64_t global_in_flight = 0;
  std::int64_t project_in_flight = 0;
  std::int64_t profile_in_flight = 0;
  // The resolved profile's max_concurrent_executions; nullopt when there is no profile or it
  // sets no limit.
  std::optional<std::int64_t> profile_max_concurrent_executions;
  // The policy names a deployment profile (deployment_profile_name) that does not exist. That
  // refuses the tick (profile_not_found): the default profile never stands in for a named one.
  bool named_profile_missing = false;
  std::int64_t queue_depth = 0;
  admission_time now{};
  std::vector<pending_source> pending;
};

// One execution to create, with sources [{"source_identifier":sid}…] in this order,
// archive_name = policy.archive_name, the profile, the active config and created_by = null;
// then the §3.4 patch and the `execute:<uuid>` job.
struct planned_execution {
  std::vector<std::string> source_identifiers;
};

struct skipped_source {
  std::string source_identifier;
  std::string reason;  // kAlreadyExecutedReason or the §5.10 blocker text
};

inline constexpr std::string_view kAlreadyExecutedReason =
    "already executed for current discovery signature";

struct execution_admission_decision {
  std::int64_t pending_count = 0;
  std::optional<admission_time> oldest_pending_at;
  bool max_wait_triggered = false;
  std::int64_t run_limit = 0;           // 0 when the tick ended before step 8
  std::int64_t source_claim_limit = 0;  // [HEAD] min(source limit, run_limit × chunk size)
  std::int64_t claim_ttl_minutes = 0;
  // Claimed under one workflow token (expires = now + claim_ttl_minutes), claim order.
  std::vector<std::string> claimed;
  std::vector<planned_execution> executions;  // at most run_limit; pace after each
  // workflow_run_pending cleared for: admitted sources and already-executed ones.
  std::vector<std::string> clear_pending;
  // Every claimed source, so the ones not admitted are claimable next tick.
  std::vector<std::string> release_claims;
  std::vector<skipped_source> skipped;  // in claim order; not-ready ones stay pending
  skip_reasons reasons;
  // Why the tick refused to admit anything although sources wait (a configuration error the
  // operator must fix), for the tick's record; nullopt otherwise.
  std::optional<std::string> error;
};

// §4.3 steps 1–10 with [HEAD] run limits and claim limit. Step 7 differs from the baseline (a
// missing named profile "silently gives none"): it refuses with profile_not_found and `error`.
execution_admission_decision decide_execution_admission(const execution_admission_input& input);

// --- job errors (§3.10) and retry delay (§2.4 [HEAD]) ---

// Case-insensitive substrings per kind: execute, discover_batch, and the poll kinds
// (slurm_poll_tick, dim_poll, dim_poll_tick). Every other kind is retryable.
bool is_non_retryable_job_error(std::string_view kind, std::string_view message);

// [HEAD] failure_class of a job error, first matching row (case-insensitive): timeout,
// authentication, configuration, conflict, else dependency_unavailable.
std::string_view failure_class_of(std::string_view message);

// uuid_as_u128 mod 11: the jitter of the retry delay. The uuid's 32 hex digits (hyphens at
// the canonical positions, or none; either case) are read as one big-endian 128-bit number,
// as Rust's Uuid::as_u128 does, and reduced digit by digit (r = (16·r + d) mod 11), so no
// 128-bit type is needed. nullopt when the text is not a uuid.
std::optional<std::int64_t> uuid_mod_11(std::string_view uuid);

// min(3600, 15·2^min(attempts−1, 8) + jitter) seconds; attempts below 1 count as 1.
std::int64_t job_retry_delay_seconds(std::int64_t attempts, std::int64_t jitter);

// The same with jitter = uuid_mod_11(job_uuid); nullopt when job_uuid is not a uuid.
std::optional<std::int64_t> job_retry_delay_seconds(std::int64_t attempts,
                                                    std::string_view job_uuid);

// The delay in milliseconds with the 15 s base replaced by `base_ms` (the whole formula,
// jitter and cap included, scales by base_ms / 15000; 15000 gives the spec's delay exactly).
// A job id that is not a uuid gets no jitter.
std::int64_t job_retry_delay_ms(std::int64_t attempts, std::string_view job_uuid,
                                std::int64_t base_ms);

}  // namespace beampipe::domain

#include "domain/admission.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <utility>

namespace beampipe::domain {

namespace {

constexpr std::array<std::pair<skip_reason, std::string_view>, 12> kReasonNames{{
    {skip_reason::disabled, "disabled"},
    {skip_reason::queue_full, "queue_full"},
    {skip_reason::tap_unreachable, "tap_unreachable"},
    {skip_reason::in_flight_cap, "in_flight_cap"},
    {skip_reason::project_in_flight_cap, "project_in_flight_cap"},
    {skip_reason::profile_in_flight_cap, "profile_in_flight_cap"},
    {skip_reason::rate_limited, "rate_limited"},
    {skip_reason::threshold_not_met, "threshold_not_met"},
    {skip_reason::max_batches_per_tick, "max_batches_per_tick"},
    {skip_reason::sources_skipped_not_ready, "sources_skipped_not_ready"},
    {skip_reason::no_pending_sources, "no_pending_sources"},
    {skip_reason::profile_not_found, "profile_not_found"},
}};

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool contains_any(const std::string& haystack, std::initializer_list<std::string_view> needles) {
  for (auto n : needles)
    if (haystack.find(n) != std::string::npos) return true;
  return false;
}

// a·b for positive operands, saturating at i64 max (run_limit × chunk size).
std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  if (a <= 0 || b <= 0) return 0;
  if (a > std::numeric_limits<std::int64_t>::max() / b)
    return std::numeric_limits<std::int64_t>::max();
  return a * b;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

// --- skip reasons ---

std::string_view to_string(skip_reason r) {
  for (const auto& [reason, name] : kReasonNames)
    if (reason == r) return name;
  return "unknown";
}

std::optional<skip_reason> parse_skip_reason(std::string_view s) {
  for (const auto& [reason, name] : kReasonNames)
    if (name == s) return reason;
  return std::nullopt;
}

std::int64_t skip_reasons::count(skip_reason r) const {
  auto it = counts.find(r);
  return it == counts.end() ? 0 : it->second;
}

boost::json::object to_json(const skip_reasons& reasons) {
  boost::json::object out;
  for (const auto& [reason, n] : reasons.counts) out[to_string(reason)] = n;
  return out;
}

// --- discovery ---

bool is_discovery_due(const discovery_source_snapshot& s, admission_time now,
                      std::int32_t stale_after_hours) {
  if (!s.enabled) return false;
  if (s.discovery_claim_expires_at && *s.discovery_claim_expires_at > now) return false;
  return !s.last_checked_at || *s.last_checked_at <= now - std::chrono::hours(stale_after_hours);
}

std::vector<std::string> due_sources(std::vector<discovery_source_snapshot> sources,
                                     admission_time now, std::int32_t stale_after_hours) {
  std::erase_if(sources,
                [&](const auto& s) { return !is_discovery_due(s, now, stale_after_hours); });
  std::sort(sources.begin(), sources.end(), [](const auto& a, const auto& b) {
    if (a.created_at != b.created_at) return a.created_at < b.created_at;
    return a.source_identifier < b.source_identifier;
  });
  std::vector<std::string> out;
  out.reserve(sources.size());
  for (auto& s : sources) out.push_back(std::move(s.source_identifier));
  return out;
}

discovery_tick_payload discovery_tick_payload_from(const DiscoveryAutomation& d,
                                                   const shaping_knobs& knobs) {
  discovery_tick_payload p;
  p.batch_size = d.batch_size;
  p.stale_after_hours = d.stale_after_hours;
  p.claim_ttl_minutes = d.claim_ttl_minutes;
  p.queue_max_depth = d.queue_max_depth.value_or(knobs.queue_max_depth);
  p.tick_discovery_source_limit = d.tick_discovery_source_limit;
  p.tick_discovery_batch_limit = d.tick_discovery_batch_limit;
  p.concurrent_discovery_batch_limit = d.concurrent_discovery_batch_limit;
  return p;
}

std::int64_t discovery_tick_policy::source_budget() const {
  return std::max<std::int64_t>(0, std::max(tick_source_limit, batch_size));
}

discovery_tick_policy resolve_discovery_tick(const discovery_tick_payload& p,
                                             const shaping_knobs& knobs) {
  auto positive_or = [](const std::optional<std::int64_t>& v, std::int64_t fallback) {
    return v && *v > 0 ? *v : fallback;
  };
  discovery_tick_policy t;
  t.batch_size = positive_or(p.batch_size, kDiscoveryBatchSizeFallback);
  t.stale_after_hours = p.stale_after_hours &&
                                *p.stale_after_hours >= std::numeric_limits<std::int32_t>::min() &&
                                *p.stale_after_hours <= std::numeric_limits<std::int32_t>::max()
                            ? static_cast<std::int32_t>(*p.stale_after_hours)
                            : kDiscoveryStaleHoursFallback;
  t.claim_ttl_minutes = positive_or(p.claim_ttl_minutes, kDiscoveryClaimTtlMinutesFallback);
  t.tick_source_limit = positive_or(p.tick_discovery_source_limit, t.batch_size);
  t.max_batches_per_tick =
      positive_or(p.tick_discovery_batch_limit, knobs.discovery_max_batches_per_tick);
  t.queue_max_depth = p.queue_max_depth.value_or(knobs.queue_max_depth);
  t.project_in_flight_cap = p.concurrent_discovery_batch_limit;
  return t;
}

std::vector<std::string> unreachable_required_adapters(const tap_health_report& report,
                                                       const std::vector<std::string>& required) {
  std::vector<std::string> out;
  for (const auto& name : required) {
    auto lower = lowercase(name);
    const tap_endpoint_health* h = lower == "casda"    ? &report.casda
                                   : lower == "vizier" ? &report.vizier
                                                       : nullptr;
    if (h && h->configured && !h->reachable &&
        std::find(out.begin(), out.end(), lower) == out.end())
      out.push_back(lower);
  }
  return out;
}

std::int64_t discovery_admission_decision::total_sources() const {
  std::int64_t n = 0;
  for (const auto& b : batches) n += static_cast<std::int64_t>(b.source_identifiers.size());
  return n;
}

discovery_admission_decision decide_discovery_admission(const discovery_admission_input& in) {
  discovery_admission_decision d;
  d.policy = resolve_discovery_tick(in.payload, in.knobs);
  d.claim_ttl_minutes = d.policy.claim_ttl_minutes;
  if (!in.enabled) {
    d.reasons.bump(skip_reason::disabled);
    return d;
  }
  // Step 2.
  if (in.tap_health) {
    d.tap_unreachable = unreachable_required_adapters(*in.tap_health, in.required_adapters);
    if (!d.tap_unreachable.empty()) {
      d.reasons.bump(skip_reason::tap_unreachable);
      return d;
    }
  }
  // Steps 3–5.
  if (in.queue_depth >= d.policy.queue_max_depth) {
    d.reasons.bump(skip_reason::queue_full);
    return d;
  }
  const auto global_cap = in.knobs.discovery_max_in_flight_batches;
  if (!can_admit(in.global_in_flight_batches, global_cap)) {
    d.reasons.bump(skip_reason::in_flight_cap);
    return d;
  }
  if (d.policy.project_in_flight_cap &&
      !can_admit(in.project_in_flight_batches, *d.policy.project_in_flight_cap)) {
    d.reasons.bump(skip_reason::project_in_flight_cap);
    return d;
  }

  // Step 7. Each batch is one new claim token and one queued job, so both guards move.
  std::int64_t remaining = d.policy.source_budget();
  std::int64_t queue_depth = in.queue_depth;
  std::int64_t in_flight = in.global_in_flight_batches;
  std::size_t next = 0;  // claimed sources leave the Due set
  auto batches = [&] { return static_cast<std::int64_t>(d.batches.size()); };
  while (remaining > 0 && batches() < d.policy.max_batches_per_tick) {
    if (queue_depth >= d.policy.queue_max_depth) {
      d.reasons.bump(skip_reason::queue_full);
      break;
    }
    if (!can_admit(in_flight, global_cap)) {
      d.reasons.bump(skip_reason::in_flight_cap);
      break;
    }
    auto available = static_cast<std::int64_t>(in.due_sources.size() - next);
    auto take = std::min({d.policy.batch_size, remaining, available});
    if (take <= 0) break;  // nothing due: the claim comes back empty
    // Step 7.3 (claim, then release on the batch cap) cannot fire for a module-scoped tick:
    // the loop guard already stops at the cap, so no claim is taken to be released.
    discovery_batch b;
    b.source_identifiers.assign(in.due_sources.begin() + static_cast<std::ptrdiff_t>(next),
                                in.due_sources.begin() + static_cast<std::ptrdiff_t>(next + take));
    d.batches.push_back(std::move(b));
    next += static_cast<std::size_t>(take);
    remaining -= take;
    ++queue_depth;
    ++in_flight;
  }
  // The batch cap, not the budget or the Due set, ended the tick: record it so the
  // max_batches_per_tick reason is observable (see step 7.3 above).
  if (batches() >= d.policy.max_batches_per_tick && remaining > 0 && next < in.due_sources.size())
    d.reasons.bump(skip_reason::max_batches_per_tick);
  return d;
}

// --- execution ---

bool counts_as_in_flight(execution_status s) {
  return s == execution_status::pending || s == execution_status::running ||
         s == execution_status::retrying || s == execution_status::awaiting_scheduler;
}

execution_in_flight count_executions_in_flight(const std::vector<execution_snapshot>& executions,
                                               std::string_view project_module,
                                               const std::optional<std::string>& profile_id) {
  execution_in_flight n;
  for (const auto& e : executions) {
    if (!counts_as_in_flight(e.status)) continue;
    ++n.global;
    if (e.project_module == project_module) ++n.project;
    if (profile_id && e.deployment_profile_id == profile_id) ++n.profile;
  }
  return n;
}

execution_admission_decision decide_execution_admission(const execution_admission_input& in) {
  execution_admission_decision d;
  const auto& policy = in.policy;
  d.claim_ttl_minutes = policy.claim_ttl_minutes;
  if (!policy.enabled) {
    d.reasons.bump(skip_reason::disabled);
    return d;
  }
  // Steps 1–3. The project's discovery queue_max_depth is not used here.
  if (policy.concurrent_execution_run_limit &&
      !can_admit(in.project_in_flight, *policy.concurrent_execution_run_limit)) {
    d.reasons.bump(skip_reason::project_in_flight_cap);
    return d;
  }
  if (!can_admit(in.global_in_flight, in.knobs.execution_max_in_flight_runs)) {
    d.reasons.bump(skip_reason::in_flight_cap);
    return d;
  }
  if (in.queue_depth >= in.knobs.queue_max_depth) {
    d.reasons.bump(skip_reason::queue_full);
    return d;
  }

  // Step 4: the counts include sources whose workflow claim is live.
  for (const auto& s : in.pending) {
    if (!s.readiness.enabled) continue;
    ++d.pending_count;
    if (s.workflow_run_pending_at &&
        (!d.oldest_pending_at || *s.workflow_run_pending_at < *d.oldest_pending_at))
      d.oldest_pending_at = s.workflow_run_pending_at;
  }
  if (d.pending_count <= 0) {
    d.reasons.bump(skip_reason::no_pending_sources);
    return d;
  }
  // Step 5: the oldest pending source bypasses the batching threshold once it waited long enough.
  d.max_wait_triggered =
      d.oldest_pending_at &&
      *d.oldest_pending_at <= in.now - std::chrono::minutes(policy.max_wait_minutes);
  if (!d.max_wait_triggered && d.pending_count < policy.min_sources_to_trigger) {
    d.reasons.bump(skip_reason::threshold_not_met);
    return d;
  }

  // Step 7, before anything is claimed: runs go to the profile the policy names, or to none.
  // Falling back to the default would send them where the project did not ask (issue #17).
  if (policy.deployment_profile_name && in.named_profile_missing) {
    d.reasons.bump(skip_reason::profile_not_found);
    d.error = "automation.execution.deployment_profile_name names deployment profile '" +
              *policy.deployment_profile_name +
              "', which does not exist: no run is admitted until it exists or the config names "
              "another";
    return d;
  }

  // Step 8 [HEAD], before claiming. Each cap whose headroom is gone names itself; a run limit
  // that is ≤ 0 on its own (tick_execution_run_limit ≤ 0) is rate_limited.
  std::int64_t run_limit = policy.tick_execution_run_limit;
  std::optional<skip_reason> exhausted;
  auto apply_cap = [&](std::int64_t cap, std::int64_t current, skip_reason reason) {
    auto headroom = std::max<std::int64_t>(0, cap - current);
    run_limit = std::min(run_limit, headroom);
    if (headroom <= 0 && !exhausted) exhausted = reason;
  };
  if (policy.concurrent_execution_run_limit)
    apply_cap(*policy.concurrent_execution_run_limit, in.project_in_flight,
              skip_reason::project_in_flight_cap);
  apply_cap(in.knobs.execution_max_in_flight_runs, in.global_in_flight, skip_reason::in_flight_cap);
  if (in.profile_max_concurrent_executions)
    apply_cap(*in.profile_max_concurrent_executions, in.profile_in_flight,
              skip_reason::profile_in_flight_cap);
  if (run_limit <= 0) {
    d.reasons.bump(exhausted.value_or(skip_reason::rate_limited));
    return d;
  }
  d.run_limit = run_limit;

  // Step 6 [HEAD]: claim only what run_limit executions can use.
  const std::int64_t chunk_size = std::max<std::int64_t>(1, policy.max_sources_per_execution);
  d.source_claim_limit =
      std::min(policy.tick_execution_source_limit, saturating_mul(run_limit, chunk_size));
  std::vector<const pending_source*> claimable;
  for (const auto& s : in.pending)
    if (s.readiness.enabled && !s.live_workflow_claim) claimable.push_back(&s);
  // workflow_run_pending_at ASC NULLS LAST, created_at ASC; the identifier breaks exact ties.
  std::sort(claimable.begin(), claimable.end(),
            [](const pending_source* a, const pending_source* b) {
              if (a->workflow_run_pending_at.has_value() != b->workflow_run_pending_at.has_value())
                return a->workflow_run_pending_at.has_value();
              if (a->workflow_run_pending_at &&
                  *a->workflow_run_pending_at != *b->workflow_run_pending_at)
                return *a->workflow_run_pending_at < *b->workflow_run_pending_at;
              if (a->created_at != b->created_at) return a->created_at < b->created_at;
              return a->source_identifier < b->source_identifier;
            });
  if (d.source_claim_limit <= 0) return d;
  if (static_cast<std::int64_t>(claimable.size()) > d.source_claim_limit)
    claimable.resize(static_cast<std::size_t>(d.source_claim_limit));
  if (claimable.empty()) return d;  // nothing claimed: the tick ends quietly
  for (const auto* s : claimable) d.claimed.push_back(s->source_identifier);
  d.release_claims = d.claimed;

  // Step 9: chunks in claim order until run_limit executions exist.
  for (std::size_t start = 0; start < claimable.size();
       start += static_cast<std::size_t>(chunk_size)) {
    if (static_cast<std::int64_t>(d.executions.size()) >= run_limit) break;
    auto end = std::min(claimable.size(), start + static_cast<std::size_t>(chunk_size));
    planned_execution run;
    for (auto i = start; i < end; ++i) {
      const auto& s = *claimable[i];
      if (signature_matches_last_execution(s.readiness)) {
        d.skipped.push_back({s.source_identifier, std::string(kAlreadyExecutedReason)});
        d.clear_pending.push_back(s.source_identifier);
      } else if (auto blocker = source_readiness_error(s.source_identifier, s.readiness)) {
        d.skipped.push_back({s.source_identifier, *blocker});
        d.reasons.bump(skip_reason::sources_skipped_not_ready);
      } else {
        run.source_identifiers.push_back(s.source_identifier);
      }
    }
    if (run.source_identifiers.empty()) continue;
    for (const auto& sid : run.source_identifiers) d.clear_pending.push_back(sid);
    d.executions.push_back(std::move(run));
  }
  return d;
}

// --- job errors and retry delay ---

bool is_non_retryable_job_error(std::string_view kind, std::string_view message) {
  const auto m = lowercase(message);
  if (kind == "execute")
    return contains_any(m, {"unreachable", "authentication failed", "credentials required",
                            "translation manager", "preflight", "dim at", "is unreachable"});
  if (kind == "discover_batch") return contains_any(m, {"authentication failed", "401"});
  if (kind == "slurm_poll_tick" || kind == "dim_poll" || kind == "dim_poll_tick")
    return contains_any(m, {"authentication failed", "connection failed", "unreachable"});
  return false;
}

std::string_view failure_class_of(std::string_view message) {
  const auto m = lowercase(message);
  if (contains_any(m, {"timeout", "timed out"})) return "timeout";
  if (contains_any(m, {"unauthorized", "authentication", "credential"})) return "authentication";
  if (contains_any(m, {"non-retryable"})) return "configuration";
  if (contains_any(m, {"conflict", "already exists"})) return "conflict";
  return "dependency_unavailable";
}

std::optional<std::int64_t> uuid_mod_11(std::string_view uuid) {
  const bool hyphenated = uuid.size() == 36;
  if (!hyphenated && uuid.size() != 32) return std::nullopt;
  std::int64_t r = 0;
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    if (hyphenated && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (uuid[i] != '-') return std::nullopt;
      continue;
    }
    int digit = hex_digit(uuid[i]);
    if (digit < 0) return std::nullopt;
    r = (r * 16 + digit) % 11;
  }
  return r;
}

std::int64_t job_retry_delay_seconds(std::int64_t attempts, std::int64_t jitter) {
  const auto exponent = std::clamp<std::int64_t>(attempts - 1, 0, 8);
  return std::min<std::int64_t>(3600, 15 * (std::int64_t{1} << exponent) + jitter);
}

std::optional<std::int64_t> job_retry_delay_seconds(std::int64_t attempts,
                                                    std::string_view job_uuid) {
  auto jitter = uuid_mod_11(job_uuid);
  if (!jitter) return std::nullopt;
  return job_retry_delay_seconds(attempts, *jitter);
}

std::int64_t job_retry_delay_ms(std::int64_t attempts, std::string_view job_uuid,
                                std::int64_t base_ms) {
  auto seconds = job_retry_delay_seconds(attempts, uuid_mod_11(job_uuid).value_or(0));
  return seconds * std::max<std::int64_t>(0, base_ms) / 15;
}

}  // namespace beampipe::domain

// Admission and shaping (spec §4), job error classification (§3.10) and retry delay (§2.4).
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/admission.hpp"

namespace json = boost::json;
using namespace beampipe::domain;
using namespace std::chrono_literals;
using R = skip_reason;
using reason_map = std::map<skip_reason, std::int64_t>;

namespace {

// 2026-06-09T00:00:00Z; tests never read the clock.
const admission_time kNow = admission_time{} + std::chrono::seconds(1780963200);

std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + (i < 10 ? "0" : "") + std::to_string(i));
  return out;
}

std::vector<std::size_t> batch_sizes(const discovery_admission_decision& d) {
  std::vector<std::size_t> out;
  for (const auto& b : d.batches) out.push_back(b.source_identifiers.size());
  return out;
}

std::vector<std::vector<std::string>> runs(const execution_admission_decision& d) {
  std::vector<std::vector<std::string>> out;
  for (const auto& e : d.executions) out.push_back(e.source_identifiers);
  return out;
}

SourceReadinessState ready_state(const std::string& signature = "sig-new") {
  SourceReadinessState s;
  s.enabled = true;
  s.last_checked_at_set = true;
  s.discovery_signature = signature;
  s.last_executed_discovery_signature = "sig-old";
  json::object row;
  row["datasets"] = json::array{json::object{}};
  s.metadata_rows["72962"] = row;
  return s;
}

pending_source ready(const std::string& sid, std::optional<admission_time> pending_at = kNow - 1h,
                     admission_time created_at = kNow - 48h) {
  pending_source p;
  p.source_identifier = sid;
  p.workflow_run_pending_at = pending_at;
  p.created_at = created_at;
  p.readiness = ready_state();
  return p;
}

std::vector<pending_source> ready_sources(int n) {
  std::vector<pending_source> out;
  int i = 0;
  for (const auto& sid : numbered("S", n))
    out.push_back(ready(sid, kNow - 1h, kNow - 48h + (i++) * 1s));
  return out;
}

// Automation defaults plus the global knobs, as bootstrap builds them.
discovery_admission_input discovery_input(int due) {
  discovery_admission_input in;
  in.payload = discovery_tick_payload_from(DiscoveryAutomation{}, in.knobs);
  in.due_sources = numbered("D", due);
  return in;
}

execution_admission_input execution_input() {
  execution_admission_input in;
  in.policy.enabled = true;
  in.knobs.execution_max_in_flight_runs = 10;
  in.now = kNow;
  return in;
}

}  // namespace

// --- knobs ---

TEST_CASE("skip reason strings are stable") {
  const std::vector<std::pair<R, const char*>> names = {
      {R::disabled, "disabled"},
      {R::queue_full, "queue_full"},
      {R::tap_unreachable, "tap_unreachable"},
      {R::in_flight_cap, "in_flight_cap"},
      {R::project_in_flight_cap, "project_in_flight_cap"},
      {R::profile_in_flight_cap, "profile_in_flight_cap"},
      {R::rate_limited, "rate_limited"},
      {R::threshold_not_met, "threshold_not_met"},
      {R::max_batches_per_tick, "max_batches_per_tick"},
      {R::sources_skipped_not_ready, "sources_skipped_not_ready"},
      {R::no_pending_sources, "no_pending_sources"},
      {R::profile_not_found, "profile_not_found"},
  };
  for (const auto& [r, name] : names) {
    CHECK(to_string(r) == name);
    CHECK(parse_skip_reason(name) == r);
  }
  CHECK_FALSE(parse_skip_reason("execution_tick"));
  skip_reasons reasons;
  reasons.bump(R::sources_skipped_not_ready, 2);
  reasons.bump(R::queue_full);
  CHECK(json::serialize(to_json(reasons)) == R"({"queue_full":1,"sources_skipped_not_ready":2})");
  CHECK(can_admit(3, 4));
  CHECK_FALSE(can_admit(4, 4));
  CHECK_FALSE(can_admit(0, 0));
}

// --- discovery ---

TEST_CASE("discovery Due predicate (spec 2.1)") {
  struct row {
    const char* name;
    bool enabled;
    std::optional<admission_time> last_checked;
    std::optional<admission_time> claim_expires;
    std::int32_t stale_hours;
    bool due;
  };
  const std::vector<row> rows = {
      {"never checked", true, std::nullopt, std::nullopt, 24, true},
      {"disabled", false, std::nullopt, std::nullopt, 24, false},
      {"fresh", true, kNow - 23h, std::nullopt, 24, false},
      {"stale exactly at the boundary", true, kNow - 24h, std::nullopt, 24, true},
      {"stale", true, kNow - 25h, std::nullopt, 24, true},
      {"live claim", true, std::nullopt, kNow + 1min, 24, false},
      {"claim expiring now is not live", true, std::nullopt, kNow, 24, true},
      {"expired claim", true, kNow - 30h, kNow - 1min, 24, true},
      {"stale_after_hours 0: any past check", true, kNow - 1s, std::nullopt, 0, true},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    discovery_source_snapshot s{"HIPASSJ1313-15", r.enabled, kNow - 100h, r.last_checked,
                                r.claim_expires};
    CHECK(is_discovery_due(s, kNow, r.stale_hours) == r.due);
  }

  std::vector<discovery_source_snapshot> sources = {
      {"c", true, kNow - 1h, std::nullopt, std::nullopt},
      {"a", true, kNow - 3h, std::nullopt, std::nullopt},
      {"fresh", true, kNow - 5h, kNow - 1h, std::nullopt},
      {"b2", true, kNow - 2h, std::nullopt, std::nullopt},
      {"b1", true, kNow - 2h, std::nullopt, std::nullopt},
      {"off", false, kNow - 9h, std::nullopt, std::nullopt},
  };
  CHECK(due_sources(sources, kNow, 24) == std::vector<std::string>{"a", "b1", "b2", "c"});
}

TEST_CASE("discovery tick values resolve with the 4.2 step 6 fallbacks") {
  shaping_knobs knobs;
  knobs.discovery_max_batches_per_tick = 7;
  knobs.queue_max_depth = 300;

  auto automated = resolve_discovery_tick(discovery_tick_payload_from({}, knobs), knobs);
  CHECK(automated.batch_size == 5);
  CHECK(automated.tick_source_limit == 200);
  CHECK(automated.source_budget() == 200);
  CHECK(automated.stale_after_hours == 24);
  CHECK(automated.claim_ttl_minutes == 180);
  CHECK(automated.max_batches_per_tick == 7);
  CHECK(automated.queue_max_depth == 300);
  CHECK_FALSE(automated.project_in_flight_cap);

  // A manual trigger carries only project_module: every built-in fallback applies.
  auto manual = resolve_discovery_tick({}, knobs);
  CHECK(manual.batch_size == 50);
  CHECK(manual.tick_source_limit == 50);
  CHECK(manual.source_budget() == 50);
  CHECK(manual.stale_after_hours == 24);
  CHECK(manual.claim_ttl_minutes == 180);
  CHECK(manual.max_batches_per_tick == 7);
  CHECK(manual.queue_max_depth == 300);

  discovery_tick_payload odd;
  odd.batch_size = 0;                   // not > 0 → 50
  odd.claim_ttl_minutes = -5;           // not > 0 → 180
  odd.stale_after_hours = 0;            // kept: no positivity filter
  odd.tick_discovery_source_limit = 3;  // budget is max(3, 50)
  odd.tick_discovery_batch_limit = 0;   // not > 0 → global knob
  odd.queue_max_depth = 0;              // kept: every tick is queue_full
  odd.concurrent_discovery_batch_limit = 0;
  auto t = resolve_discovery_tick(odd, knobs);
  CHECK(t.batch_size == 50);
  CHECK(t.claim_ttl_minutes == 180);
  CHECK(t.stale_after_hours == 0);
  CHECK(t.tick_source_limit == 3);
  CHECK(t.source_budget() == 50);
  CHECK(t.max_batches_per_tick == 7);
  CHECK(t.queue_max_depth == 0);
  CHECK(t.project_in_flight_cap == 0);

  discovery_tick_payload huge;
  huge.stale_after_hours = std::int64_t{1} << 40;  // does not fit i32 → 24
  CHECK(resolve_discovery_tick(huge, knobs).stale_after_hours == 24);

  DiscoveryAutomation project;
  project.queue_max_depth = 50;
  project.batch_size = 10;
  project.tick_discovery_batch_limit = 2;
  project.concurrent_discovery_batch_limit = 3;
  auto p = resolve_discovery_tick(discovery_tick_payload_from(project, knobs), knobs);
  CHECK(p.queue_max_depth == 50);
  CHECK(p.batch_size == 10);
  CHECK(p.max_batches_per_tick == 2);
  CHECK(p.project_in_flight_cap == 3);
}

TEST_CASE("discovery admission table (spec 4.2)") {
  using setup = std::function<void(discovery_admission_input&)>;
  auto unreachable_casda = [](discovery_admission_input& in) {
    in.tap_health = tap_health_report{{true, false}, {true, true}};
    in.required_adapters = {"CASDA"};
  };
  struct row {
    const char* name;
    int due;
    setup configure;
    std::vector<std::size_t> batches;
    reason_map reasons;
  };
  const std::vector<row> rows = {
      {"defaults: budget 200, 4 batches of 5, then the batch cap",
       40,
       {},
       {5, 5, 5, 5},
       {{R::max_batches_per_tick, 1}}},
      {"disabled", 40, [](auto& in) { in.enabled = false; }, {}, {{R::disabled, 1}}},
      {"required casda unreachable", 40, unreachable_casda, {}, {{R::tap_unreachable, 1}}},
      {"required adapter not configured is not probed",
       40,
       [](auto& in) {
         in.tap_health = tap_health_report{{false, false}, {true, true}};
         in.required_adapters = {"casda"};
       },
       {5, 5, 5, 5},
       {{R::max_batches_per_tick, 1}}},
      {"unreachable adapter that is not required",
       40,
       [](auto& in) {
         in.tap_health = tap_health_report{{true, true}, {true, false}};
         in.required_adapters = {"casda"};
       },
       {5, 5, 5, 5},
       {{R::max_batches_per_tick, 1}}},
      {"probe disabled: no TAP check",
       40,
       [](auto& in) {
         in.tap_health = std::nullopt;
         in.required_adapters = {"casda", "vizier"};
       },
       {5, 5, 5, 5},
       {{R::max_batches_per_tick, 1}}},
      {"queue full at the global depth",
       40,
       [](auto& in) { in.queue_depth = 200; },
       {},
       {{R::queue_full, 1}}},
      {"project queue_max_depth overrides the global depth",
       40,
       [](auto& in) {
         in.payload.queue_max_depth = 50;
         in.queue_depth = 50;
       },
       {},
       {{R::queue_full, 1}}},
      {"loop re-checks queue depth: each batch adds one queued job",
       40,
       [](auto& in) {
         in.payload.queue_max_depth = 10;
         in.queue_depth = 8;
       },
       {5, 5},
       {{R::queue_full, 1}}},
      {"global in-flight cap",
       40,
       [](auto& in) { in.global_in_flight_batches = 4; },
       {},
       {{R::in_flight_cap, 1}}},
      {"global in-flight cap 0 pauses discovery",
       40,
       [](auto& in) { in.knobs.discovery_max_in_flight_batches = 0; },
       {},
       {{R::in_flight_cap, 1}}},
      {"loop re-checks the in-flight cap: each batch is one more live claim",
       40,
       [](auto& in) { in.global_in_flight_batches = 2; },
       {5, 5},
       {{R::in_flight_cap, 1}}},
      {"project in-flight cap",
       40,
       [](auto& in) {
         in.payload.concurrent_discovery_batch_limit = 2;
         in.project_in_flight_batches = 2;
       },
       {},
       {{R::project_in_flight_cap, 1}}},
      {"project cap 0 always blocks",
       40,
       [](auto& in) { in.payload.concurrent_discovery_batch_limit = 0; },
       {},
       {{R::project_in_flight_cap, 1}}},
      // As in the reference, the project cap is checked once before the loop, not per batch.
      {"project cap is not re-checked inside the loop",
       40,
       [](auto& in) {
         in.payload.concurrent_discovery_batch_limit = 2;
         in.project_in_flight_batches = 1;
       },
       {5, 5, 5, 5},
       {{R::max_batches_per_tick, 1}}},
      {"project tick_discovery_batch_limit",
       40,
       [](auto& in) { in.payload.tick_discovery_batch_limit = 2; },
       {5, 5},
       {{R::max_batches_per_tick, 1}}},
      {"global per-tick cap when the project sets none",
       40,
       [](auto& in) { in.knobs.discovery_max_batches_per_tick = 1; },
       {5},
       {{R::max_batches_per_tick, 1}}},
      {"batch cap reached exactly as the Due set runs out: no reason",
       10,
       [](auto& in) { in.payload.tick_discovery_batch_limit = 2; },
       {5, 5},
       {}},
      {"source budget splits the last batch",
       40,
       [](auto& in) { in.payload.tick_discovery_source_limit = 12; },
       {5, 5, 2},
       {}},
      {"budget is max(tick_source_limit, batch_size)",
       40,
       [](auto& in) { in.payload.tick_discovery_source_limit = 3; },
       {5},
       {}},
      {"Due set runs out", 7, {}, {5, 2}, {}},
      {"nothing due", 0, {}, {}, {}},
      {"manual trigger: batch_size 50, budget 50",
       120,
       [](auto& in) { in.payload = discovery_tick_payload{}; },
       {50},
       {}},
      {"batch_size 0 falls back to 50",
       120,
       [](auto& in) {
         in.payload.batch_size = 0;
         in.payload.tick_discovery_source_limit = 120;
       },
       {50, 50, 20},
       {}},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    auto in = discovery_input(r.due);
    if (r.configure) r.configure(in);
    auto d = decide_discovery_admission(in);
    CHECK(batch_sizes(d) == r.batches);
    CHECK(d.reasons.counts == r.reasons);
  }
}

TEST_CASE("discovery batches take Due sources in order, with the claim TTL") {
  auto in = discovery_input(12);
  in.payload.tick_discovery_source_limit = 12;
  in.payload.claim_ttl_minutes = 30;
  auto d = decide_discovery_admission(in);
  REQUIRE(d.batches.size() == 3);
  CHECK(d.batches[0].source_identifiers ==
        std::vector<std::string>{"D00", "D01", "D02", "D03", "D04"});
  CHECK(d.batches[1].source_identifiers ==
        std::vector<std::string>{"D05", "D06", "D07", "D08", "D09"});
  CHECK(d.batches[2].source_identifiers == std::vector<std::string>{"D10", "D11"});
  CHECK(d.total_sources() == 12);
  CHECK(d.claim_ttl_minutes == 30);

  auto tap = discovery_input(3);
  tap.tap_health = tap_health_report{{true, false}, {true, false}};
  tap.required_adapters = {"vizier", "casda", "Casda", "other"};
  auto t = decide_discovery_admission(tap);
  CHECK(t.tap_unreachable == std::vector<std::string>{"vizier", "casda"});
  CHECK(t.batches.empty());
}

// --- execution ---

TEST_CASE("in-flight executions count every active status whatever the scheduler (Q7 fix)") {
  using S = execution_status;
  const std::vector<std::pair<S, bool>> statuses = {
      {S::pending, true},        {S::running, true},
      {S::retrying, true},       {S::awaiting_scheduler, true},
      {S::not_submitted, false}, {S::completed, false},
      {S::failed, false},        {S::cancelled, false},
  };
  for (const auto& [s, counts] : statuses) {
    INFO(to_string(s));
    CHECK(counts_as_in_flight(s) == counts);
  }
  const std::vector<execution_snapshot> executions = {
      {"wallaby_hires", "p1", S::awaiting_scheduler},  // submitted to Slurm: counts at HEAD
      {"wallaby_hires", "p1", S::running},
      {"wallaby_hires", "p2", S::pending},
      {"wallaby_hires", std::nullopt, S::retrying},
      {"other", "p1", S::awaiting_scheduler},
      {"wallaby_hires", "p1", S::completed},
      {"other", "p1", S::failed},
  };
  auto n = count_executions_in_flight(executions, "wallaby_hires", std::string("p1"));
  CHECK(n.global == 5);
  CHECK(n.project == 4);
  CHECK(n.profile == 3);
  CHECK(count_executions_in_flight(executions, "wallaby_hires", std::nullopt).profile == 0);

  // Two runs awaiting the scheduler fill the default global cap of 2.
  auto in = execution_input();
  in.knobs.execution_max_in_flight_runs = 2;
  in.global_in_flight =
      count_executions_in_flight(
          {{"m", "p", S::awaiting_scheduler}, {"m", "p", S::awaiting_scheduler}}, "m", std::nullopt)
          .global;
  in.pending = ready_sources(3);
  auto d = decide_execution_admission(in);
  CHECK(d.reasons.counts == reason_map{{R::in_flight_cap, 1}});
  CHECK(d.executions.empty());
  CHECK(d.claimed.empty());
}

TEST_CASE("execution admission table (spec 4.3 with HEAD caps)") {
  using setup = std::function<void(execution_admission_input&)>;
  struct row {
    const char* name;
    int pending;
    setup configure;
    std::int64_t run_limit;
    std::size_t claimed;
    std::vector<std::size_t> executions;
    reason_map reasons;
  };
  const std::vector<row> rows = {
      {"defaults: run_limit min(20, 10 - 0), one chunk of 20", 25, {}, 10, 25, {20, 5}, {}},
      {"disabled", 5, [](auto& in) { in.policy.enabled = false; }, 0, 0, {}, {{R::disabled, 1}}},
      {"project cap reached",
       5,
       [](auto& in) {
         in.policy.concurrent_execution_run_limit = 2;
         in.project_in_flight = 2;
       },
       0,
       0,
       {},
       {{R::project_in_flight_cap, 1}}},
      {"global cap reached",
       5,
       [](auto& in) { in.global_in_flight = 10; },
       0,
       0,
       {},
       {{R::in_flight_cap, 1}}},
      {"queue full at the global depth",
       5,
       [](auto& in) { in.queue_depth = 200; },
       0,
       0,
       {},
       {{R::queue_full, 1}}},
      {"no pending sources", 0, {}, 0, 0, {}, {{R::no_pending_sources, 1}}},
      {"disabled sources are not pending",
       3,
       [](auto& in) {
         for (auto& s : in.pending) s.readiness.enabled = false;
       },
       0,
       0,
       {},
       {{R::no_pending_sources, 1}}},
      {"threshold not met",
       3,
       [](auto& in) { in.policy.min_sources_to_trigger = 5; },
       0,
       0,
       {},
       {{R::threshold_not_met, 1}}},
      {"threshold met",
       5,
       [](auto& in) {
         in.policy.min_sources_to_trigger = 5;
         in.policy.max_sources_per_execution = 2;
       },
       10,
       5,
       {2, 2, 1},
       {}},
      {"max_wait bypasses the threshold at exactly max_wait_minutes",
       3,
       [](auto& in) {
         in.policy.min_sources_to_trigger = 5;
         in.pending[1].workflow_run_pending_at = kNow - 1440min;
       },
       10,
       3,
       {3},
       {}},
      {"one minute short of max_wait",
       3,
       [](auto& in) {
         in.policy.min_sources_to_trigger = 5;
         in.pending[1].workflow_run_pending_at = kNow - 1439min;
       },
       0,
       0,
       {},
       {{R::threshold_not_met, 1}}},
      {"max_wait_minutes from the policy",
       3,
       [](auto& in) {
         in.policy.min_sources_to_trigger = 5;
         in.policy.max_wait_minutes = 30;
       },
       10,
       3,
       {3},
       {}},
      {"no pending_at: max_wait cannot trigger",
       3,
       [](auto& in) {
         in.policy.min_sources_to_trigger = 5;
         in.policy.max_wait_minutes = 1;
         for (auto& s : in.pending) s.workflow_run_pending_at.reset();
       },
       0,
       0,
       {},
       {{R::threshold_not_met, 1}}},
      {"live claims still count as pending",
       3,
       [](auto& in) {
         in.policy.min_sources_to_trigger = 3;
         in.pending[0].live_workflow_claim = true;
       },
       10,
       2,
       {2},
       {}},
      {"only live-claimed sources: nothing claimed, quiet end",
       2,
       [](auto& in) {
         for (auto& s : in.pending) s.live_workflow_claim = true;
       },
       10,
       0,
       {},
       {}},
      {"project headroom limits run_limit",
       10,
       [](auto& in) {
         in.policy.concurrent_execution_run_limit = 3;
         in.project_in_flight = 1;
         in.policy.max_sources_per_execution = 2;
       },
       2,
       4,
       {2, 2},
       {}},
      {"global headroom limits run_limit",
       10,
       [](auto& in) {
         in.global_in_flight = 9;
         in.policy.max_sources_per_execution = 2;
       },
       1,
       2,
       {2},
       {}},
      {"profile headroom limits run_limit",
       10,
       [](auto& in) {
         in.profile_max_concurrent_executions = 3;
         in.profile_in_flight = 1;
         in.policy.max_sources_per_execution = 2;
       },
       2,
       4,
       {2, 2},
       {}},
      {"profile cap reached",
       5,
       [](auto& in) {
         in.profile_max_concurrent_executions = 1;
         in.profile_in_flight = 1;
       },
       0,
       0,
       {},
       {{R::profile_in_flight_cap, 1}}},
      {"profile cap over-full (manual runs)",
       5,
       [](auto& in) {
         in.profile_max_concurrent_executions = 2;
         in.profile_in_flight = 4;
       },
       0,
       0,
       {},
       {{R::profile_in_flight_cap, 1}}},
      {"tick_execution_run_limit 0 is rate_limited",
       5,
       [](auto& in) { in.policy.tick_execution_run_limit = 0; },
       0,
       0,
       {},
       {{R::rate_limited, 1}}},
      {"tick_execution_run_limit caps executions",
       10,
       [](auto& in) {
         in.policy.tick_execution_run_limit = 2;
         in.policy.max_sources_per_execution = 3;
       },
       2,
       6,
       {3, 3},
       {}},
      {"claim limit: tick_execution_source_limit below run_limit x chunk",
       10,
       [](auto& in) {
         in.policy.tick_execution_source_limit = 3;
         in.policy.max_sources_per_execution = 2;
       },
       10,
       3,
       {2, 1},
       {}},
      {"tick_execution_source_limit 0 claims nothing",
       10,
       [](auto& in) { in.policy.tick_execution_source_limit = 0; },
       10,
       0,
       {},
       {}},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    auto in = execution_input();
    in.pending = ready_sources(r.pending);
    if (r.configure) r.configure(in);
    auto d = decide_execution_admission(in);
    CHECK(d.run_limit == r.run_limit);
    CHECK(d.claimed.size() == r.claimed);
    std::vector<std::size_t> sizes;
    for (const auto& e : d.executions) sizes.push_back(e.source_identifiers.size());
    CHECK(sizes == r.executions);
    CHECK(d.reasons.counts == r.reasons);
    CHECK(d.release_claims == d.claimed);
    CHECK(static_cast<std::int64_t>(d.executions.size()) <= std::max<std::int64_t>(d.run_limit, 0));
  }
}

TEST_CASE("execution claim limit is computed after run_limit (HEAD)") {
  auto in = execution_input();
  in.knobs.execution_max_in_flight_runs = 2;
  in.global_in_flight = 1;  // run_limit = min(20, 2 - 1) = 1
  in.policy.max_sources_per_execution = 4;
  in.pending = ready_sources(30);
  auto d = decide_execution_admission(in);
  CHECK(d.run_limit == 1);
  CHECK(d.source_claim_limit == 4);  // baseline would have claimed 500
  CHECK(d.claimed == std::vector<std::string>{"S00", "S01", "S02", "S03"});
  CHECK(runs(d) == std::vector<std::vector<std::string>>{{"S00", "S01", "S02", "S03"}});
  CHECK(d.clear_pending == d.claimed);
  CHECK(d.claim_ttl_minutes == 180);
}

TEST_CASE("a named profile that does not exist refuses the tick, never the default (issue #17)") {
  auto in = execution_input();
  in.policy.deployment_profile_name = "slurm-remote";
  in.pending = ready_sources(3);
  // The profile exists: admitted as usual.
  auto ok = decide_execution_admission(in);
  CHECK(runs(ok) == std::vector<std::vector<std::string>>{{"S00", "S01", "S02"}});
  CHECK_FALSE(ok.error);

  in.named_profile_missing = true;
  auto d = decide_execution_admission(in);
  CHECK(d.executions.empty());
  CHECK(d.claimed.empty());
  CHECK(d.clear_pending.empty());  // the sources stay pending for when the profile exists
  CHECK(d.reasons.counts == reason_map{{R::profile_not_found, 1}});
  REQUIRE(d.error);
  CHECK(d.error->find("deployment profile 'slurm-remote'") != std::string::npos);
  CHECK(d.error->find("automation.execution.deployment_profile_name") != std::string::npos);

  // Nothing waiting: the tick says so rather than repeat the error.
  in.pending.clear();
  auto idle = decide_execution_admission(in);
  CHECK(idle.reasons.counts == reason_map{{R::no_pending_sources, 1}});
  CHECK_FALSE(idle.error);

  // Without a name the flag means nothing (the default profile is the policy's choice).
  in.pending = ready_sources(1);
  in.policy.deployment_profile_name.reset();
  CHECK(decide_execution_admission(in).executions.size() == 1);
}

TEST_CASE("execution claims: pending_at ASC NULLS LAST, then created_at, live claims excluded") {
  auto in = execution_input();
  in.policy.max_sources_per_execution = 10;
  in.pending = {
      ready("null-early", std::nullopt, kNow - 90h), ready("recent", kNow - 5min, kNow - 80h),
      ready("old-late", kNow - 10min, kNow - 10h),   ready("old-early", kNow - 10min, kNow - 70h),
      ready("null-late", std::nullopt, kNow - 1h),   ready("claimed", kNow - 99h, kNow - 99h),
  };
  in.pending.back().live_workflow_claim = true;
  auto d = decide_execution_admission(in);
  const std::vector<std::string> order = {"old-early", "old-late", "recent", "null-early",
                                          "null-late"};
  CHECK(d.claimed == order);
  CHECK(runs(d) == std::vector<std::vector<std::string>>{order});
  // The live-claimed source is the oldest pending one, so it still drives max_wait.
  CHECK(d.oldest_pending_at == kNow - 99h);
  CHECK(d.pending_count == 6);

  // The claim limit keeps the head of that order.
  in.policy.tick_execution_source_limit = 2;
  CHECK(decide_execution_admission(in).claimed ==
        std::vector<std::string>{"old-early", "old-late"});
}

TEST_CASE("execution chunks: already executed, not ready and valid partitions") {
  auto in = execution_input();
  in.policy.max_sources_per_execution = 3;
  std::vector<pending_source> p;
  for (const auto& sid : numbered("C", 9)) p.push_back(ready(sid, kNow - 1h, kNow - 48h));
  for (int i = 0; i < 9; ++i) p[i].created_at = kNow - 48h + i * 1s;
  // chunk 1: C00 already executed, C01 never discovered, C02 valid
  p[0].readiness.last_executed_discovery_signature = p[0].readiness.discovery_signature;
  p[1].readiness.last_checked_at_set = false;
  // chunk 2: all blocked (empty chunk, skipped without using the run limit)
  p[3].readiness.discovery_claim_token = "0190-lease";
  p[4].readiness.metadata_rows.clear();
  p[5].readiness.last_executed_discovery_signature = p[5].readiness.discovery_signature;
  // chunk 3: C06..C08 valid
  in.pending = p;
  auto d = decide_execution_admission(in);

  CHECK(d.claimed == numbered("C", 9));
  CHECK(runs(d) == std::vector<std::vector<std::string>>{{"C02"}, {"C06", "C07", "C08"}});
  CHECK(d.clear_pending == std::vector<std::string>{"C00", "C02", "C05", "C06", "C07", "C08"});
  CHECK(d.release_claims == d.claimed);
  CHECK(d.reasons.counts == reason_map{{R::sources_skipped_not_ready, 3}});
  REQUIRE(d.skipped.size() == 5);
  CHECK(d.skipped[0].source_identifier == "C00");
  CHECK(d.skipped[0].reason == kAlreadyExecutedReason);
  CHECK(d.skipped[1].source_identifier == "C01");
  CHECK(d.skipped[1].reason ==
        "Source C01: Discovery has not yet run for this source (last_checked_at is unset). Run "
        "discovery first (POST /api/v2/sources/discover).");
  CHECK(d.skipped[2].reason ==
        "Source C03: Discovery is still in progress for this source (active lease). Wait and "
        "retry.");
  CHECK(d.skipped[3].reason ==
        "Source C04 has no discovered metadata. Run discovery first (POST "
        "/api/v2/sources/discover).");
  CHECK(d.skipped[4].source_identifier == "C05");
  CHECK(d.skipped[4].reason == kAlreadyExecutedReason);

  // With run_limit 1 only the first chunk with a valid source yields an execution; the claim
  // limit (1 × 3) keeps the later chunks unclaimed.
  in.policy.tick_execution_run_limit = 1;
  auto one = decide_execution_admission(in);
  CHECK(one.claimed == std::vector<std::string>{"C00", "C01", "C02"});
  CHECK(runs(one) == std::vector<std::vector<std::string>>{{"C02"}});
  CHECK(one.clear_pending == std::vector<std::string>{"C00", "C02"});
}

TEST_CASE("lenient execution policy feeds admission with its defaults") {
  auto spec = json::parse(
      R"({"automation":{"execution":{"enabled":true,"max_sources_per_execution":-4,
          "tick_execution_run_limit":"3","min_sources_to_trigger":2}}})");
  auto in = execution_input();
  in.policy = lenient_execution_policy(spec);
  CHECK(in.policy.max_sources_per_execution == 20);
  in.pending = ready_sources(25);
  auto d = decide_execution_admission(in);
  CHECK(d.run_limit == 10);
  CHECK(runs(d).size() == 2);
  CHECK(runs(d)[0].size() == 20);
}

// --- job errors and retry delay ---

TEST_CASE("non-retryable job errors per kind (spec 3.10)") {
  struct row {
    const char* kind;
    const char* message;
    bool non_retryable;
  };
  const std::vector<row> rows = {
      {"execute", "DALiuGE Translation Manager at http://dlg-tm.desk is unreachable", true},
      {"execute", "CASDA Authentication Failed: HTTP 401", true},
      {"execute", "CASDA credentials required for staging", true},
      {"execute", "translation manager returned 500", true},
      {"execute", "PREFLIGHT check failed: graph missing", true},
      {"execute", "DIM at http://dim:8001 refused the session", true},
      {"execute", "host Unreachable", true},
      {"execute", "database timeout", false},
      {"execute", "HTTP 401", false},
      {"discover_batch", "authentication failed for TAP", true},
      {"discover_batch", "server said 401", true},
      {"discover_batch", "TAP endpoint unreachable", false},
      {"discover_batch", "connection failed", false},
      {"slurm_poll_tick", "SSH authentication failed", true},
      {"slurm_poll_tick", "Connection Failed: timeout", true},
      {"slurm_poll_tick", "login node unreachable", true},
      {"slurm_poll_tick", "squeue exited 1", false},
      {"dim_poll", "connection failed", true},
      {"dim_poll", "DIM unreachable", true},
      {"dim_poll", "authentication failed", true},
      {"dim_poll", "401", false},
      {"dim_poll_tick", "unreachable", true},
      {"dim_poll_tick", "session not found", false},
      {"scheduler_tick", "authentication failed, unreachable", false},
      {"execution_scheduler_tick", "unreachable", false},
      {"alert_evaluator_tick", "connection failed", false},
      {"EXECUTE", "unreachable", false},  // the kind is matched exactly
  };
  for (const auto& r : rows) {
    INFO(r.kind << ": " << r.message);
    CHECK(is_non_retryable_job_error(r.kind, r.message) == r.non_retryable);
  }
}

TEST_CASE("failure classes (HEAD), first matching row wins") {
  const std::vector<std::pair<const char*, const char*>> rows = {
      {"TAP query timeout after 30s", "timeout"},
      {"request Timed Out", "timeout"},
      {"authentication timed out", "timeout"},
      {"HTTP 401 Unauthorized", "authentication"},
      {"CASDA authentication failed", "authentication"},
      {"missing credentials", "authentication"},
      {"non-retryable: graph invalid", "configuration"},
      {"Non-Retryable credential problem", "authentication"},
      {"409 Conflict", "conflict"},
      {"session already exists", "conflict"},
      {"connection refused", "dependency_unavailable"},
      {"", "dependency_unavailable"},
  };
  for (const auto& [message, cls] : rows) {
    INFO(message);
    CHECK(failure_class_of(message) == cls);
  }
}

TEST_CASE("retry delay: min(3600, 15 * 2^min(attempts-1, 8) + uuid mod 11)") {
  const std::vector<std::pair<const char*, std::int64_t>> jitters = {
      {"00000000-0000-0000-0000-000000000000", 0},
      {"00000000-0000-0000-0000-00000000000a", 10},
      {"0190a5c4-7b2e-7c3d-8e4f-5a6b7c8d9e0f", 4},
      {"0190A5C4-7B2E-7C3D-8E4F-5A6B7C8D9E0F", 4},
      {"0190a5c47b2e7c3d8e4f5a6b7c8d9e0f", 4},
      {"ffffffff-ffff-ffff-ffff-ffffffffffff", 2},  // (2^128 - 1) mod 11
      {"0190f3a2-1c4d-7e5f-9a0b-1c2d3e4f5a6b", 1},
  };
  for (const auto& [uuid, jitter] : jitters) {
    INFO(uuid);
    CHECK(uuid_mod_11(uuid) == jitter);
  }
  for (const char* bad :
       {"", "not-a-uuid", "0190a5c4-7b2e-7c3d-8e4f-5a6b7c8d9e0",
        "0190a5c4_7b2e_7c3d_8e4f_5a6b7c8d9e0f", "0190a5c4-7b2e-7c3d-8e4f-5a6b7c8d9e0g"}) {
    INFO(bad);
    CHECK_FALSE(uuid_mod_11(bad));
    CHECK_FALSE(job_retry_delay_seconds(1, std::string_view(bad)));
  }

  const std::string uuid = "0190a5c4-7b2e-7c3d-8e4f-5a6b7c8d9e0f";  // jitter 4
  const std::vector<std::pair<std::int64_t, std::int64_t>> delays = {
      {1, 15 + 4},   {2, 30 + 4}, {3, 60 + 4}, {4, 120 + 4}, {5, 240 + 4},
      {8, 1920 + 4}, {9, 3600},   {20, 3600},  {0, 15 + 4},  {-3, 15 + 4},
  };
  for (const auto& [attempts, seconds] : delays) {
    INFO("attempts " << attempts);
    CHECK(job_retry_delay_seconds(attempts, std::string_view(uuid)) == seconds);
  }
  // 15·256 = 3840 already exceeds the cap, whatever the jitter.
  CHECK(job_retry_delay_seconds(9, 0) == 3600);
  CHECK(job_retry_delay_seconds(1, 10) == 25);
  CHECK(job_retry_delay_seconds(8, 10) == 1930);
}

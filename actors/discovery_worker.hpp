#pragma once
// Runs outstanding discovery requests. It finds them in the source_registry read model
// (a DiscoveryRequested without outcome, whose retry time has come), claims each attempt
// with a job lease, runs it on a bounded pool, and answers the source aggregate for that
// request id and attempt: DiscoveryCompleted, DiscoveryFailed (non-retryable, or the
// attempts are used up: dead letter) or DiscoveryAttemptFailed (retry after an exponential
// backoff with jitter). The lease keeps two workers off the same attempt; a worker that dies
// holding one lets it expire, and the next claimant records that attempt as failed before
// running the next. The aggregate accepts one answer per attempt, so a stale worker can
// never record an outcome. One source's failure never touches the others.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "actors/runtime.hpp"
#include "adapters/wasm_hooks.hpp"
#include "domain/discovery_run.hpp"
#include "domain/project_config.hpp"
#include "store/db.hpp"

namespace beampipe::actors {

// Chooses the archive for a project config: the real TAP services when configured, else the
// simulated archive. Returns a description for logs and /ready alongside the query function.
struct archive_binding {
  domain::archive_query query;
  std::string description;  // e.g. "simulated" or "tap casda=https://… vizier=…"
  bool simulated = false;
};
using archive_provider = std::function<archive_binding(const domain::ProjectConfig&)>;

struct discovery_worker_options {
  size_t concurrency = 4;  // BEAMPIPE_DISCOVERY_SOURCE_CONCURRENCY
  std::chrono::milliseconds poll{200};
  std::chrono::milliseconds lock{std::chrono::seconds(120)};  // BEAMPIPE_WORKER_LOCK_SECONDS
  int max_attempts = 3;                                       // BEAMPIPE_WORKER_MAX_ATTEMPTS
  int64_t retry_base_ms = 15000;                              // BEAMPIPE_WORKER_RETRY_BASE_MS
  // Runs projects' prepare_metadata hooks (§5.9); none run without it.
  std::shared_ptr<adapters::wasm_hook_runner> wasm;
};

class discovery_worker {
 public:
  discovery_worker(runtime& rt, store::database& db, archive_provider archives,
                   discovery_worker_options opts);
  ~discovery_worker();
  void start();
  void stop();
  uint64_t completed() const { return completed_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::atomic<uint64_t> completed_{0}, failed_{0};
};

}  // namespace beampipe::actors

#pragma once
// Runs outstanding discovery requests. It finds them in the source_registry read model
// (a DiscoveryRequested without outcome), runs each on a bounded pool, and answers the
// source aggregate with DiscoveryCompleted or DiscoveryFailed for that request id. The
// aggregate accepts one answer per request, so two workers (or a worker restarted after a
// crash) can never record two outcomes; a crash before answering leaves the request
// outstanding and it is simply run again. One source's failure never touches the others.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "actors/runtime.hpp"
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
};

class discovery_worker {
 public:
  discovery_worker(runtime& rt, std::string conninfo, archive_provider archives,
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

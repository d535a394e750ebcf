#pragma once
// Probes what beampipe depends on, in the background, so /metrics and /ready report dependency
// health without probing on the request path: PostgreSQL (SELECT 1), the configured TAP
// services, and with real backends each deployment profile's Translator Manager and DIM (an
// HTTP answer below 500) or Slurm login node (`squeue --version` over the pooled SSH session
// of the Slurm backend: a banner alone says nothing about host keys, keys or Slurm).
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/execution_backend.hpp"
#include "store/database.hpp"

namespace beampipe::services {

struct dependency_probe {
  std::string dependency;  // postgres | tap_casda | tap_vizier | daliuge_tm | daliuge_dim | slurm
  std::string target;      // what was probed (URL without query, host:port)
  bool up = false;
  double seconds = 0;      // probe latency
  std::string detail;      // why it is down (never a credential: URLs are redacted)
  std::string checked_at;  // RFC 3339
};

struct dependency_prober_options {
  std::chrono::seconds every{60};  // BEAMPIPE_DEPENDENCY_PROBE_SECONDS; 0: never
  std::chrono::seconds timeout{5};
  std::vector<std::pair<std::string, std::string>> tap_urls;  // (dependency name, base URL)
  bool real_backends = false;  // probe the profiles' TM/DIM/Slurm targets
  // The backends executions use (their check_target), so a probe shares their pooled
  // connections and credentials. Unset: Slurm targets are not probed.
  adapters::backend_factory backends;
};

// One probe of each kind; a prober's round is made of these, and GET /diagnostics runs them on
// demand. An HTTP service is up when it answers below 500.
dependency_probe probe_http(const std::string& dependency, const std::string& url,
                            std::chrono::seconds timeout);
dependency_probe probe_tap(const std::string& dependency, const std::string& url,
                           std::chrono::seconds timeout);
// A Slurm login node takes commands: the backend's own check over its pooled SSH session.
dependency_probe probe_slurm(adapters::execution_backend& backend,
                             const domain::DeploymentProfile& profile, const std::string& target,
                             std::chrono::seconds timeout);
// The Translator Manager, DIM or Slurm login node of one profile ({name, translation,
// deployment}); a target already in `seen` is skipped. Slurm needs `backends`.
std::vector<dependency_probe> probe_profile(const boost::json::object& profile,
                                            const adapters::backend_factory& backends,
                                            std::chrono::seconds timeout,
                                            std::set<std::string>* seen = nullptr);

class dependency_prober {
 public:
  dependency_prober(store::database& db, dependency_prober_options opts);
  ~dependency_prober();
  void start();
  void stop();
  // One round now, on the caller's thread (tests; the first round at start).
  void probe_now();
  std::vector<dependency_probe> snapshot() const;

 private:
  void loop();
  store::database& db_;
  dependency_prober_options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<dependency_probe> last_;
  std::thread thread_;
};

}  // namespace beampipe::services

#pragma once
// Admission of an execution (spec §9.5 [HEAD]): everything checked before an execution may
// exist — active project config, archive, source count, per-source readiness with SBID
// filters, deployment profile (id, name, or the project's then the global default), its scope
// and concurrency limit — and the pins recorded with it (config revision, profile snapshot,
// per-source and aggregate discovery signatures, output verification policy). Shared by the
// API (operator creates) and the scheduler (automated creates).
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/database.hpp"

namespace beampipe::services {

// The first request-level problem, with the HTTP status, a stable code and the field.
struct admission_error : std::runtime_error {
  int status;
  std::string code, field;
  admission_error(int s, std::string c, const std::string& message, std::string f)
      : std::runtime_error(message), status(s), code(std::move(c)), field(std::move(f)) {}
};

struct execution_admission {
  boost::json::object pins;   // fields added to the create command
  boost::json::array errors;  // per-source readiness problems (preview only)
  std::vector<boost::json::object> preview;
  int64_t total_datasets = 0;
};

// Serialises execution creation across every process sharing the database. A creator (an
// API request, the scheduler's execution tick) holds the gate while it counts the runs in
// flight, creates, and waits until the read models show what it created, so two creators
// can never both see room for the last slot of a profile or a cap. A PostgreSQL advisory
// lock on the gate's own connection: a process that dies releases it with its session. Taking
// it waits at most `lock_wait`, then throws admission_error 503 admission_busy.
class admission_gate {
 public:
  // A job queued with post(): run == false when the gate stops before running it.
  using job = std::function<void(bool run)>;

  explicit admission_gate(store::database& db,
                          std::chrono::milliseconds lock_wait = std::chrono::seconds(30),
                          size_t max_queued = 256);
  ~admission_gate();
  admission_gate(const admission_gate&) = delete;
  admission_gate& operator=(const admission_gate&) = delete;

  // Runs f on the calling thread under the gate (the scheduler's tick).
  template <class F>
  auto run(F&& f) -> decltype(f()) {
    std::lock_guard lk(mu_);
    lock();
    struct unlocker {
      admission_gate* g;
      ~unlocker() { g->unlock(); }
    } u{this};
    return f();
  }
  // Queues `j` to run under the gate on the gate's own thread, after the jobs before it: its
  // waits (counting, creating, the read models) hold that thread, not the caller's. False when
  // `max_queued` jobs wait already, or the gate stopped.
  bool post(job j);
  // Jobs still queued run with run == false; returns once the running one ended.
  void stop();

 private:
  void lock();
  void unlock() noexcept;
  void drain();
  std::mutex mu_;
  store::database& db_;
  std::chrono::milliseconds lock_wait_;
  store::database::dedicated conn_;  // holds the session lock
  size_t max_queued_;
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<job> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

// preview_only: collect readiness problems instead of refusing, skip archive and profile
// checks (POST /executions/prepare). Throws admission_error.
execution_admission admit_execution(store::connection_pool& pool, const boost::json::object& body,
                                    bool preview_only);

// §9.5 canonical request hash of an ExecutionCreate body.
std::string execution_request_sha256(const boost::json::object& body);

}  // namespace beampipe::services

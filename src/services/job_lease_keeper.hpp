#pragma once
// A worker's side of job leases (spec §12.1): claims jobs for this node, renews every lease
// it holds every lock/3 on its own connection, and notices a lost lease so the work done
// under it is dropped instead of recorded. Shared by the discovery and execution workers.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "store/database.hpp"
#include "store/db.hpp"
#include "store/job_leases.hpp"

namespace beampipe::services {

// Node ids are "<host>-<pid>": a node on this host whose pid no longer exists is gone, so
// its leases and submissions need not wait for their expiry. Nodes on other hosts (or with
// other id forms) are never presumed gone.
bool node_gone(const std::string& node, const std::string& self);

class job_lease_keeper {
 public:
  // Renews through the database's job-leases pool (shared by every worker's keeper).
  job_lease_keeper(store::database& db, std::string owner, std::chrono::milliseconds lock);
  ~job_lease_keeper();
  job_lease_keeper(const job_lease_keeper&) = delete;
  job_lease_keeper& operator=(const job_lease_keeper&) = delete;

  // Claims the attempt; a lease held by a node that is gone (node_gone) is expired first, so
  // a restart on the same host resumes its work at once.
  std::optional<store::job_claim> claim(const std::string& job_id, const std::string& kind,
                                        int64_t attempt, const std::string& subject = "",
                                        const std::string& next_run_at = "");
  // False once a renewal was refused: someone else may hold the job now.
  bool held(const store::job_claim& c) const;
  // Ends the claim (fenced); `done` finishes the attempt for good. False when it was lost.
  bool finish(const store::job_claim& c, bool done, const std::string& detail = "");
  // Renews now (tests and shutdown use the periodic loop otherwise).
  void renew_now();
  const std::string& owner() const { return owner_; }
  std::chrono::milliseconds lock() const { return lock_; }

 private:
  void loop();
  store::connection_pool& pool_;
  std::string owner_;
  std::chrono::milliseconds lock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, store::job_claim> held_;  // by job id
  std::set<std::string> lost_;                    // "job_id#token"
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace beampipe::services

#pragma once
// Claims on jobs (spec §12.1): a worker claims a job for one attempt, keeps the lease alive
// while it works, and finishes it fenced by its token. A lease that expires unreleased is
// taken over by the next claimant (a recovery) with a new token, so the former holder can no
// longer finish or renew it. The database clock decides expiry.
#include <chrono>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace beampipe::store {

struct job_claim {
  std::string job_id;
  std::string kind;
  int64_t attempt = 1;  // recurring ticks: the round
  int64_t token = 0;
  bool recovered = false;      // the previous holder's lease expired without a finish
  std::string previous_owner;  // set when recovered
  int recoveries = 0;          // recoveries of this attempt so far, this one included
};

// Claims `job_id` for `attempt`; nullopt when someone holds it, the attempt is finished, or
// the lease already belongs to a newer attempt.
// Recurring ticks (kinds ending in "_tick") claim one round each and name the target they
// serve (`subject`) and when the next round is due (RFC 3339); they keep no claim history.
std::optional<job_claim> claim_job(pqxx::connection& c, const std::string& job_id,
                                   const std::string& kind, int64_t attempt,
                                   const std::string& owner, std::chrono::milliseconds lock,
                                   const std::string& subject = "",
                                   const std::string& next_run_at = "");

// Extends every listed lease `owner` still holds; returns the ids of those it still holds.
// A lease missing from the result is lost: its work must be dropped.
std::vector<std::string> renew_job_leases(pqxx::connection& c, const std::string& owner,
                                          const std::vector<job_claim>& held,
                                          std::chrono::milliseconds lock);

// Ends the claim, fenced by owner and token: `done` marks the attempt finished (never
// claimed again), otherwise the lease is released for another claimant. False when the lease
// was no longer ours.
bool finish_job_lease(pqxx::connection& c, const job_claim& claim, const std::string& owner,
                      bool done, const std::string& detail);

// Expires a lease whose holder is known to be dead, so it can be recovered now. Fenced by
// holder and token; false when the lease changed meanwhile.
bool expire_job_lease(pqxx::connection& c, const std::string& job_id, const std::string& holder,
                      int64_t token);

// Records that `owner` found its lease gone (renewal refused).
void record_job_lease_lost(pqxx::connection& c, const job_claim& claim, const std::string& owner);

struct job_lease_view {
  std::string owner;
  int64_t token = 0;
  std::string state;
  std::string expires_at;  // RFC 3339
  bool live = false;       // held and not expired
};
std::optional<job_lease_view> read_job_lease(pqxx::connection& c, const std::string& job_id);

}  // namespace beampipe::store

#include "store/job_leases.hpp"

#include "store/db.hpp"

namespace beampipe::store {

namespace {
// Lease bookkeeping is coordination, not record (the outcome of a job is in its events): a
// change lost with a database crash only means a lease is claimed or recovered once more.
void relaxed_commit(pqxx::work& tx) {
  tx.exec("SELECT set_config('synchronous_commit', 'off', true)");
}
}  // namespace

std::optional<job_claim> claim_job(pqxx::connection& c, const std::string& job_id,
                                   const std::string& kind, int64_t attempt,
                                   const std::string& owner, std::chrono::milliseconds lock,
                                   const std::string& subject, const std::string& next_run_at) {
  pqxx::work tx{c};
  auto r = exec_prepared_once(
      tx, "job_claim",
      "SELECT token, recovered, coalesce(previous_owner, ''), recoveries "
      "FROM claim_job($1::uuid, $2, $3::bigint, $4, $5::double precision / 1000, nullif($6, ''), "
      "nullif($7, '')::timestamptz)",
      job_id, kind, attempt, owner, static_cast<double>(lock.count()), subject, next_run_at);
  tx.commit();
  if (r.empty()) return std::nullopt;
  job_claim out;
  out.job_id = job_id;
  out.kind = kind;
  out.attempt = attempt;
  out.token = r[0][0].as<int64_t>();
  out.recovered = r[0][1].as<bool>();
  out.previous_owner = r[0][2].as<std::string>();
  out.recoveries = r[0][3].as<int>();
  return out;
}

std::vector<std::string> renew_job_leases(pqxx::connection& c, const std::string& owner,
                                          const std::vector<job_claim>& held,
                                          std::chrono::milliseconds lock) {
  std::vector<std::string> kept;
  if (held.empty()) return kept;
  std::string ids = "{", tokens = "{";
  for (size_t i = 0; i < held.size(); ++i) {
    if (i) ids += ',', tokens += ',';
    ids += held[i].job_id;  // uuids need no quoting in an array literal
    tokens += std::to_string(held[i].token);
  }
  ids += '}', tokens += '}';
  pqxx::work tx{c};
  relaxed_commit(tx);
  auto r = tx.exec_params(
      "UPDATE job_leases l SET renewed_at = clock_timestamp(), "
      "  expires_at = clock_timestamp() + make_interval(secs => $4::double precision / 1000) "
      "FROM unnest($2::uuid[], $3::bigint[]) AS h(job_id, token) "
      "WHERE l.job_id = h.job_id AND l.token = h.token AND l.owner = $1 AND l.state = 'held' "
      "  AND l.expires_at > clock_timestamp() "
      "RETURNING l.job_id::text",
      owner, ids, tokens, static_cast<double>(lock.count()));
  tx.commit();
  for (const auto& row : r) kept.push_back(row[0].as<std::string>());
  return kept;
}

bool finish_job_lease(pqxx::connection& c, const job_claim& claim, const std::string& owner,
                      bool done, const std::string& detail) {
  pqxx::work tx{c};
  relaxed_commit(tx);
  auto r =
      exec_prepared_once(tx, "job_finish",
                         "UPDATE job_leases SET state = $4, renewed_at = clock_timestamp(), "
                         "  expires_at = clock_timestamp() "
                         "WHERE job_id = $1::uuid AND owner = $2 AND token = $3 AND state = 'held'",
                         claim.job_id, owner, claim.token, done ? "done" : "released");
  if (r.affected_rows() != 1) return false;
  if (claim.kind.size() > 5 && claim.kind.compare(claim.kind.size() - 5, 5, "_tick") == 0) {
    tx.commit();  // recurring ticks keep no history
    return true;
  }
  tx.exec_params(
      "INSERT INTO job_claim_history (job_id, kind, attempt, owner, token, action, detail) "
      "VALUES ($1::uuid, $2, $3, $4, $5, $6, nullif($7, ''))",
      claim.job_id, claim.kind, claim.attempt, owner, claim.token, done ? "finished" : "released",
      detail);
  tx.commit();
  return true;
}

bool expire_job_lease(pqxx::connection& c, const std::string& job_id, const std::string& holder,
                      int64_t token) {
  pqxx::work tx{c};
  auto r = tx.exec_params(
      "UPDATE job_leases SET expires_at = clock_timestamp() "
      "WHERE job_id = $1::uuid AND owner = $2 AND token = $3 AND state = 'held'",
      job_id, holder, token);
  tx.commit();
  return r.affected_rows() == 1;
}

void record_job_lease_lost(pqxx::connection& c, const job_claim& claim, const std::string& owner) {
  pqxx::work tx{c};
  tx.exec_params(
      "INSERT INTO job_claim_history (job_id, kind, attempt, owner, token, action, detail) "
      "VALUES ($1::uuid, $2, $3, $4, $5, 'lost', 'renewal refused: result dropped')",
      claim.job_id, claim.kind, claim.attempt, owner, claim.token);
  tx.commit();
}

std::optional<job_lease_view> read_job_lease(pqxx::connection& c, const std::string& job_id) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec_params(
      "SELECT owner, token, state, to_char(expires_at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), state = 'held' AND expires_at > clock_timestamp() "
      "FROM job_leases WHERE job_id = $1::uuid",
      job_id);
  if (r.empty()) return std::nullopt;
  return job_lease_view{r[0][0].as<std::string>(), r[0][1].as<int64_t>(), r[0][2].as<std::string>(),
                        r[0][3].as<std::string>(), r[0][4].as<bool>()};
}

}  // namespace beampipe::store

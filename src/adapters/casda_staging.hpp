// CASDA staging client: OPAL Basic login, DataLink service-descriptor resolution and SODA
// async (UWS) jobs that stage visibilities and calibration evaluation files for download.
//
// Follows protocols §2.1 with the §2.2 corrections (Basic auth on every DataLink GET,
// generic descriptor resolution, service chosen by service_def, error rows classified) and
// domain §7.6 for batching and the record join. Blocking; callers run it off actor threads.
//
// Secrets: the password and the DataLink tokens never appear in messages or in the event
// callback; every URL in a message goes through redact_url (tokens ride in query strings).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http_client.hpp"
#include "adapters/votable.hpp"

namespace beampipe::adapters {

class casda_error : public std::runtime_error {
 public:
  enum class kind {
    authentication,  // bad credentials, or CASDA answered as if the caller were anonymous
    permission,      // the user may not access a data product (the SBID is skipped)
    not_found,       // NotFoundFault, or a job that no longer exists
    usage,           // UsageFault, bad input records, 4xx on a SODA request
    transient,       // connect/timeout/5xx/TransientFault: worth another attempt later
    protocol,        // an answer that does not have the documented shape
    timeout,         // the staging job did not finish within the poll budget
    job_failed,      // the staging job ended in ERROR or ABORTED (message: its errorSummary)
  };
  casda_error(kind k, const std::string& message) : std::runtime_error(message), kind_(k) {}
  kind code() const noexcept { return kind_; }

 private:
  kind kind_;
};

std::string_view to_string(casda_error::kind k) noexcept;

struct casda_credentials {
  std::string username;
  std::string password;
};

// The username plus the password file's content (when a file is named; one trailing newline
// dropped) or the inline password (CASDA_USERNAME, CASDA_PASSWORD_FILE, CASDA_PASSWORD).
// nullopt when the username or the password is empty. Throws casda_error{authentication} when
// the file is named but cannot be read.
std::optional<casda_credentials> casda_credentials_from(const std::string& username,
                                                        const std::string& password,
                                                        const std::string& password_file);

struct casda_staging_config {
  std::string username;
  std::string password;
  std::string login_url = "https://data.csiro.au/casda_vo_proxy/vo/tap/availability";
  // Hosts the Basic credentials may go to besides the login URL's (CASDA_CREDENTIAL_HOSTS).
  // DataLink URLs come from archive metadata: a URL to any other host, or over plain http
  // to anything but loopback, is refused rather than handed the credentials (issue #16).
  std::vector<std::string> credential_hosts;
  bool stage_by_sbid = true;  // one SODA job per SBID, else one combined job
  bool pawsey = false;        // use pawsey_async_service (downloads only work inside Pawsey)
  // Tape recalls take hours: poll slowly for a long time (protocols §2.3).
  std::chrono::milliseconds poll_interval{10'000};
  std::chrono::milliseconds poll_budget{std::chrono::hours{2}};
  // Per-request timeouts, TLS and retries for login/DataLink/poll GETs. The SODA job POST
  // always goes out once (max_attempts = 1): a repeat would create a second job.
  http_options http = [] {
    http_options o;
    o.read_timeout = std::chrono::milliseconds{120'000};
    return o;
  }();
  // Progress notes (batch started, job created, phase changes); URLs redacted, no tokens.
  std::function<void(std::string_view)> on_event;
};

// ---------------------------------------------------------------- DataLink

// A resolved SODA service for one DataLink row: accessURL plus the query parameters the
// descriptor's inputParams ask for (PARAM/@name → the row's value in FIELD[@ID = ref]).
struct casda_service_call {
  std::string access_url;
  std::vector<std::pair<std::string, std::string>> params;
};

struct casda_datalink {
  enum class outcome {
    ok,             // `call` is usable
    no_permission,  // a "permission" error row: skip the SBID
    not_found,      // NotFoundFault
    usage,          // UsageFault
    anonymous,      // only the "Authenticated Data Link" row: the caller was not authenticated
    other_fault,    // another fault row and no usable service row
    no_service,     // neither a usable row nor a fault
  };
  outcome result = outcome::no_service;
  std::string message;  // the fault text (DataLink error_message) or what was missing
  casda_service_call call;
};

// Classifies one DataLink "List of Links" document for `service_def` (protocols §2.2).
// Throws casda_error{protocol} when it is not a readable VOTable or the descriptor is broken.
casda_datalink parse_casda_datalink(std::string_view xml, std::string_view service_def);

// ---------------------------------------------------------------- helpers (exposed for tests)

// Basename of the URL's path: no query, no fragment, not percent-decoded.
std::string url_path_basename(std::string_view url);
// "<N>" from a result id "visibility-<N>" / "visibility-<N>.checksum"; "" otherwise.
std::string visibility_result_key(std::string_view result_id);
// The key of a record's visibility: scan_id (its N when written scan-<N>-…), else N from
// obs_publisher_did "…scan-<N>-…", else N from an access_url "ID=visibility-<N>"; "" if none.
std::string record_scan_key(const boost::json::object& record);
// SBIDs in staging order: numeric ascending, then non-numeric ones bytewise.
bool sbid_less(const std::string& a, const std::string& b);

// ---------------------------------------------------------------- staging

struct casda_batch_report {
  std::string label;               // the SBID, "combined" or "evaluation"
  std::vector<std::string> sbids;  // SBIDs whose records the batch covered
  std::string job_url;             // without query
  std::string phase;               // last UWS phase seen ("" when no job ran)
  std::size_t result_count = 0;
  bool skipped = false;  // permission denied: records dropped, SBIDs skipped
  std::string error;     // evaluation batch only: the ignored failure
};

struct casda_staging_result {
  boost::json::array records;           // augmented records of successfully staged batches
  std::set<std::string> skipped_sbids;  // permission denied
  std::vector<casda_batch_report> batches;
  // {"records": [...], "skipped_sbids": [...], "batches": [{label, sbids, job_url, phase,
  //  result_count, skipped, error}]}
  boost::json::object to_json() const;
};

class casda_staging_client {
 public:
  // Throws casda_error{usage} for an unparsable login URL.
  explicit casda_staging_client(casda_staging_config config);

  // GET login_url with Basic auth; 2xx or casda_error (401 → authentication).
  void login() const;

  // login(), then one SODA job per batch and one for the evaluation files; returns the
  // records augmented with staged_url, checksum_url, evaluation_file_url and
  // evaluation_file_checksum_url. Throws casda_error on any failure except permission
  // (skipped SBIDs) and evaluation-batch failures (ignored, reported).
  casda_staging_result stage(const boost::json::array& records) const;

  struct job_outcome {
    std::string job_url;  // full job URL (no secrets: the job id is not a credential)
    std::string phase;
    std::vector<std::pair<std::string, std::string>> results;  // (id, href) as sent
  };
  // Creates a SODA job for the calls (all the same accessURL), runs it and polls it to
  // COMPLETED within the budget. Exposed for tests and for callers staging other products.
  job_outcome run_soda_job(const std::vector<casda_service_call>& calls) const;
  // GET the DataLink URL with Basic auth and classify it for the configured service.
  casda_datalink fetch_datalink(const std::string& url) const;

 private:
  void note(const std::string& message) const;
  // The Authorization header for `url`, or a refusal when the credentials must not go there.
  std::string basic_auth(const std::string& url) const;

  casda_staging_config config_;
  http_client http_;       // GETs and the phase POST (retried)
  http_client http_once_;  // the job-creating POST (never repeated)
};

}  // namespace beampipe::adapters

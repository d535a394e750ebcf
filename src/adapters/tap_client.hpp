// IVOA TAP 1.1 client: sync queries, async queries through UWS 1.1, and a health probe.
//
// Blocking; callers run it off actor threads. Every answer is read as a VOTable and its
// QUERY_STATUS checked whatever the HTTP status (services report ADQL errors under 200).
#pragma once

#include "adapters/http_client.hpp"
#include "adapters/votable.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::adapters {

class tap_error : public std::runtime_error {
 public:
  enum class kind {
    query,          // the service rejected or failed the query (ADQL error, ...): not retryable
    transport,      // connect/timeout/5xx/overload: retryable
    job_failed,     // async job ended in ERROR or ABORTED
    deadline,       // async job did not finish before the overall deadline: retryable
    bad_response,   // not a VOTable, unexpected status, missing Location, bad UWS document
  };
  tap_error(kind k, const std::string& message, bool retryable)
      : std::runtime_error(message), kind_(k), retryable_(retryable) {}
  kind code() const noexcept { return kind_; }
  bool retryable() const noexcept { return retryable_; }

 private:
  kind kind_;
  bool retryable_;
};

struct tap_options {
  std::string base_url;                        // ".../tap"; a trailing "/sync" or "/" is dropped
  std::optional<std::string> response_format;  // RESPONSEFORMAT, e.g. "votable/td"
  std::optional<long> maxrec;                  // MAXREC
  http_options http;                           // timeouts, retries, TLS, size bound
  votable_limits limits;
  // async (UWS)
  std::chrono::milliseconds async_deadline{600'000};  // create → result, overall
  std::chrono::seconds wait_seconds{10};              // UWS 1.1 blocking poll (?WAIT=)
  std::chrono::milliseconds poll_initial{250};        // backoff between polls
  std::chrono::milliseconds poll_max{5'000};
  bool delete_jobs = true;                            // DELETE the job when done
  // Called with each async job URL once created (for logs and provenance).
  std::function<void(const std::string& job_url)> on_job_created;
};

struct tap_health {
  bool available = false;
  std::string detail;  // the VOSI note, the error, or "query ok"
  std::chrono::milliseconds latency{0};
};

// The parts of a UWS job document the client uses.
struct uws_job {
  std::string job_id;
  std::string phase;
  struct result {
    std::string id;
    std::string href;  // XML-unescaped, never percent-decoded (pre-signed URLs)
  };
  std::vector<result> results;
  std::string error_message;  // uws:errorSummary/uws:message
};
uws_job parse_uws_job(std::string_view xml);  // throws tap_error{bad_response}

// 'O''Brien' — an ADQL string literal with single quotes doubled.
std::string adql_string_literal(std::string_view value);

class tap_client {
 public:
  explicit tap_client(tap_options options);
  const tap_options& options() const noexcept { return options_; }
  const std::string& base_url() const noexcept { return base_; }

  // POST {base}/sync (a 303 answer is followed with GET).
  votable_result query_sync(std::string_view adql) const;
  // POST {base}/async → 303 Location; POST {job}/phase PHASE=RUN; poll under the deadline;
  // GET the uws:result href; DELETE the job.
  votable_result query_async(std::string_view adql) const;
  enum class mode { sync, async };
  votable_result query(std::string_view adql, mode m) const {
    return m == mode::sync ? query_sync(adql) : query_async(adql);
  }
  // GET {base}/availability (VOSI); when the service has none, a MAXREC=0 query.
  tap_health health(std::chrono::milliseconds timeout = std::chrono::milliseconds{10'000}) const;

 private:
  std::vector<std::pair<std::string, std::string>> query_fields(std::string_view adql) const;
  votable_result read_result(const http_response& response) const;
  std::string job_error_message(const std::string& job_url, const uws_job& job) const;
  void delete_job(const std::string& job_url) const noexcept;

  tap_options options_;
  std::string base_;
  http_client http_;
};

}  // namespace beampipe::adapters

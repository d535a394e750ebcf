// Blocking HTTP/1.1 client on Boost.Beast + OpenSSL for the archive adapters.
//
// Callers run it off actor threads. Each request gets its own connection (archive calls
// are seconds apart, keep-alive buys nothing). TLS verifies the peer against the system CA
// store with SNI and hostname checks unless explicitly disabled. Redirects are followed
// only for GET; a 3xx answer to POST/DELETE goes back to the caller (UWS reads Location).
// Transient failures (connect errors, 502/503/504) are retried with exponential backoff.
// Error messages carry the URL without its query string: archive URLs may be pre-signed.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/redact.hpp"

namespace beampipe::adapters {

class http_error : public std::runtime_error {
 public:
  enum class kind {
    invalid_url,  // unparsable URL or unsupported scheme
    connect,      // DNS, TCP connect, connection reset
    timeout,      // connect or read deadline passed
    tls,          // handshake or certificate verification failed
    too_large,    // response header or body above the configured bound
    http_status,  // raised by http_response::expect_ok
    protocol,     // malformed HTTP, too many redirects, insecure redirect
  };
  http_error(kind k, const std::string& message, int status = 0)
      : std::runtime_error(message), kind_(k), status_(status) {}
  kind code() const noexcept { return kind_; }
  int status() const noexcept { return status_; }
  // Worth another attempt later (connect problems, timeouts, 429/5xx).
  bool transient() const noexcept;
  // Whether any byte of the request may have reached the server (false: a certain failure,
  // e.g. a refused connection). Errors raised before http_client::send knows stay true.
  bool request_sent() const noexcept { return request_sent_; }
  void set_request_sent(bool sent) noexcept { request_sent_ = sent; }

 private:
  kind kind_;
  int status_;
  bool request_sent_ = true;
};

struct http_options {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds read_timeout{90'000};  // write request + read the whole response
  std::size_t max_response_bytes = std::size_t{256} << 20;
  int max_redirects = 5;
  int max_attempts = 3;  // 1 = no retry
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{4'000};
  bool verify_tls = true;
  std::string ca_file;  // extra CA bundle (PEM) on top of the system store; empty = system only
  std::string user_agent = "beampipe/0.1";
};

struct http_response {
  int status = 0;
  std::map<std::string, std::string, std::less<>> headers;  // lower-case names
  std::string body;
  std::string url;  // final URL after redirects

  std::string header(std::string_view name) const;  // "" when absent; name case-insensitive
  bool ok() const noexcept { return status >= 200 && status < 300; }
  // Throws http_error{http_status} with the status and the start of the body unless 2xx.
  const http_response& expect_ok() const;
};

struct http_request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<bool> follow_redirects;                   // default: only for GET
  std::optional<std::chrono::milliseconds> read_timeout;  // overrides http_options
};

struct parsed_url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  std::string port;
  std::string target;  // path + query, at least "/"
};
parsed_url parse_url(std::string_view url);  // throws http_error{invalid_url}
std::string resolve_url(std::string_view base, std::string_view reference);  // Location handling

// application/x-www-form-urlencoded
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

class http_client {
 public:
  explicit http_client(http_options options = {});
  const http_options& options() const noexcept { return options_; }

  http_response send(const http_request& request) const;
  http_response get(std::string_view url) const;
  // POST application/x-www-form-urlencoded; never follows redirects.
  http_response post_form(std::string_view url,
                          const std::vector<std::pair<std::string, std::string>>& fields) const;

 private:
  // *request_written tells a failed attempt apart from one the server may have acted on.
  http_response send_once(const http_request& request, std::string_view url,
                          bool* request_written) const;
  http_options options_;
};

}  // namespace beampipe::adapters

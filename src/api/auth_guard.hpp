#pragma once
// The per-route guard (issue #7, spec §9.1 [HEAD]): rate limits on the sensitive routes, then a
// valid access token on every route but the open ones (health, ready, metrics, login, refresh,
// logout, the contract), and a superuser for the superuser-only writes.
#include <chrono>
#include <string>
#include <vector>

#include "api/app.hpp"

namespace beampipe::api {

struct rate_limit_options {
  int64_t requests = 10;  // BEAMPIPE_RATE_LIMIT_REQUESTS per window and client and route
  std::chrono::seconds period{3600};         // BEAMPIPE_RATE_LIMIT_PERIOD_SECONDS
  std::vector<std::string> trusted_proxies;  // BEAMPIPE_TRUSTED_PROXY_CIDRS
  bool fail_closed = false;  // BEAMPIPE_REQUIRE_RATE_LIMITER or production: 503 when unusable
};

// Throws std::invalid_argument naming the bad CIDR.
void check_cidrs(const std::vector<std::string>& cidrs);
// The client a rate limit counts: the socket peer, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For address that is not itself a trusted proxy (the left entries are
// the client's to choose).
std::string rate_limit_subject(const request& req, const std::vector<std::string>& trusted);

auth_hook make_auth_guard(app_context& ctx, rate_limit_options limits);

}  // namespace beampipe::api

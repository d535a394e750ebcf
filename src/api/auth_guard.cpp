#include "api/auth_guard.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <stdexcept>

#include "api/auth_tokens.hpp"
#include "api/handler_support.hpp"
#include "projections/users/queries.hpp"
#include "store/db.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace ip = boost::asio::ip;

namespace {

bool in_cidr(const ip::address& a, const std::string& cidr) {
  auto slash = cidr.find('/');
  auto base = ip::make_address(cidr.substr(0, slash));
  if (base.is_v4() != a.is_v4()) return false;
  if (base.is_v4()) {
    auto net = slash == std::string::npos ? ip::make_network_v4(base.to_v4(), 32)
                                          : ip::make_network_v4(cidr);
    auto h = ip::make_network_v4(a.to_v4(), net.prefix_length());
    return h.network() == net.network();
  }
  auto net = slash == std::string::npos ? ip::make_network_v6(base.to_v6(), 128)
                                        : ip::make_network_v6(cidr);
  auto h = ip::make_network_v6(a.to_v6(), net.prefix_length());
  return h.network() == net.network();
}

response refuse(int status, const std::string& code, const std::string& message) {
  auto r = error_response(status, code, message);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

// Fixed windows counted in PostgreSQL, so every API node shares them.
std::optional<response> check_rate_limit(app_context& ctx, const rate_limit_options& o,
                                         const request& req, const route& r) {
  auto period = std::max<int64_t>(1, o.period.count());
  auto now = now_seconds();
  auto window = now - now % period;
  int64_t hits = 0;
  try {
    store::with_connection(ctx.pool, [&](pqxx::connection& c) {
      pqxx::work tx{c};
      auto row = tx.exec_params1(
          "INSERT INTO rate_limit_windows (subject, route, window_start, hits) VALUES ($1, $2, "
          "$3, 1) ON CONFLICT (subject, route, window_start) DO UPDATE SET hits = "
          "rate_limit_windows.hits + 1 RETURNING hits",
          rate_limit_subject(req, o.trusted_proxies), r.method + " " + r.pattern, window);
      hits = row[0].as<int64_t>();
      if (hits == 1)  // a new window: forget the old ones
        tx.exec_params("DELETE FROM rate_limit_windows WHERE window_start < $1", window - period);
      tx.commit();
    });
  } catch (const std::exception& e) {
    if (o.fail_closed) {
      auto res = error_response(503, "rate_limiter_unavailable", "the rate limiter is unavailable");
      res.headers.emplace_back("Retry-After", "1");
      return res;
    }
    spdlog::warn("rate limiter unavailable, request let through: {}", e.what());
    return std::nullopt;
  }
  if (hits <= o.requests) return std::nullopt;
  auto res = error_response(429, "rate_limited", "rate limit exceeded");
  res.headers.emplace_back("Retry-After", std::to_string(window + period - now));
  return res;
}

}  // namespace

void check_cidrs(const std::vector<std::string>& cidrs) {
  for (const auto& c : cidrs) {
    try {
      in_cidr(ip::make_address("127.0.0.1"), c);
      in_cidr(ip::make_address("::1"), c);
    } catch (const std::exception&) {
      throw std::invalid_argument("BEAMPIPE_TRUSTED_PROXY_CIDRS: '" + c +
                                  "' is not an address or CIDR");
    }
  }
}

std::string rate_limit_subject(const request& req, const std::vector<std::string>& trusted) {
  boost::system::error_code ec;
  auto peer = ip::make_address(req.peer, ec);
  if (ec) return req.peer;
  auto is_trusted = [&trusted](const ip::address& a) {
    for (const auto& c : trusted)
      if (in_cidr(a, c)) return true;
    return false;
  };
  // Each proxy appends the address it received from, so only the right-hand end of
  // X-Forwarded-For is vouched for: walk it from the right while the hop is a trusted proxy.
  // The first address that is not one is the client; anything left of it is the client's own
  // claim. A malformed entry stops the walk at the last address read.
  auto client = peer;
  if (!is_trusted(client)) return client.to_string();
  auto xff = req.header("x-forwarded-for");
  size_t end = xff.size();
  while (true) {
    auto comma = end == 0 ? std::string::npos : xff.rfind(',', end - 1);
    size_t begin = comma == std::string::npos ? 0 : comma + 1;
    auto entry = xff.substr(begin, end - begin);
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) entry.erase(0, 1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.pop_back();
    auto hop = ip::make_address(entry, ec);
    if (ec) break;
    client = hop;
    if (!is_trusted(client) || comma == std::string::npos) break;
    end = comma;
  }
  return client.to_string();
}

namespace {
// The bearer token's user, or the refusal. Sets req.user on success.
std::optional<response> authenticate(app_context& ctx, request& req, const route& r) {
  auto header = req.header("authorization");
  std::optional<token_claims> claims;
  auto ticket = req.query.find("ticket");
  if (header.empty() && r.doc.ticketed && ticket != req.query.end()) {
    // A stream ticket: no leeway past its expiry, and only once.
    auto now = now_seconds();
    claims = verify_token(ctx.jwt_secret, ticket->second, token_type::stream, now, 0);
    if (!claims) return refuse(401, "invalid_ticket", "the stream ticket is invalid or expired");
    if (!ctx.tickets->spend(claims->jti, claims->expires_at, now))
      return refuse(401, "invalid_ticket", "the stream ticket was used already");
  } else {
    if (header.empty()) return refuse(401, "not_authenticated", "missing Authorization header");
    if (header.rfind("Bearer ", 0) != 0)
      return refuse(401, "not_authenticated", "Authorization must be a Bearer token");
    auto token = header.substr(7);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    claims = verify_token(ctx.jwt_secret, token, token_type::access, now_seconds());
    if (!claims) return refuse(401, "invalid_token", "the access token is invalid or expired");
  }
  // The subject is a username (no NUL: it came through a verified token), the family a uuid.
  auto u = *ctx.caches->signed_in.get(claims->subject + '\0' + claims->family, [&] {
    return read_model_statement(ctx, [&](auto& tx) {
      return projections::users::signed_in(tx, claims->subject, claims->family);
    });
  });
  if (!u) return refuse(401, "invalid_token", "user not found");
  if (!u->session_live) return refuse(401, "token_revoked", "token revoked");
  if (r.auth == auth_level::superuser && !u->is_superuser)
    return refuse(403, "forbidden", "this action needs a superuser");
  req.user.user_uuid = u->uuid;
  req.user.username = u->username;
  req.user.superuser = u->is_superuser;
  req.user.session_family = claims->family;
  return std::nullopt;
}
}  // namespace

auth_hook make_auth_guard(app_context& ctx, rate_limit_options limits) {
  return [&ctx, limits](request& req, const route& r) -> std::optional<response> {
    if (limits.requests > 0 && r.doc.rate_limited) {
      if (tls_inline_attempt) throw needs_thread{};  // the limiter counts in the database
      if (auto refused = check_rate_limit(ctx, limits, req, r)) return refused;
    }
    if (r.auth != auth_level::open) return authenticate(ctx, req, r);
    // An open route answers everyone; a valid token only shows more (GET /ready).
    if (!req.header("authorization").empty() && authenticate(ctx, req, r)) req.user = {};
    return std::nullopt;
  };
}

}  // namespace beampipe::api

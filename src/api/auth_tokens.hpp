#pragma once
// Password hashing and tokens (issue #7). Passwords are hashed with Argon2id (libargon2, PHC
// string format, random salt) and verified by the library in constant time. Access and refresh
// tokens are JWT HS256 (libjwt) with sub, typ, iat, exp, jti and fam; a token is accepted only
// when its header says HS256, its signature matches the secret, its typ is the one expected, it
// has not expired and it carries sub, jti and fam — "alg: none", other algorithms (HS/RS
// confusion), tampered or foreign-signed tokens, and a refresh token offered as an access token
// are refused.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace beampipe::api {

std::string hash_password(std::string_view password);
bool verify_password(const std::string& encoded_hash, std::string_view password);

// stream: a ticket for one event stream (GET /events/stream?ticket=), short-lived and spent
// on first use, so that no access token ever travels in a URL.
enum class token_type { access, refresh, stream };

struct token_claims {
  std::string subject;  // the username (spec §9.1: sub is the username)
  std::string jti;      // a UUIDv7 per token
  std::string family;   // the sign-in session (auth_session aggregate) the token belongs to
  token_type type = token_type::access;
  int64_t issued_at = 0;   // seconds since the epoch
  int64_t expires_at = 0;  // seconds since the epoch
};

// Tokens of the same sign-in share `family`; refresh rotation and logout revoke by family.
struct issued_token {
  std::string token;
  token_claims claims;
};

// Seconds since the epoch: the clock the token functions are given outside tests.
inline int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `now` is seconds since the epoch (the caller's clock; tests pass fixed times).
issued_token issue_token(std::string_view secret, token_type type, const std::string& subject,
                         const std::string& family, std::chrono::seconds ttl, int64_t now);
// Accepts only HS256 tokens of the expected type signed with `secret` whose exp is not more
// than `leeway` seconds past (spec §9.1: 60 s) and that carry sub, jti and fam.
std::optional<token_claims> verify_token(std::string_view secret, const std::string& token,
                                         token_type expected, int64_t now, int64_t leeway = 60);

// The stream tickets used on this process: each is accepted once (kept until it expires).
class spent_tickets {
 public:
  // True the first time a ticket id is spent.
  bool spend(const std::string& jti, int64_t expires_at, int64_t now);

 private:
  std::mutex mu_;
  std::set<std::string> spent_;
  std::multimap<int64_t, std::string> by_expiry_;
};

}  // namespace beampipe::api

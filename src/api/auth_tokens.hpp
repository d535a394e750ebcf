#pragma once
// Password hashing and access tokens (issue #7 foundation). Passwords are hashed with
// Argon2id (libargon2, PHC string format, random salt) and verified by the library in
// constant time. Access tokens are JWT HS256 (libjwt) with sub, iat, exp and jti; a token is
// accepted only when its header says HS256, its signature matches the secret, it has not
// expired and it carries sub and jti — "alg: none", other algorithms (HS/RS confusion),
// tampered or foreign-signed tokens are refused.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::api {

std::string hash_password(std::string_view password);
bool verify_password(const std::string& encoded_hash, std::string_view password);

struct token_claims {
  std::string subject;  // the user's uuid
  std::string jti;
  int64_t issued_at = 0;   // seconds since the epoch
  int64_t expires_at = 0;  // seconds since the epoch
};

// `now` is seconds since the epoch (the caller's clock; tests pass fixed times).
std::string issue_access_token(std::string_view secret, const std::string& subject,
                               std::chrono::seconds ttl, int64_t now);
std::optional<token_claims> verify_access_token(std::string_view secret, const std::string& token,
                                                int64_t now);

}  // namespace beampipe::api

#include "api/auth_tokens.hpp"

#include <argon2.h>
#include <jwt.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

#include "util/ids.hpp"

namespace beampipe::api {

namespace {
// OWASP's Argon2id minimum: 19 MiB, 2 passes, 1 lane.
constexpr uint32_t kTimeCost = 2, kMemoryKiB = 19 * 1024, kLanes = 1;
constexpr size_t kSaltBytes = 16, kHashBytes = 32;

struct jwt_deleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;
}  // namespace

std::string hash_password(std::string_view password) {
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) throw std::runtime_error("no randomness for a salt");
  auto len = argon2_encodedlen(kTimeCost, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id);
  std::vector<char> encoded(len);
  int rc = argon2id_hash_encoded(kTimeCost, kMemoryKiB, kLanes, password.data(), password.size(),
                                 salt, sizeof salt, kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) throw std::runtime_error(argon2_error_message(rc));
  return std::string(encoded.data());
}

bool verify_password(const std::string& encoded_hash, std::string_view password) {
  return argon2id_verify(encoded_hash.c_str(), password.data(), password.size()) == ARGON2_OK;
}

namespace {
const char* type_name(token_type t) {
  switch (t) {
    case token_type::access:
      return "access";
    case token_type::refresh:
      return "refresh";
    case token_type::stream:
      return "stream";
  }
  return "?";
}
}  // namespace

issued_token issue_token(std::string_view secret, token_type type, const std::string& subject,
                         const std::string& family, std::chrono::seconds ttl, int64_t now) {
  issued_token out;
  out.claims = {subject, util::uuid_v7(), family, type, now, now + ttl.count()};
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new failed");
  jwt_ptr j(raw);
  auto key = reinterpret_cast<const unsigned char*>(secret.data());
  const auto& c = out.claims;
  if (jwt_set_alg(j.get(), JWT_ALG_HS256, key, static_cast<int>(secret.size())) != 0 ||
      jwt_add_grant(j.get(), "sub", c.subject.c_str()) != 0 ||
      jwt_add_grant(j.get(), "typ", type_name(type)) != 0 ||
      jwt_add_grant(j.get(), "jti", c.jti.c_str()) != 0 ||
      jwt_add_grant(j.get(), "fam", c.family.c_str()) != 0 ||
      jwt_add_grant_int(j.get(), "iat", static_cast<long>(c.issued_at)) != 0 ||
      jwt_add_grant_int(j.get(), "exp", static_cast<long>(c.expires_at)) != 0)
    throw std::runtime_error("cannot build the token");
  char* encoded = jwt_encode_str(j.get());
  if (!encoded) throw std::runtime_error("cannot sign the token");
  out.token = encoded;
  free(encoded);  // libjwt 1.10 allocates the string with malloc
  return out;
}

std::optional<token_claims> verify_token(std::string_view secret, const std::string& token,
                                         token_type expected, int64_t now, int64_t leeway) {
  if (secret.empty() || token.empty() || token.size() > 4096) return std::nullopt;
  jwt_t* raw = nullptr;
  auto key = reinterpret_cast<const unsigned char*>(secret.data());
  if (jwt_decode(&raw, token.c_str(), key, static_cast<int>(secret.size())) != 0 || !raw)
    return std::nullopt;
  jwt_ptr j(raw);
  // The header's algorithm must be the one we sign with: never "none", never RS/ES.
  if (jwt_get_alg(j.get()) != JWT_ALG_HS256) return std::nullopt;
  const char* sub = jwt_get_grant(j.get(), "sub");
  const char* jti = jwt_get_grant(j.get(), "jti");
  const char* fam = jwt_get_grant(j.get(), "fam");
  const char* typ = jwt_get_grant(j.get(), "typ");
  if (!sub || !*sub || !jti || !*jti || !fam || !*fam || !typ) return std::nullopt;
  if (std::string_view(typ) != type_name(expected)) return std::nullopt;
  token_claims c{sub, jti, fam, expected, 0, 0};
  errno = 0;
  c.expires_at = jwt_get_grant_int(j.get(), "exp");
  if (errno != 0 || c.expires_at + leeway <= now) return std::nullopt;
  errno = 0;
  c.issued_at = jwt_get_grant_int(j.get(), "iat");
  if (errno != 0) c.issued_at = 0;
  return c;
}

bool spent_tickets::spend(const std::string& jti, int64_t expires_at, int64_t now) {
  std::lock_guard lk(mu_);
  // Forget tickets past their expiry: they are refused by their exp already.
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now) {
    spent_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
  if (!spent_.insert(jti).second) return false;
  by_expiry_.emplace(expires_at, jti);
  return true;
}

}  // namespace beampipe::api

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

std::string issue_access_token(std::string_view secret, const std::string& subject,
                               std::chrono::seconds ttl, int64_t now) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new failed");
  jwt_ptr j(raw);
  auto key = reinterpret_cast<const unsigned char*>(secret.data());
  if (jwt_set_alg(j.get(), JWT_ALG_HS256, key, static_cast<int>(secret.size())) != 0 ||
      jwt_add_grant(j.get(), "sub", subject.c_str()) != 0 ||
      jwt_add_grant(j.get(), "jti", util::uuid_v7().c_str()) != 0 ||
      jwt_add_grant_int(j.get(), "iat", static_cast<long>(now)) != 0 ||
      jwt_add_grant_int(j.get(), "exp", static_cast<long>(now + ttl.count())) != 0)
    throw std::runtime_error("cannot build the access token");
  char* out = jwt_encode_str(j.get());
  if (!out) throw std::runtime_error("cannot sign the access token");
  std::string token(out);
  free(out);  // libjwt 1.10 allocates the string with malloc
  return token;
}

std::optional<token_claims> verify_access_token(std::string_view secret, const std::string& token,
                                                int64_t now) {
  if (secret.empty() || token.empty() || token.size() > 4096) return std::nullopt;
  jwt_t* raw = nullptr;
  auto key = reinterpret_cast<const unsigned char*>(secret.data());
  if (jwt_decode(&raw, token.c_str(), key, static_cast<int>(secret.size())) != 0 || !raw)
    return std::nullopt;
  jwt_ptr j(raw);
  // The header's algorithm must be the one we sign with: never "none", never RS/ES.
  if (jwt_get_alg(j.get()) != JWT_ALG_HS256) return std::nullopt;
  token_claims c;
  const char* sub = jwt_get_grant(j.get(), "sub");
  const char* jti = jwt_get_grant(j.get(), "jti");
  if (!sub || !*sub || !jti || !*jti) return std::nullopt;
  c.subject = sub;
  c.jti = jti;
  errno = 0;
  c.expires_at = jwt_get_grant_int(j.get(), "exp");
  if (errno != 0 || c.expires_at <= now) return std::nullopt;
  c.issued_at = jwt_get_grant_int(j.get(), "iat");
  return c;
}

}  // namespace beampipe::api

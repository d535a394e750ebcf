// Password hashing and access tokens: Argon2id round trips with a random salt, and every
// forged token form the auth issue names is refused — alg none, an RS256 header over an
// HMAC signature (HS/RS confusion), a tampered payload, another secret, expiry, and a token
// without its subject.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "api/auth_tokens.hpp"

using namespace beampipe::api;
using namespace std::chrono_literals;

namespace {
const std::string kSecret = "test-secret-0123456789abcdef0123456789abcdef";
constexpr int64_t kNow = 1'790'000'000;

std::string b64url(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string hmac_sha256(const std::string& key, const std::string& data) {
  unsigned char md[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

// A token assembled by hand, signed with HMAC-SHA256 over header.payload with `key`.
std::string forge(const std::string& header, const std::string& payload, const std::string& key) {
  auto signing_input = b64url(header) + "." + b64url(payload);
  return signing_input + "." + b64url(hmac_sha256(key, signing_input));
}

const std::string kClaims =
    R"({"sub":"0190f0a0-0000-7000-8000-000000000001","jti":"j1","iat":1790000000,"exp":1790000900})";
}  // namespace

TEST_CASE("Argon2id: round trip, random salt, wrong password refused") {
  auto h1 = hash_password("correct horse");
  auto h2 = hash_password("correct horse");
  CHECK(h1.rfind("$argon2id$", 0) == 0);
  CHECK(h1 != h2);
  CHECK(verify_password(h1, "correct horse"));
  CHECK(verify_password(h2, "correct horse"));
  CHECK_FALSE(verify_password(h1, "correct horse "));
  CHECK_FALSE(verify_password("not a hash", "correct horse"));
}

TEST_CASE("an issued token verifies until it expires") {
  auto t = issue_access_token(kSecret, "user-1", 900s, kNow);
  auto c = verify_access_token(kSecret, t, kNow + 10);
  REQUIRE(c);
  CHECK(c->subject == "user-1");
  CHECK(c->issued_at == kNow);
  CHECK(c->expires_at == kNow + 900);
  CHECK_FALSE(c->jti.empty());
  CHECK(issue_access_token(kSecret, "user-1", 900s, kNow) != t);  // a fresh jti each time
  CHECK_FALSE(verify_access_token(kSecret, t, kNow + 900));       // expired at exp
  CHECK_FALSE(verify_access_token("another-secret-of-the-same-length-0123456789", t, kNow));
}

TEST_CASE("a hand-made HS256 token with our secret verifies (the forgery checks below bite)") {
  auto t = forge(R"({"alg":"HS256","typ":"JWT"})", kClaims, kSecret);
  auto c = verify_access_token(kSecret, t, kNow);
  REQUIRE(c);
  CHECK(c->subject == "0190f0a0-0000-7000-8000-000000000001");
}

TEST_CASE("forged tokens are refused") {
  // alg none, no signature.
  auto none = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(kClaims) + ".";
  CHECK_FALSE(verify_access_token(kSecret, none, kNow));
  // HS/RS confusion: an RS256 header over an HMAC made with our secret.
  CHECK_FALSE(verify_access_token(kSecret,
                                  forge(R"({"alg":"RS256","typ":"JWT"})", kClaims, kSecret), kNow));
  // Signed with another secret.
  CHECK_FALSE(verify_access_token(
      kSecret, forge(R"({"alg":"HS256","typ":"JWT"})", kClaims, "someone-else"), kNow));
  // Tampered: our signature over other claims.
  auto good = issue_access_token(kSecret, "user-1", 900s, kNow);
  auto first = good.find('.'), second = good.find('.', first + 1);
  auto tampered = good.substr(0, first + 1) +
                  b64url(R"({"sub":"admin","jti":"x","exp":1890000000})") + good.substr(second);
  CHECK_FALSE(verify_access_token(kSecret, tampered, kNow));
  // Well signed but without a subject, or expired, or garbage.
  CHECK_FALSE(verify_access_token(
      kSecret, forge(R"({"alg":"HS256"})", R"({"jti":"j","exp":1890000000})", kSecret), kNow));
  CHECK_FALSE(verify_access_token(
      kSecret, forge(R"({"alg":"HS256"})", R"({"sub":"u","jti":"j","exp":1})", kSecret), kNow));
  CHECK_FALSE(verify_access_token(kSecret, "not.a.token", kNow));
  CHECK_FALSE(verify_access_token("", good, kNow));
}

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
    R"({"sub":"admin","typ":"access","jti":"j1","fam":"f1","iat":1790000000,"exp":1790000900})";

std::optional<token_claims> verify(const std::string& t, int64_t now = kNow,
                                   const std::string& secret = kSecret) {
  return verify_token(secret, t, token_type::access, now);
}
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

TEST_CASE("an issued token verifies until 60 s past its expiry (spec leeway)") {
  auto t = issue_token(kSecret, token_type::access, "user-1", "fam-1", 900s, kNow);
  auto c = verify(t.token, kNow + 10);
  REQUIRE(c);
  CHECK(c->subject == "user-1");
  CHECK(c->family == "fam-1");
  CHECK(c->jti == t.claims.jti);
  CHECK(c->issued_at == kNow);
  CHECK(c->expires_at == kNow + 900);
  CHECK_FALSE(c->jti.empty());
  CHECK(issue_token(kSecret, token_type::access, "user-1", "fam-1", 900s, kNow).claims.jti !=
        t.claims.jti);  // a fresh jti each time
  CHECK(verify(t.token, kNow + 959));
  CHECK_FALSE(verify(t.token, kNow + 960));  // expired: exp + leeway
  CHECK_FALSE(verify(t.token, kNow, "another-secret-of-the-same-length-0123456789"));
}

TEST_CASE("a refresh token is not an access token, nor the other way round") {
  auto r = issue_token(kSecret, token_type::refresh, "user-1", "fam-1", 3600s, kNow);
  CHECK_FALSE(verify(r.token));
  auto rc = verify_token(kSecret, r.token, token_type::refresh, kNow);
  REQUIRE(rc);
  CHECK(rc->type == token_type::refresh);
  auto a = issue_token(kSecret, token_type::access, "user-1", "fam-1", 3600s, kNow);
  CHECK_FALSE(verify_token(kSecret, a.token, token_type::refresh, kNow));
}

TEST_CASE("a hand-made HS256 token with our secret verifies (the forgery checks below bite)") {
  auto t = forge(R"({"alg":"HS256","typ":"JWT"})", kClaims, kSecret);
  auto c = verify(t);
  REQUIRE(c);
  CHECK(c->subject == "admin");
}

TEST_CASE("forged tokens are refused") {
  // alg none, no signature.
  auto none = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(kClaims) + ".";
  CHECK_FALSE(verify(none));
  // HS/RS confusion: an RS256 header over an HMAC made with our secret.
  CHECK_FALSE(verify(forge(R"({"alg":"RS256","typ":"JWT"})", kClaims, kSecret)));
  // Signed with another secret.
  CHECK_FALSE(verify(forge(R"({"alg":"HS256","typ":"JWT"})", kClaims, "someone-else")));
  // Tampered: our signature over other claims.
  auto good = issue_token(kSecret, token_type::access, "user-1", "f", 900s, kNow).token;
  auto first = good.find('.'), second = good.find('.', first + 1);
  auto tampered = good.substr(0, first + 1) +
                  b64url(R"({"sub":"admin","typ":"access","jti":"x","fam":"f","exp":1890000000})") +
                  good.substr(second);
  CHECK_FALSE(verify(tampered));
  // Well signed but without a subject, a family or a type, or expired, or garbage.
  CHECK_FALSE(verify(forge(R"({"alg":"HS256"})",
                           R"({"typ":"access","jti":"j","fam":"f","exp":1890000000})", kSecret)));
  CHECK_FALSE(verify(forge(R"({"alg":"HS256"})",
                           R"({"sub":"u","typ":"access","jti":"j","exp":1890000000})", kSecret)));
  CHECK_FALSE(verify(
      forge(R"({"alg":"HS256"})", R"({"sub":"u","jti":"j","fam":"f","exp":1890000000})", kSecret)));
  CHECK_FALSE(verify(forge(R"({"alg":"HS256"})",
                           R"({"sub":"u","typ":"access","jti":"j","fam":"f","exp":1})", kSecret)));
  CHECK_FALSE(verify("not.a.token"));
  CHECK_FALSE(verify(good, kNow, ""));
}

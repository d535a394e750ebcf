// Redaction of what the API shows: secret-looking keys, key=value pairs, URL passwords.
#include <doctest/doctest.h>

#include "domain/redaction.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

TEST_CASE("redact_text masks key=value secrets and URL passwords, nothing else") {
  CHECK(redact_text("login failed: password=hunter2&user=ada") ==
        "login failed: password=[redacted]&user=ada");
  CHECK(redact_text("Token: abc.def ok") == "Token: [redacted] ok");
  CHECK(redact_text("https://ada:s3cret@casda.example/x?y=1") ==
        "https://ada:[redacted]@casda.example/x?y=1");
  CHECK(redact_text("https://casda.example:8443/a@b") == "https://casda.example:8443/a@b");
  CHECK(redact_text("tokenizer=5 passwords are fine") == "tokenizer=[redacted] passwords are fine");
  CHECK(redact_text("sbid=12345 status: failed") == "sbid=12345 status: failed");
  CHECK(redact_text("") == "");
}

TEST_CASE("redact_json walks objects and arrays") {
  auto v = json::parse(R"({"url":"http://u:p@h/","creds":{"api_key":"k","n":1},
                          "list":["secret=x","plain"],"has_password":true,"token":null})");
  redact_json(v);
  CHECK(v.at("url") == "http://u:[redacted]@h/");
  CHECK(v.at("creds").at("api_key") == kRedacted);
  CHECK(v.at("creds").at("n") == 1);
  CHECK(v.at("list").at(0) == "secret=[redacted]");
  CHECK(v.at("list").at(1) == "plain");
  CHECK(v.at("has_password") == true);  // a flag, not a secret
  CHECK(v.at("token").is_null());
}

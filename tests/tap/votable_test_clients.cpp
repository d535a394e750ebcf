// Pure parts of the HTTP and TAP clients: URL handling, form encoding, ADQL literals, UWS
// job documents. The network paths are tested against DaCHS in tap_test_*.cpp.
#include "adapters/http_client.hpp"
#include "adapters/tap_client.hpp"

#include <doctest/doctest.h>

using namespace beampipe::adapters;

TEST_CASE("parse_url splits scheme, host, port and target") {
  auto u = parse_url("https://casda.csiro.au/casda_vo_tools/tap?x=1#frag");
  CHECK(u.scheme == "https");
  CHECK(u.host == "casda.csiro.au");
  CHECK(u.port == "443");
  CHECK(u.target == "/casda_vo_tools/tap?x=1");
  auto v = parse_url("HTTP://[::1]:18080");
  CHECK(v.scheme == "http");
  CHECK(v.host == "::1");
  CHECK(v.port == "18080");
  CHECK(v.target == "/");
  CHECK_THROWS_AS(parse_url("ftp://x/"), http_error);
  CHECK_THROWS_AS(parse_url("http://user:pw@x/"), http_error);
  CHECK_THROWS_AS(parse_url("http://x:99999999/"), http_error);
  CHECK_THROWS_AS(parse_url("no-scheme"), http_error);
}

TEST_CASE("resolve_url handles absolute, rooted and relative Location values") {
  const std::string base = "http://127.0.0.1:18080/tap/async";
  CHECK(resolve_url(base, "http://127.0.0.1:18080/__system__/tap/run/async/ab12") ==
        "http://127.0.0.1:18080/__system__/tap/run/async/ab12");
  CHECK(resolve_url(base, "/__system__/tap/run/async/ab12") == "http://127.0.0.1:18080/__system__/tap/run/async/ab12");
  CHECK(resolve_url(base, "async/ab12") == "http://127.0.0.1:18080/tap/async/ab12");
  CHECK(resolve_url("https://h/a/b?q=1", "//other/x") == "https://other/x");
}

TEST_CASE("redact_url drops the query string, which may hold signatures") {
  CHECK(beampipe::util::redact_url("https://ingest.pawsey.org.au/b/f.tar?X-Amz-Signature=secret") ==
        "https://ingest.pawsey.org.au/b/f.tar?…");
  CHECK(beampipe::util::redact_url("http://h/p") == "http://h/p");
}

TEST_CASE("form_encode percent-encodes everything but unreserved characters") {
  CHECK(form_encode({{"QUERY", "SELECT * FROM t WHERE a='x&y' AND b=\"é\""}, {"LANG", "ADQL"}}) ==
        "QUERY=SELECT+%2A+FROM+t+WHERE+a%3D%27x%26y%27+AND+b%3D%22%C3%A9%22&LANG=ADQL");
}

TEST_CASE("adql_string_literal doubles single quotes and leaves everything else alone") {
  CHECK(adql_string_literal("HIPASSJ1313-15") == "'HIPASSJ1313-15'");
  CHECK(adql_string_literal("O'Brien\\x'") == "'O''Brien\\x'''");
  CHECK(adql_string_literal("Ærø") == "'Ærø'");
}

TEST_CASE("parse_uws_job reads phase, results from xlink:href and the error summary") {
  auto job = parse_uws_job(R"(<?xml version="1.0" encoding="UTF-8"?>
<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink">
  <uws:jobId>mdtjr3ge</uws:jobId>
  <uws:phase>COMPLETED</uws:phase>
  <uws:results>
    <uws:result id="cube-244" xlink:type="simple"
      xlink:href="https://ingest.pawsey.org.au/x/file.tar?response-content-disposition=a%3Db&amp;X-Amz-Signature=ab"/>
    <uws:result id="result" xlink:href="http://127.0.0.1:18080/__system__/tap/run/async/mdtjr3ge/results/result"/>
  </uws:results>
  <uws:errorSummary type="fatal"><uws:message>  boom  </uws:message></uws:errorSummary>
</uws:job>)");
  CHECK(job.job_id == "mdtjr3ge");
  CHECK(job.phase == "COMPLETED");
  REQUIRE(job.results.size() == 2);
  CHECK(job.results[0].id == "cube-244");
  // XML-unescaped, never percent-decoded: the encoding is part of the signature
  CHECK(job.results[0].href ==
        "https://ingest.pawsey.org.au/x/file.tar?response-content-disposition=a%3Db&X-Amz-Signature=ab");
  CHECK(job.error_message == "boom");
  CHECK_THROWS_AS(parse_uws_job("<html/>"), tap_error);
  CHECK_THROWS_AS(parse_uws_job("<uws:job xmlns:uws='u'><uws:phase>"), tap_error);
  CHECK_THROWS_AS(parse_uws_job("<uws:job xmlns:uws='u'></uws:job>"), tap_error);
}

TEST_CASE("tap_client strips /sync from its base URL and rejects bad URLs") {
  tap_options o;
  o.base_url = "http://127.0.0.1:18080/tap/sync/";
  CHECK(tap_client(o).base_url() == "http://127.0.0.1:18080/tap");
  o.base_url = "casda";
  CHECK_THROWS_AS(tap_client{o}, http_error);
}

TEST_CASE("http_client: connection refused is a typed connect error after bounded retries") {
  http_options o;
  o.max_attempts = 2;
  o.initial_backoff = std::chrono::milliseconds(1);
  http_client c(o);
  try {
    (void)c.get("http://127.0.0.1:1/");  // port 1: nothing listens
    FAIL("expected an error");
  } catch (const http_error& e) {
    CHECK(e.code() == http_error::kind::connect);
    CHECK(e.transient());
  }
}

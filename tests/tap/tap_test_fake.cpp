// HTTP and TAP client behaviour a real DaCHS cannot be made to show on demand: retries on
// 502/503/504 only, redirect policy, timeouts, size bounds, busy services, and UWS jobs that
// are held, stuck past the deadline or failing. Served by tests/tap/fake_archive.py.
#include "adapters/tap_client.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

using namespace beampipe::adapters;
using namespace std::chrono_literals;

namespace {

struct fake_archive {
  pid_t pid = -1;
  std::string base;

  fake_archive() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::execl(BEAMPIPE_PYTHON3, BEAMPIPE_PYTHON3, BEAMPIPE_FAKE_ARCHIVE, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    FILE* out = ::fdopen(fds[0], "r");
    int port = 0;
    REQUIRE(std::fscanf(out, "PORT %d", &port) == 1);  // printed once the socket listens
    std::fclose(out);
    base = "http://127.0.0.1:" + std::to_string(port);
  }
  ~fake_archive() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  int count(const std::string& key) const { return std::stoi(http_client().get(base + "/count?key=" + key).body); }
};

fake_archive& server() {
  static fake_archive s;
  return s;
}

http_options fast() {
  http_options o;
  o.initial_backoff = 1ms;
  o.max_backoff = 2ms;
  o.max_attempts = 3;
  return o;
}

tap_options tap_at(const std::string& path) {
  tap_options o;
  o.base_url = server().base + path;
  o.http = fast();
  return o;
}

}  // namespace

TEST_CASE("http: 503 then 200 is retried with backoff; 500 and 404 are not") {
  http_client c(fast());
  auto r = c.get(server().base + "/flaky?key=a&n=2");
  CHECK(r.status == 200);
  CHECK(server().count("a") == 3);
  // attempts exhausted: the last 504 comes back to the caller
  CHECK(c.get(server().base + "/flaky?key=b&n=5&status=504").status == 504);
  CHECK(server().count("b") == 3);
  CHECK(c.get(server().base + "/flaky?key=c&n=5&status=500").status == 500);
  CHECK(server().count("c") == 1);
  CHECK(c.get(server().base + "/status?code=404&key=d").status == 404);
  CHECK(server().count("d") == 1);
  CHECK_THROWS_AS(c.get(server().base + "/status?code=500").expect_ok(), http_error);
}

TEST_CASE("http: GET follows redirects up to the bound; POST gets its 303 back") {
  http_client c(fast());
  auto r = c.get(server().base + "/redirect/3");
  CHECK(r.status == 200);
  CHECK(r.body == "arrived");
  CHECK(r.url == server().base + "/redirect/0");
  auto o = fast();
  o.max_redirects = 2;
  try {
    (void)http_client(o).get(server().base + "/redirect/3");
    FAIL("expected too many redirects");
  } catch (const http_error& e) {
    CHECK(e.code() == http_error::kind::protocol);
  }
  auto p = c.post_form(server().base + "/post-see-other", {{"A", "1"}});
  CHECK(p.status == 303);
  CHECK(p.header("location") == "/redirect/0");
}

TEST_CASE("http: read timeout, size bound and connect errors are typed") {
  auto o = fast();
  o.read_timeout = 300ms;
  o.max_attempts = 1;
  try {
    (void)http_client(o).get(server().base + "/slow?s=3");
    FAIL("expected a timeout");
  } catch (const http_error& e) {
    CHECK(e.code() == http_error::kind::timeout);
    CHECK(e.transient());
  }
  auto big = fast();
  big.max_response_bytes = 1000;
  CHECK(http_client(big).get(server().base + "/big?bytes=1000").body.size() == 1000);
  try {
    (void)http_client(big).get(server().base + "/big?bytes=1001");
    FAIL("expected too_large");
  } catch (const http_error& e) {
    CHECK(e.code() == http_error::kind::too_large);
  }
}

TEST_CASE("tap sync: a 303 to the result is followed with GET") {
  auto r = tap_client(tap_at("/tap")).query_sync("SELECT 1");
  REQUIRE(r.row_count == 1);
  CHECK(r.row(0)[0] == boost::json::value(7));
}

TEST_CASE("tap sync: busy, gateway and HTML answers are classified") {
  try {
    (void)tap_client(tap_at("/busy")).query_sync("SELECT 1");
    FAIL("expected busy");
  } catch (const tap_error& e) {
    CHECK(e.code() == tap_error::kind::transport);
    CHECK(e.retryable());
    CHECK(std::string(e.what()).find("too busy") != std::string::npos);
  }
  try {
    (void)tap_client(tap_at("/down")).query_sync("SELECT 1");
    FAIL("expected 502");
  } catch (const tap_error& e) {
    CHECK(e.code() == tap_error::kind::transport);
    CHECK(e.retryable());
  }
  try {
    (void)tap_client(tap_at("/html")).query_sync("SELECT 1");
    FAIL("expected bad_response");
  } catch (const tap_error& e) {
    CHECK(e.code() == tap_error::kind::bad_response);
    CHECK_FALSE(e.retryable());
    CHECK(std::string(e.what()).find("not a VOTable") != std::string::npos);
  }
}

TEST_CASE("uws: a HELD job is started again; a relative result href resolves against the job") {
  for (std::string flavour : {"/held", "/relative"}) {
    CAPTURE(flavour);
    auto o = tap_at(flavour);
    o.poll_initial = 1ms;
    std::string job;
    o.on_job_created = [&](const std::string& url) { job = url; };
    auto r = tap_client(o).query_async("SELECT 1");
    REQUIRE(r.row_count == 1);
    CHECK(r.row(0)[0] == boost::json::value(flavour == "/held" ? 2 : 1));  // RUN count
    CHECK(http_client().get(job + "/state").status == 404);                // deleted
  }
}

TEST_CASE("uws: ERROR carries the text of {job}/error; a stuck job is aborted at the deadline") {
  auto o = tap_at("/failing");
  o.poll_initial = 1ms;
  try {
    (void)tap_client(o).query_async("SELECT 1");
    FAIL("expected job_failed");
  } catch (const tap_error& e) {
    CHECK(e.code() == tap_error::kind::job_failed);
    CHECK(std::string(e.what()).find("division by zero in row 3") != std::string::npos);
  }
  auto s = tap_at("/stuck");
  s.poll_initial = 10ms;
  s.async_deadline = 1500ms;
  s.wait_seconds = 1s;
  s.delete_jobs = false;  // keep it to look at its final state
  std::string job;
  s.on_job_created = [&](const std::string& url) { job = url; };
  try {
    (void)tap_client(s).query_async("SELECT 1");
    FAIL("expected deadline");
  } catch (const tap_error& e) {
    CHECK(e.code() == tap_error::kind::deadline);
    CHECK(e.retryable());
  }
  CHECK(http_client().get(job + "/state").body == "ABORTED deleted=False aborted=True");
}

// Runs tests/standins/casda_standin.py as a child process for the CASDA staging tests.
//
// The child gets a pipe as stdin and exits when it closes (--exit-on-stdin-eof), so a test
// binary that dies cannot leave it behind; the destructor also stops it by its pid.
#pragma once

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <string>

#include "adapters/http_client.hpp"

namespace casda_test {

class standin_process {
 public:
  standin_process() {
    int out[2], in[2];
    REQUIRE(::pipe(out) == 0);
    REQUIRE(::pipe(in) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[0]);
      ::close(in[1]);
      ::close(out[0]);
      ::close(out[1]);
      ::execl(BEAMPIPE_PYTHON3, BEAMPIPE_PYTHON3, BEAMPIPE_CASDA_STANDIN, "--exit-on-stdin-eof",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(in[0]);
    stdin_fd_ = in[1];
    // One JSON line {"port": N}; bounded wait so a broken interpreter fails the test fast.
    std::string line;
    char c = 0;
    while (line.size() < 256) {
      pollfd p{out[0], POLLIN, 0};
      REQUIRE_MESSAGE(::poll(&p, 1, 15'000) == 1, "the CASDA stand-in did not report its port");
      if (::read(out[0], &c, 1) != 1 || c == '\n') break;
      line.push_back(c);
    }
    ::close(out[0]);
    auto port = boost::json::parse(line).at("port").to_number<int>();
    base_ = "http://127.0.0.1:" + std::to_string(port);
  }
  ~standin_process() {
    ::close(stdin_fd_);
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  standin_process(const standin_process&) = delete;
  standin_process& operator=(const standin_process&) = delete;

  const std::string& base() const { return base_; }

  boost::json::value control(const std::string& what,
                             const boost::json::value& body = nullptr) const {
    beampipe::adapters::http_request r;
    r.method = body.is_null() ? "GET" : "POST";
    r.url = base_ + "/__standin/" + what;
    if (!body.is_null()) {
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = boost::json::serialize(body);
    }
    auto resp = beampipe::adapters::http_client().send(r);
    REQUIRE_MESSAGE(resp.status == 200, what, ": ", resp.body);
    return boost::json::parse(resp.body);
  }
  void reset() const { control("reset", boost::json::object{}); }
  boost::json::array requests() const { return control("requests").at("requests").as_array(); }
  boost::json::object jobs() const { return control("jobs").at("jobs").as_object(); }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string base_;
};

inline standin_process& standin() {
  static standin_process s;
  return s;
}

}  // namespace casda_test

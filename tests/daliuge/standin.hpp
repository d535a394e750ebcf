// Runs tests/standins/daliuge_standin.py as a child process for one test and talks to its
// /__standin/ control API.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http_client.hpp"

namespace dlg_test {

namespace json = boost::json;
using namespace std::chrono_literals;

class standin {
 public:
  explicit standin(std::vector<std::string> extra_args = {}) {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    std::vector<std::string> args{BEAMPIPE_PYTHON3, BEAMPIPE_DALIUGE_STANDIN, "--watch-stdin"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);  // dup2 clears O_CLOEXEC on 0 and 1
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    int rc = ::posix_spawn(&pid_, BEAMPIPE_PYTHON3, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    REQUIRE(rc == 0);
    // The stand-in prints one JSON line once both ports listen.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      REQUIRE(left.count() > 0);
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[512];
      auto n = ::read(out[0], buf, sizeof buf);
      REQUIRE(n > 0);
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    auto ready = json::parse(line.substr(0, line.find('\n'))).as_object();
    tm_url = "http://127.0.0.1:" + std::to_string(ready.at("tm_port").to_number<int>());
    dim_port = ready.at("dim_port").to_number<int>();
    dim_url = "http://127.0.0.1:" + std::to_string(dim_port);
    for (const auto& n : ready.at("nodes").as_array()) nodes.emplace_back(n.as_string());
  }

  ~standin() {
    ::close(stdin_);  // --watch-stdin: EOF ends the stand-in
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  standin(const standin&) = delete;
  standin& operator=(const standin&) = delete;

  json::value control(const std::string& method, const std::string& path,
                      const json::value& body = nullptr) const {
    beampipe::adapters::http_options o;
    o.max_attempts = 1;
    beampipe::adapters::http_client c(o);
    beampipe::adapters::http_request r;
    r.method = method;
    r.url = dim_url + "/__standin/" + path;
    if (!body.is_null()) {
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = json::serialize(body);
    }
    auto resp = c.send(r);
    REQUIRE_MESSAGE(resp.ok(), resp.body);
    return json::parse(resp.body);
  }

  // Recorded requests of one server ("tm" or "dim"), optionally only those whose path ends with
  // suffix.
  std::vector<json::object> requests(const std::string& server,
                                     const std::string& suffix = "") const {
    std::vector<json::object> out;
    auto all = control("GET", "requests?server=" + server);
    for (const auto& r : all.as_array()) {
      std::string path(r.at("path").as_string());
      if (suffix.empty() || path.ends_with(suffix)) out.push_back(r.as_object());
    }
    return out;
  }

  void fault(json::object f) const { control("POST", "faults", f); }

  std::string tm_url;
  std::string dim_url;
  int dim_port = 0;
  std::vector<std::string> nodes;

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
};

}  // namespace dlg_test

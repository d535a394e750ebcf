// graph.path and graph.url reach only as far as they should (issue #16).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "adapters/graph_source.hpp"

using namespace beampipe::adapters;
namespace fs = std::filesystem;

namespace {

struct temp_home {
  fs::path root;
  temp_home() {
    char tmpl[] = "/tmp/bp-graph-XXXXXX";
    root = ::mkdtemp(tmpl);
    fs::create_directories(root / "home" / "graphs");
  }
  ~temp_home() { fs::remove_all(root); }
  fs::path home() const { return root / "home"; }
  void write(const fs::path& p, const std::string& content) const {
    std::ofstream(p, std::ios::binary) << content;
  }
};

std::string failure_of(const std::function<void()>& fn, std::string* cls = nullptr) {
  try {
    fn();
  } catch (const graph_source_error& e) {
    if (cls) *cls = e.failure_class;
    return e.what();
  }
  return "";
}

// Answers one HTTP request with `answer`, on a free loopback port.
struct one_shot_server {
  int fd = -1;
  int port = 0;
  std::thread t;
  explicit one_shot_server(std::string answer) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ::listen(fd, 1);
    t = std::thread([this, answer] {
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::read(c, buf, sizeof buf);
      (void)::write(c, answer.data(), answer.size());
      ::close(c);
    });
  }
  ~one_shot_server() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    t.join();
  }
};

}  // namespace

TEST_CASE("graph.path is confined to BEAMPIPE_HOME, regular files, and the size limit") {
  temp_home t;
  graph_source_options o;
  o.home = t.home().string();
  o.max_bytes = 64;
  t.write(t.home() / "graphs" / "g.graph", "{\"nodeDataArray\":[]}");
  t.write(t.root / "outside.graph", "{}");
  CHECK(read_graph_file("graphs/g.graph", o) == "{\"nodeDataArray\":[]}");
  CHECK(read_graph_file((t.home() / "graphs" / "g.graph").string(), o).size() == 20);

  std::string cls;
  CHECK(failure_of([&] { read_graph_file((t.root / "outside.graph").string(), o); }, &cls)
            .find("outside BEAMPIPE_HOME") != std::string::npos);
  CHECK(cls == "configuration");
  CHECK(failure_of([&] { read_graph_file("../outside.graph", o); }).find("outside") !=
        std::string::npos);
  CHECK(failure_of([&] { read_graph_file("/etc/passwd", o); }).find("outside") !=
        std::string::npos);
  fs::create_symlink(t.root / "outside.graph", t.home() / "link.graph");
  CHECK(failure_of([&] { read_graph_file("link.graph", o); }).find("outside") != std::string::npos);
  fs::create_symlink("/dev/zero", t.home() / "zero.graph");
  CHECK(failure_of([&] { read_graph_file("zero.graph", o); }).find("outside") != std::string::npos);
  // A FIFO inside the home neither hangs the worker nor passes as a graph.
  REQUIRE(::mkfifo((t.home() / "fifo.graph").c_str(), 0600) == 0);
  CHECK(failure_of([&] { read_graph_file("fifo.graph", o); }).find("not a regular file") !=
        std::string::npos);
  fs::create_directories(t.home() / "dir.graph");
  CHECK(failure_of([&] { read_graph_file("dir.graph", o); }).find("not a regular file") !=
        std::string::npos);
  CHECK(failure_of([&] { read_graph_file("missing.graph", o); }).find("cannot be read") !=
        std::string::npos);
  t.write(t.home() / "big.graph", std::string(65, 'x'));
  CHECK(failure_of([&] { read_graph_file("big.graph", o); }).find("larger") != std::string::npos);
  t.write(t.home() / "limit.graph", std::string(64, 'x'));
  CHECK(read_graph_file("limit.graph", o).size() == 64);
}

TEST_CASE("graph.url: the allow-list, internal addresses in production, no echoed answers") {
  graph_source_options o;
  o.url_allow = {"graphs.example.org", "127.0.0.1:8443"};
  CHECK(graph_host_allowed("graphs.example.org", "443", o));
  CHECK(graph_host_allowed("127.0.0.1", "8443", o));
  CHECK_FALSE(graph_host_allowed("127.0.0.1", "80", o));
  std::string cls;
  CHECK(failure_of([&] { fetch_graph_url("http://169.254.169.254/latest/meta-data", o); }, &cls)
            .find("not in BEAMPIPE_GRAPH_URL_ALLOW") != std::string::npos);
  CHECK(cls == "configuration");
  CHECK(failure_of([&] { fetch_graph_url("file:///etc/passwd", o); }).find("not an http") !=
        std::string::npos);

  graph_source_options prod;
  prod.refuse_internal = true;
  for (const char* url : {"http://127.0.0.1:9/g", "http://[::1]:9/g", "http://169.254.169.254/g",
                          "http://localhost:9/g", "http://[::ffff:127.0.0.1]:9/g"}) {
    INFO(url);
    CHECK(failure_of([&] { fetch_graph_url(url, prod); }).find("loopback or link-local") !=
          std::string::npos);
  }

  // Allowed by name, an internal address is fetched; its answer is never quoted in errors.
  one_shot_server srv(
      "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 27\r\nConnection: close\r\n\r\n"
      "internal-secret-body-123456");
  graph_source_options local;
  local.refuse_internal = true;
  local.url_allow = {"127.0.0.1"};
  auto err = failure_of(
      [&] {
        fetch_graph_url("http://127.0.0.1:" + std::to_string(srv.port) + "/g?token=abc", local);
      },
      &cls);
  CHECK(err.find("HTTP 500") != std::string::npos);
  CHECK(err.find("internal-secret-body") == std::string::npos);
  CHECK(err.find("token=abc") == std::string::npos);
  CHECK(cls == "dependency_unavailable");
}

TEST_CASE("graph.url: a redirect is not followed") {
  one_shot_server srv(
      "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n");
  graph_source_options o;
  auto err = failure_of(
      [&] { fetch_graph_url("http://127.0.0.1:" + std::to_string(srv.port) + "/g", o); });
  CHECK(err.find("redirect") != std::string::npos);
}

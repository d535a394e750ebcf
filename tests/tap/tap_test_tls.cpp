// TLS verification of the HTTP client against a local `openssl s_server` with a
// self-signed certificate made for this run: untrusted by default, trusted through
// ca_file, and still refused when the certificate does not name the host.
#include "adapters/http_client.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

using namespace beampipe::adapters;

namespace {

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool accepts(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// A self-signed certificate for DNS:localhost only (not for IP 127.0.0.1), served by s_server.
struct tls_server {
  std::filesystem::path dir;
  int port = 0;
  pid_t pid = -1;

  tls_server() {
    dir = std::filesystem::temp_directory_path() / ("beampipe-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                      "-addext subjectAltName=DNS:localhost -keyout " + (dir / "key.pem").string() +
                      " -out " + (dir / "cert.pem").string() + " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    port = free_port();
    std::fflush(nullptr);  // the child must not flush the parent's buffered output again
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto accept = "127.0.0.1:" + std::to_string(port);
      auto cert = (dir / "cert.pem").string();
      auto key = (dir / "key.pem").string();
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execlp("openssl", "openssl", "s_server", "-accept", accept.c_str(), "-cert", cert.c_str(), "-key",
               key.c_str(), "-www", "-quiet", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepts(port)) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waiting for startup, not timing
    }
  }
  ~tls_server() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

http_error::kind error_of(const http_client& c, const std::string& url, std::string* message = nullptr) {
  try {
    (void)c.get(url);
  } catch (const http_error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  FAIL("expected an http_error");
  return http_error::kind::protocol;
}

}  // namespace

TEST_CASE("TLS: verification is on by default, a trusted CA works, a wrong host name is refused") {
  tls_server server;
  const auto by_name = "https://localhost:" + std::to_string(server.port) + "/";
  const auto by_ip = "https://127.0.0.1:" + std::to_string(server.port) + "/";
  http_options o;
  o.max_attempts = 1;

  std::string message;
  CHECK(error_of(http_client(o), by_name, &message) == http_error::kind::tls);
  CHECK(message.find("certificate") != std::string::npos);

  o.ca_file = (server.dir / "cert.pem").string();
  auto r = http_client(o).get(by_name);
  CHECK(r.status == 200);

  // Trusted certificate, but it names localhost, not 127.0.0.1.
  CHECK(error_of(http_client(o), by_ip, &message) == http_error::kind::tls);

  // Turning verification off is explicit.
  http_options off;
  off.max_attempts = 1;
  off.verify_tls = false;
  CHECK(http_client(off).get(by_ip).status == 200);
}

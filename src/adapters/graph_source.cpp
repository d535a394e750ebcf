#include "adapters/graph_source.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "adapters/http_client.hpp"

namespace beampipe::adapters {
namespace fs = std::filesystem;

namespace {

bool inside(const fs::path& root, const fs::path& p) {
  auto r = root.native(), s = p.native();
  if (!r.empty() && r.back() != '/') r.push_back('/');
  return s.rfind(r, 0) == 0;
}

bool internal_address(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    auto a = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
    return (a >> 24) == 127 || (a >> 16) == 0xA9FE || a == 0;  // 127/8, 169.254/16, 0.0.0.0
  }
  if (sa->sa_family == AF_INET6) {
    const auto& b = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr;
    static const unsigned char loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char any[16] = {};
    if (std::memcmp(b, loop, 16) == 0 || std::memcmp(b, any, 16) == 0) return true;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10
    // IPv4-mapped (::ffff:a.b.c.d)
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, mapped, 12) == 0) return b[12] == 127 || (b[12] == 169 && b[13] == 254);
  }
  return false;
}

}  // namespace

std::string read_graph_file(const std::string& path, const graph_source_options& o) {
  std::error_code ec;
  auto home = fs::canonical(o.home, ec);
  if (ec)
    throw graph_source_error("BEAMPIPE_HOME (" + o.home + ") cannot be resolved: " + ec.message(),
                             "configuration");
  fs::path p(path);
  if (p.is_relative()) p = home / p;
  auto real = fs::canonical(p, ec);
  if (ec) throw graph_source_error("graph file " + path + " cannot be read", "configuration");
  if (!inside(home, real))
    throw graph_source_error("graph file " + path + " lies outside BEAMPIPE_HOME", "configuration");
  // O_NONBLOCK: a FIFO must not hang the worker; it is refused below as not a regular file.
  int fd = ::open(real.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw graph_source_error("graph file " + path + " cannot be read", "configuration");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw graph_source_error("graph file " + path + " is not a regular file", "configuration");
  }
  // Sized by the file (not by the limit: zero-filling a buffer of max_bytes per run cost more
  // than reading the graph); one byte more than the limit tells an oversized file, also one
  // that grows while it is read.
  std::size_t limit = o.max_bytes + 1;
  std::string bytes;
  bytes.resize(std::min<std::size_t>(limit, static_cast<std::size_t>(st.st_size) + 1));
  std::size_t got = 0;
  while (got < limit) {
    if (got == bytes.size()) bytes.resize(std::min(limit, bytes.size() * 2));
    auto n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  bytes.resize(got);
  if (got > o.max_bytes)
    throw graph_source_error(
        "graph file " + path + " is larger than " + std::to_string(o.max_bytes >> 20) + " MiB",
        "configuration");
  return bytes;
}

bool graph_host_allowed(const std::string& host, const std::string& port,
                        const graph_source_options& o) {
  for (const auto& a : o.url_allow)
    if (a == host || a == host + ":" + port) return true;
  return false;
}

std::string fetch_graph_url(const std::string& url, const graph_source_options& o) {
  parsed_url u;
  try {
    u = parse_url(url);
  } catch (const std::exception&) {
    throw graph_source_error("graph.url is not an http(s) URL", "configuration");
  }
  bool allowed = graph_host_allowed(u.host, u.port, o);
  if (!o.url_allow.empty() && !allowed)
    throw graph_source_error("graph.url host " + u.host + " is not in BEAMPIPE_GRAPH_URL_ALLOW",
                             "configuration");
  if (o.refuse_internal && !allowed) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res) == 0) {
      bool internal = false;
      for (auto* a = res; a; a = a->ai_next) internal = internal || internal_address(a->ai_addr);
      ::freeaddrinfo(res);
      if (internal)
        throw graph_source_error("graph.url host " + u.host +
                                     " is a loopback or link-local address; production refuses "
                                     "it unless BEAMPIPE_GRAPH_URL_ALLOW names it",
                                 "configuration");
    }
  }
  http_options ho;
  ho.read_timeout = o.timeout;
  ho.max_response_bytes = o.max_bytes;
  http_request rq;
  rq.url = url;
  rq.follow_redirects = false;  // a redirect could lead anywhere the checks above never saw
  http_response resp;
  try {
    resp = http_client(ho).send(rq);
  } catch (const std::exception& e) {
    throw graph_source_error(std::string("graph fetch failed: ") + e.what(),
                             "dependency_unavailable");
  }
  // The status only: the answer's body is never echoed (it may be an internal service's).
  if (resp.status >= 300 && resp.status < 400)
    throw graph_source_error("graph fetch from " + util::redact_url(url) + " answered a redirect (HTTP " +
                                 std::to_string(resp.status) +
                                 "); point graph.url at the file itself",
                             "configuration");
  if (!resp.ok())
    throw graph_source_error(
        "graph fetch failed: HTTP " + std::to_string(resp.status) + " from " + util::redact_url(url),
        resp.status >= 500 ? "dependency_unavailable" : "configuration");
  return std::move(resp.body);
}

}  // namespace beampipe::adapters

#pragma once
// Boost.Beast HTTP/1.1 server: io threads only parse and write; every request is handed to
// a pool of handler threads with its exchange, which posts the response back to the
// connection's strand whenever (and from whichever thread) it is ready.
// Requests for the control paths (health, readiness, metrics) go to a small pool of their own,
// so a client holding every handler thread cannot make the process look dead.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/http.hpp"

namespace beampipe::api {

struct server_options {
  std::string bind_addr = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  size_t io_threads = 1;
  size_t handler_threads = 8;
  size_t header_limit = 8 * 1024;
  size_t body_limit = 1024 * 1024;
  int read_timeout_seconds = 30;
  // Open connections at most (BEAMPIPE_MAX_CONNECTIONS); the effective cap is also never above
  // the open-file limit minus kFdReserve. At the cap the server stops accepting (new clients
  // wait in the listen backlog) until a connection closes.
  size_t max_connections = 512;
  size_t control_threads = 2;
  // Request paths (the target before '?', compared exactly) answered by the control pool.
  std::vector<std::string> control_paths;
  // Tried first on the I/O thread, where it must not block; true when it answered.
  std::function<bool(const std::shared_ptr<request>&, const std::shared_ptr<exchange>&)> try_inline;
};

// File descriptors kept free for the database pools, files and SSH when capping connections.
inline constexpr size_t kFdReserve = 128;
// min(max_connections, open-file limit - kFdReserve), at least 1; no limit: max_connections.
size_t effective_connection_cap(size_t max_connections, unsigned long long nofile_limit);

class server {
 public:
  using dispatch_fn = std::function<void(std::shared_ptr<request>, std::shared_ptr<exchange>)>;
  server(server_options opts, dispatch_fn dispatch);
  // A dispatch that answers every request on the handler thread it was given.
  server(server_options opts, std::function<response(request&)> answer);
  ~server();
  // Binds and starts serving; throws with a clear message if the address cannot be bound.
  void start();
  void stop();
  unsigned short port() const;
  std::string url() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::api

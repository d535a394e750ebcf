#pragma once
// Boost.Beast HTTP/1.1 server: io threads only parse and write; every request is handed to
// a pool of handler threads, and the response is posted back to the connection's strand.
// Requests for the control paths (health, readiness, metrics) go to a small pool of their own,
// so a client holding every handler thread cannot make the process look dead.
#include "api/http.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace beampipe::api {

struct server_options {
  std::string bind_addr = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  size_t io_threads = 1;
  size_t handler_threads = 8;
  size_t header_limit = 8 * 1024;
  size_t body_limit = 1024 * 1024;
  int read_timeout_seconds = 30;
  size_t control_threads = 2;
  // Request paths (the target before '?', compared exactly) answered by the control pool.
  std::vector<std::string> control_paths;
};

class server {
 public:
  using dispatch_fn = std::function<response(request&)>;
  server(server_options opts, dispatch_fn dispatch);
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

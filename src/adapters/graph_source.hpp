#pragma once
// Where a project's DALiuGE graph comes from (spec §7, issue #16): graph.path, a regular file
// under BEAMPIPE_HOME after canonicalisation, read up to the size limit; or graph.url over
// HTTP(S), limited to BEAMPIPE_GRAPH_URL_ALLOW when set and, in production, never to a
// loopback or link-local address unless allowed. A remote answer is never echoed into errors.
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace beampipe::adapters {

struct graph_source_options {
  std::string home;                    // BEAMPIPE_HOME: graph.path is confined to it
  std::vector<std::string> url_allow;  // hosts or host:port entries; empty: any host
  bool refuse_internal = false;        // production: no loopback or link-local targets
  std::size_t max_bytes = std::size_t{16} << 20;
  std::chrono::seconds timeout{30};
};

struct graph_source_error : std::runtime_error {
  graph_source_error(const std::string& what, std::string failure_class)
      : std::runtime_error(what), failure_class(std::move(failure_class)) {}
  std::string failure_class;  // configuration | dependency_unavailable
};

std::string read_graph_file(const std::string& path, const graph_source_options& o);
std::string fetch_graph_url(const std::string& url, const graph_source_options& o);

// BEAMPIPE_GRAPH_URL_ALLOW's rule, exposed for tests: may `host`:`port` be fetched from?
bool graph_host_allowed(const std::string& host, const std::string& port,
                        const graph_source_options& o);

}  // namespace beampipe::adapters

#pragma once
// The graph a run submits, built as the execute step's prepare phase builds it: the manifest for
// the dataset records, injected into the project's graph, with its graph overrides applied. POST
// /graphs/prepare previews the same build without a run (issue #21).
#include <boost/json.hpp>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/graph_source.hpp"
#include "domain/hooks.hpp"
#include "domain/project_config.hpp"

namespace beampipe::services {

inline constexpr size_t kGraphLimit = size_t{16} << 20;  // protocols §3.1

// Why a build could not be made, with the failure class a run records.
struct run_graph_error : std::runtime_error {
  run_graph_error(const std::string& what, std::string cls = "configuration")
      : std::runtime_error(what), failure_class(std::move(cls)) {}
  std::string failure_class;
};

// graph.path (confined to BEAMPIPE_HOME) or graph.url, SHA-256 verified when the config gives
// one (unless `verify` is false: the caller checks the digest it has, check_graph_sha256);
// empty when the project names no graph (the built-in graph is used).
std::string fetch_project_graph(const domain::ProjectConfig& config,
                                adapters::graph_source_options options, bool verify = true);
// Throws when the config pins a graph digest other than `sha256` (the fetched bytes' digest).
void check_graph_sha256(const domain::ProjectConfig& config, const std::string& sha256);
// The bytes parsed; the built-in two-node graph (§3.5 step 9) for empty bytes.
boost::json::value parse_graph(const std::string& bytes);

// The patched graph is `graph` with `delta` applied (util::apply_json_delta): the graph itself
// is never copied here (several hundred KB per run); the caller splices the delta into the
// graph's text (util::json_text_patcher) or applies it to a copy (patched_graph).
struct run_graph {
  boost::json::object manifest;
  boost::json::array delta;
};
// `config_id` names the injected manifest config (a run derives it from its id). `hooks`: the
// project's hook module, if any; the hooks that ran are appended to `ran` (a failing one too).
run_graph build_run_graph(const domain::ProjectConfig& config, const boost::json::array& records,
                          const std::set<std::string>& exclude_sbids,
                          const boost::json::value& graph, const std::string& config_id,
                          int64_t now_unix_seconds, const domain::project_hooks* hooks = nullptr,
                          std::vector<events::hook_run>* ran = nullptr);

// `graph` with the build's delta applied, as a value.
boost::json::value patched_graph(const boost::json::value& graph, const run_graph& built);

}  // namespace beampipe::services

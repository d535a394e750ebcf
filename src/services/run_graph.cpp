#include "services/run_graph.hpp"

#include <cctype>

#include "domain/graph_prep.hpp"
#include "domain/manifest.hpp"
#include "util/hash.hpp"
#include "util/json_delta.hpp"

namespace beampipe::services {
namespace json = boost::json;

void check_graph_sha256(const domain::ProjectConfig& config, const std::string& sha256) {
  if (!config.graph || !config.graph->sha256) return;
  auto want = *config.graph->sha256;
  for (auto& ch : want) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (want != sha256)
    throw run_graph_error("graph sha256 mismatch: expected " + want + ", got " + sha256);
}

std::string fetch_project_graph(const domain::ProjectConfig& config,
                                adapters::graph_source_options options, bool verify) {
  if (!config.graph) return "";
  options.max_bytes = kGraphLimit;
  std::string bytes;
  try {
    if (config.graph->path && !config.graph->path->empty())
      bytes = adapters::read_graph_file(*config.graph->path, options);
    else if (config.graph->url && !config.graph->url->empty())
      bytes = adapters::fetch_graph_url(*config.graph->url, options);
    else
      return "";
  } catch (const adapters::graph_source_error& e) {
    throw run_graph_error(e.what(), e.failure_class);
  }
  if (bytes.size() > kGraphLimit) throw run_graph_error("graph is larger than 16 MiB");
  if (verify && config.graph->sha256) check_graph_sha256(config, util::sha256_hex(bytes));
  return bytes;
}

json::value parse_graph(const std::string& bytes) {
  if (bytes.empty())
    return json::parse(R"({"nodeDataArray":[
    {"id":"ingest","name":"beampipe-ingest","category":"PythonApp","categoryType":"Application",
     "fields":[{"id":"manifest_path","name":"manifest_path","type":"String","value":""}]},
    {"id":"manifest","name":"manifest","category":"Memory","categoryType":"Data","fields":[]}],
    "linkDataArray":[{"from":"ingest","to":"manifest"}]})");
  try {
    return json::parse(bytes);
  } catch (const std::exception& e) {
    throw run_graph_error(std::string("graph is not valid JSON: ") + e.what());
  }
}

run_graph build_run_graph(const domain::ProjectConfig& config, const json::array& records,
                          const std::set<std::string>& exclude_sbids, const json::value& graph,
                          const std::string& config_id, int64_t now_unix_seconds,
                          const domain::project_hooks* hooks, std::vector<events::hook_run>* ran) {
  domain::ManifestInputs inputs;
  inputs.records = records;
  inputs.exclude_sbids = exclude_sbids;
  inputs.staging = domain::staging_context_from_records(records);
  auto manifest = domain::build_manifest_for_project(config, inputs, hooks, ran);
  if (!manifest) throw run_graph_error(manifest.error());
  run_graph out{std::move(manifest.value()), {}};
  auto injected =
      domain::manifest_config_delta(graph, json::value(out.manifest), config_id, now_unix_seconds);
  if (!injected) throw run_graph_error(injected.error());
  out.delta = std::move(injected.value());
  if (auto it = out.manifest.find("graph_overrides"); it != out.manifest.end()) {
    auto patched = domain::manifest_graph_override_delta(graph, it->value());
    if (!patched) throw run_graph_error(patched.error());
    for (auto& op : patched.value()) out.delta.push_back(std::move(op));
  }
  return out;
}

json::value patched_graph(const json::value& graph, const run_graph& built) {
  json::value out = graph;
  util::apply_json_delta(out, built.delta);
  return out;
}

}  // namespace beampipe::services

// Graph preparation (spec §7.1–7.3, §12.10): project graph_patches into
// manifest.graph_overrides, beampipe-ingest manifest injection, and applying
// overrides to the DALiuGE logical graph.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "domain/project_config.hpp"
#include "domain/result.hpp"

namespace beampipe::domain {

// True when s (trimmed) has the `$count(path)` / `$sum(path)` shape with a
// well-formed non-empty path (dot-separated `key`, `key[]` or `[]` parts).
bool is_graph_expression(std::string_view s);

// §7.1 evaluate_expression: nullopt when s is not an expression. Missing members
// and non-arrays contribute 0. $count counts the paths that reach the end;
// $sum adds leaf values as u64 (negative → 0, floats truncated, others 0).
std::optional<std::uint64_t> evaluate_expression(std::string_view s,
                                                 const boost::json::value& context);

// §7.1: builds {"patches":[{"match":{"equals":E},"fields":[{"name","value"}…]}…]}
// from the project patches, evaluating expressions against manifest.sources[0]
// (or the whole manifest when there is no source). Returns nullopt when no patch
// survives (empty list), in which case the builder default stays.
std::optional<boost::json::value> graph_overrides_from_patches(
    const boost::json::value& manifest, const std::vector<GraphPatch>& patches);

// Replaces manifest["graph_overrides"] when graph_overrides_from_patches yields one.
void apply_project_graph_patches(boost::json::object& manifest,
                                 const std::vector<GraphPatch>& patches);

inline constexpr std::string_view kIngestNodeName = "beampipe-ingest";

// §7.2. Embeds the manifest (minus graph_overrides, compact sorted JSON) as a new
// graph configuration keyed by config_id (a UUIDv4 chosen by the caller) and makes
// it active. Returns true when injected, false when the graph has no usable
// beampipe-ingest node/manifest_path field. Errors: "graph is not a JSON object".
Result<bool> inject_manifest_config_into_graph(boost::json::value& graph,
                                               const boost::json::value& manifest,
                                               std::string_view config_id,
                                               std::int64_t now_unix_seconds);

// §7.3 with [HEAD] strictness: every patch must match exactly one node by name
// ("graph patch target node not found: N" / "graph patch target node is
// ambiguous: N matches K nodes") and every patched field must exist on it
// ("graph patch field not found on node N: F"). Integer fields also get
// defaultValue = JSON text of the value. `overrides` is the graph_overrides object
// (or a manifest that contains one). The graph is left untouched on error.
Status apply_manifest_graph_overrides(boost::json::value& graph,
                                      const boost::json::value& overrides);

// The two above as the replacements they make (util::json_delta's [[path, value], ...]), read
// from a graph left as it is: a run's graph is its source graph plus these, so the execute step
// never copies the source graph. The config delta is empty where nothing would be injected; the
// override delta names nodeDataArray indices, which the config delta does not touch, so both
// apply to the source graph in either order.
Result<boost::json::array> manifest_config_delta(const boost::json::value& graph,
                                                 const boost::json::value& manifest,
                                                 std::string_view config_id,
                                                 std::int64_t now_unix_seconds);
Result<boost::json::array> manifest_graph_override_delta(const boost::json::value& graph,
                                                         const boost::json::value& overrides);

// What a preparation changed in a graph (POST /graphs/prepare): nodes of nodeDataArray keyed by
// `id` (else `name`), each added, removed, or modified with the names of the `fields` entries
// that differ (and `node.<key>` for a changed attribute outside them):
// {before_node_count, after_node_count, changed_node_count,
//  changed_nodes:[{node, change, fields?}], graph_configuration_changed}.
boost::json::object patch_summary(const boost::json::value& before,
                                  const boost::json::value& after);

}  // namespace beampipe::domain

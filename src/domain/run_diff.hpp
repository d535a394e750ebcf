#pragma once
// Why did this run differ from that one (issue #22): the two runs' pinned config (a structural
// diff at YAML paths), deployment profile snapshot, sources and their discovery signatures,
// manifest (JSON Pointer paths) and patched graph (nodes and fields). Pure: the caller loads
// the runs' ledger rows, configs and graphs.
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace beampipe::domain {

enum class path_style {
  json_pointer,  // RFC 6901: /a/b/0 (~0 and ~1 escape ~ and /)
  yaml,          // a.b[0], a["odd.key"]
};

struct json_change {
  std::string path;
  std::string change;  // added | removed | changed
  boost::json::value before, after;
};

// Every leaf that differs, depth first with object keys in order; at most `limit` are kept and
// `total` counts them all. Arrays compare element by element.
struct json_diff {
  std::vector<json_change> changes;
  size_t total = 0;
};
json_diff diff_json(const boost::json::value& before, const boost::json::value& after,
                    path_style style, size_t limit = 500);
boost::json::object to_json(const json_diff& d);

// What one run brings to a diff.
struct run_facts {
  boost::json::object row;                        // its ledger row (ExecutionRead)
  std::optional<boost::json::value> config_spec;  // its pinned config revision, parsed
  std::optional<boost::json::value> patched_graph;
};

// {a, b, same, config, profile, sources, manifest, wasm_hooks, graph}: each part says whether
// it is the same and what changed from a to b.
boost::json::object run_diff(const run_facts& a, const run_facts& b);

}  // namespace beampipe::domain

#include "domain/graph_prep.hpp"

#include <limits>
#include <map>
#include <set>

#include "domain/canonical_json.hpp"
#include "util/json_delta.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

struct Expression {
  bool sum = false;
  std::vector<std::string> parts;
};

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

bool valid_part(std::string_view p) {
  if (p.empty()) return false;
  if (p.size() >= 2 && p.substr(p.size() - 2) == "[]") p.remove_suffix(2);
  for (char c : p)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

// Parses the $count(...)/$sum(...) shape. `strict` also checks the path syntax
// (validation); runtime only needs the outer shape, as in the spec.
std::optional<Expression> parse_expression(std::string_view raw, bool strict) {
  auto s = trim_copy(raw);
  Expression e;
  std::string_view inner;
  if (s.rfind("$count(", 0) == 0 && s.size() >= 8 && s.back() == ')') {
    inner = std::string_view(s).substr(7, s.size() - 8);
  } else if (s.rfind("$sum(", 0) == 0 && s.size() >= 6 && s.back() == ')') {
    e.sum = true;
    inner = std::string_view(s).substr(5, s.size() - 6);
  } else {
    return std::nullopt;
  }
  auto path = trim_copy(inner);
  if (strict && path.empty()) return std::nullopt;
  std::size_t start = 0;
  while (!path.empty()) {
    auto dot = path.find('.', start);
    auto part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (strict && !valid_part(part)) return std::nullopt;
    e.parts.push_back(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return e;
}

std::uint64_t leaf_u64(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64()) return v.get_int64() < 0 ? 0 : static_cast<std::uint64_t>(v.get_int64());
  if (v.is_double()) {
    double d = v.get_double();
    if (!(d > 0)) return 0;  // negative and NaN
    if (d >= 18446744073709551615.0) return std::numeric_limits<std::uint64_t>::max();
    return static_cast<std::uint64_t>(d);
  }
  return 0;
}

std::uint64_t walk(const json::value& v, const std::vector<std::string>& parts, std::size_t i,
                   bool sum, int depth) {
  if (i == parts.size()) return sum ? leaf_u64(v) : 1;
  if (depth > 64) return 0;
  std::string_view p = parts[i];
  if (p.size() >= 2 && p.substr(p.size() - 2) == "[]") {
    auto key = p.substr(0, p.size() - 2);
    const json::value* arr = &v;
    if (!key.empty()) {
      if (!v.is_object()) return 0;
      arr = v.get_object().if_contains(key);
      if (!arr) return 0;
    }
    if (!arr->is_array()) return 0;
    std::uint64_t total = 0;
    for (const auto& e : arr->get_array())
      total = sat_add(total, walk(e, parts, i + 1, sum, depth + 1));
    return total;
  }
  if (!v.is_object()) return 0;
  const auto* m = v.get_object().if_contains(p);
  if (!m) return 0;
  return walk(*m, parts, i + 1, sum, depth + 1);
}

}  // namespace

bool is_graph_expression(std::string_view s) { return parse_expression(s, true).has_value(); }

std::optional<std::uint64_t> evaluate_expression(std::string_view s, const json::value& context) {
  auto e = parse_expression(s, false);
  if (!e) return std::nullopt;
  return walk(context, e->parts, 0, e->sum, 0);
}

std::optional<json::value> graph_overrides_from_patches(const json::value& manifest,
                                                        const std::vector<GraphPatch>& patches) {
  if (patches.empty()) return std::nullopt;
  // Expressions see the first manifest source only (spec §7.1; with
  // group_by [source_identifier, sbid] that is the first SBID of the run).
  const json::value* ctx = &manifest;
  if (manifest.is_object()) {
    if (const auto* sources = manifest.get_object().if_contains("sources");
        sources && sources->is_array() && !sources->get_array().empty())
      ctx = &sources->get_array()[0];
  }
  json::array out;
  for (const auto& p : patches) {
    if (!p.match.is_object() || !p.set.is_object()) continue;
    const auto* eq = p.match.get_object().if_contains("equals");
    if (!eq || !eq->is_string()) continue;
    json::array fields;
    const json::value sorted_set = sorted_copy(p.set);  // fields in sorted name order
    for (const auto& kv : sorted_set.get_object()) {
      json::value v = kv.value();
      if (v.is_string())
        if (auto n = evaluate_expression(v.get_string(), *ctx)) v = *n;
      json::object f;
      f["name"] = kv.key();
      f["value"] = std::move(v);
      fields.push_back(std::move(f));
    }
    json::object patch;
    json::object m;
    m["equals"] = *eq;
    patch["match"] = std::move(m);
    patch["fields"] = std::move(fields);
    out.push_back(std::move(patch));
  }
  if (out.empty()) return std::nullopt;
  json::object overrides;
  overrides["patches"] = std::move(out);
  return json::value(std::move(overrides));
}

void apply_project_graph_patches(json::object& manifest, const std::vector<GraphPatch>& patches) {
  if (auto o = graph_overrides_from_patches(manifest, patches))
    manifest["graph_overrides"] = std::move(*o);
}

Result<json::array> manifest_config_delta(const json::value& graph, const json::value& manifest,
                                          std::string_view config_id,
                                          std::int64_t now_unix_seconds) {
  if (!graph.is_object()) return DomainError{"graph is not a JSON object"};
  const auto& g = graph.get_object();
  const json::object* ingest = nullptr;
  std::size_t num_nodes = 0;
  if (const auto* nodes = g.if_contains("nodeDataArray"); nodes && nodes->is_array()) {
    num_nodes = nodes->get_array().size();
    for (const auto& n : nodes->get_array()) {
      if (!n.is_object()) continue;
      const auto* name = n.get_object().if_contains("name");
      if (name && name->is_string() && name->get_string() == kIngestNodeName) {
        ingest = &n.get_object();
        break;
      }
    }
  }
  if (!ingest) return json::array{};
  const auto* node_id = ingest->if_contains("id");
  const auto* fields = ingest->if_contains("fields");
  if (!node_id || !node_id->is_string() || !fields || !fields->is_array()) return json::array{};
  const json::value* field_id = nullptr;
  for (const auto& f : fields->get_array()) {
    if (!f.is_object()) continue;
    const auto* name = f.get_object().if_contains("name");
    if (name && name->is_string() && name->get_string() == "manifest_path") {
      field_id = f.get_object().if_contains("id");
      break;
    }
  }
  if (!field_id || !field_id->is_string()) return json::array{};
  const auto* gc = g.if_contains("graphConfigurations");
  if (gc && !gc->is_object()) return DomainError{"graph is not a JSON object"};

  json::value embed = manifest;
  if (embed.is_object()) embed.get_object().erase("graph_overrides");

  // Built key by key: GCC 12 reports a false dangling-pointer warning on
  // boost::json::object initializer lists.
  json::object location;
  location["repositoryService"] = "Beampipe";
  for (const char* k : {"repositoryBranch", "repositoryName", "repositoryPath",
                        "repositoryFileName", "commitHash", "downloadUrl"})
    location[k] = "";
  json::object model;
  model["name"] = "beampipe-core Auto-generated Manifest";
  model["shortDescription"] = "Manifest embedded automatically by beampipe-core at submit time.";
  model["detailedDescription"] =
      "This configuration was auto-generated by beampipe and embeds the data manifest via the "
      "beampipe-ingest node.";
  model["type"] = "GraphConfig";
  model["schemaVersion"] = "1.0";
  model["readonly"] = true;
  model["location"] = std::move(location);
  model["generatorVersion"] = "beampipe-v1";
  model["generatorCommitHash"] = "";
  model["generatorName"] = "beampipe";
  model["repositoryUrl"] = "";
  model["graphLocation"] = json::object();
  model["signature"] = "";
  model["lastModifiedName"] = "beampipe-core System";
  model["lastModifiedEmail"] = "";
  model["lastModifiedDatetime"] = now_unix_seconds;
  model["numLGNodes"] = num_nodes;

  json::object field_value;
  field_value["value"] = stable_json(embed);
  field_value["comment"] = "";
  json::object node_fields;
  node_fields[field_id->get_string()] = std::move(field_value);
  json::object node_entry;
  node_entry["fields"] = std::move(node_fields);
  json::object nodes;
  nodes[node_id->get_string()] = std::move(node_entry);

  json::object config;
  config["id"] = config_id;
  config["modelData"] = std::move(model);
  config["nodes"] = std::move(nodes);

  json::array delta;
  if (gc) {
    delta.push_back(json::array{json::array{"graphConfigurations", config_id}, std::move(config)});
  } else {
    json::object configs;
    configs[config_id] = std::move(config);
    delta.push_back(json::array{json::array{"graphConfigurations"}, std::move(configs)});
  }
  delta.push_back(json::array{json::array{"activeGraphConfigId"}, config_id});
  return delta;
}

Result<bool> inject_manifest_config_into_graph(json::value& graph, const json::value& manifest,
                                               std::string_view config_id,
                                               std::int64_t now_unix_seconds) {
  auto delta = manifest_config_delta(graph, manifest, config_id, now_unix_seconds);
  if (!delta) return DomainError{delta.error()};
  util::apply_json_delta(graph, delta.value());
  return !delta.value().empty();
}

Result<json::array> manifest_graph_override_delta(const json::value& graph,
                                                  const json::value& overrides) {
  if (!graph.is_object()) return DomainError{"graph is not a JSON object"};
  const auto* nodes = graph.get_object().if_contains("nodeDataArray");
  if (!nodes || !nodes->is_array()) return DomainError{"graph is not a JSON object"};
  json::array delta;
  const json::value* ov = &overrides;
  if (ov->is_object())
    if (const auto* inner = ov->get_object().if_contains("graph_overrides")) ov = inner;
  if (!ov->is_object()) return delta;
  const auto* patches = ov->get_object().if_contains("patches");
  if (!patches || !patches->is_array()) return delta;

  const auto& arr = nodes->get_array();
  for (const auto& p : patches->get_array()) {
    if (!p.is_object()) continue;
    const auto* match = p.get_object().if_contains("match");
    const json::value* eq =
        (match && match->is_object()) ? match->get_object().if_contains("equals") : nullptr;
    if (!eq || !eq->is_string()) continue;
    const std::string name(eq->get_string());
    std::vector<std::size_t> hits;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_object()) continue;
      const auto* nn = arr[i].get_object().if_contains("name");
      if (nn && nn->is_string() && nn->get_string() == name) hits.push_back(i);
    }
    if (hits.empty()) return DomainError{"graph patch target node not found: " + name};
    if (hits.size() > 1)
      return DomainError{"graph patch target node is ambiguous: " + name + " matches " +
                         std::to_string(hits.size()) + " nodes"};
    const auto* fields = p.get_object().if_contains("fields");
    if (!fields || !fields->is_array()) continue;
    const auto* nf = arr[hits[0]].get_object().if_contains("fields");
    for (const auto& f : fields->get_array()) {
      if (!f.is_object()) continue;
      const auto* fname = f.get_object().if_contains("name");
      if (!fname || !fname->is_string()) continue;
      const auto* val = f.get_object().if_contains("value");
      json::value value = val ? *val : json::value(nullptr);
      // Every field of that name on the node: value, and for an Integer its defaultValue.
      bool found = false;
      if (nf && nf->is_array())
        for (std::size_t j = 0; j < nf->get_array().size(); ++j) {
          const auto* xo = nf->get_array()[j].if_object();
          const auto* xn = xo ? xo->if_contains("name") : nullptr;
          if (!xn || *xn != *fname) continue;
          found = true;
          if (!xn->is_string()) continue;
          json::array at{"nodeDataArray", hits[0], "fields", j};
          at.push_back("value");
          delta.push_back(json::array{at, value});
          if (const auto* t = xo->if_contains("type");
              t && t->is_string() && t->get_string() == "Integer") {
            at.back() = "defaultValue";
            delta.push_back(json::array{std::move(at), serde_json_text(value)});
          }
        }
      if (!found)
        return DomainError{"graph patch field not found on node " + name + ": " +
                           std::string(fname->get_string())};
    }
  }
  return delta;
}

Status apply_manifest_graph_overrides(json::value& graph, const json::value& overrides) {
  auto delta = manifest_graph_override_delta(graph, overrides);
  if (!delta) return DomainError{delta.error()};
  util::apply_json_delta(graph, delta.value());
  return ok_status();
}

namespace {

// Nodes by key, in the order the graph lists them; a node with neither id nor name is skipped.
std::vector<std::pair<std::string, const boost::json::object*>> nodes_of(
    const boost::json::value& g) {
  std::vector<std::pair<std::string, const boost::json::object*>> out;
  const auto* o = g.if_object();
  const auto* arr = o ? o->if_contains("nodeDataArray") : nullptr;
  if (!arr || !arr->is_array()) return out;
  for (const auto& n : arr->as_array()) {
    const auto* node = n.if_object();
    if (!node) continue;
    const boost::json::value* key = node->if_contains("id");
    if (!key || key->is_null()) key = node->if_contains("name");
    if (!key || key->is_null()) continue;
    out.emplace_back(
        key->is_string() ? std::string(key->as_string()) : boost::json::serialize(*key), node);
  }
  return out;
}

// fields[] by name (an entry without a name is keyed by its place).
std::map<std::string, const boost::json::value*> fields_of(const boost::json::object& node) {
  std::map<std::string, const boost::json::value*> out;
  const auto* f = node.if_contains("fields");
  if (!f || !f->is_array()) return out;
  size_t i = 0;
  for (const auto& e : f->as_array()) {
    const auto* name = e.is_object() ? e.as_object().if_contains("name") : nullptr;
    out[name && name->is_string() ? std::string(name->as_string()) : "#" + std::to_string(i)] = &e;
    ++i;
  }
  return out;
}

}  // namespace

boost::json::object patch_summary(const boost::json::value& before,
                                  const boost::json::value& after) {
  auto old_nodes = nodes_of(before), new_nodes = nodes_of(after);
  std::map<std::string, const boost::json::object*> old_by(old_nodes.begin(), old_nodes.end());
  std::map<std::string, const boost::json::object*> new_by(new_nodes.begin(), new_nodes.end());
  boost::json::array changed;
  for (const auto& [key, node] : new_nodes) {
    auto it = old_by.find(key);
    if (it == old_by.end()) {
      changed.push_back({{"node", key}, {"change", "added"}});
      continue;
    }
    if (*it->second == *node) continue;
    boost::json::array fields;
    auto a = fields_of(*it->second), b = fields_of(*node);
    std::set<std::string> names;
    for (const auto& [n, v] : a) names.insert(n);
    for (const auto& [n, v] : b) names.insert(n);
    for (const auto& n : names) {
      auto x = a.find(n), y = b.find(n);
      if (x == a.end() || y == b.end() || *x->second != *y->second) fields.emplace_back(n);
    }
    std::set<std::string> attrs;
    for (const auto& kv : *it->second) attrs.insert(std::string(kv.key()));
    for (const auto& kv : *node) attrs.insert(std::string(kv.key()));
    for (const auto& k : attrs) {
      if (k == "fields") continue;
      const auto *x = it->second->if_contains(k), *y = node->if_contains(k);
      if (!x || !y || *x != *y) fields.emplace_back("node." + k);
    }
    changed.push_back({{"node", key}, {"change", "modified"}, {"fields", std::move(fields)}});
  }
  for (const auto& [key, node] : old_nodes)
    if (!new_by.count(key)) changed.push_back({{"node", key}, {"change", "removed"}});
  auto configs = [](const boost::json::value& g) -> boost::json::value {
    const auto* o = g.if_object();
    const auto* c = o ? o->if_contains("graphConfigurations") : nullptr;
    return c ? *c : boost::json::value(nullptr);
  };
  auto n_changed = static_cast<int64_t>(changed.size());
  return {{"before_node_count", static_cast<int64_t>(old_nodes.size())},
          {"after_node_count", static_cast<int64_t>(new_nodes.size())},
          {"changed_node_count", n_changed},
          {"changed_nodes", std::move(changed)},
          {"graph_configuration_changed", configs(before) != configs(after)}};
}

}  // namespace beampipe::domain

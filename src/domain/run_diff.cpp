#include "domain/run_diff.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "domain/graph_prep.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

bool plain_key(std::string_view k) {
  if (k.empty()) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string key_step(const std::string& base, std::string_view key, path_style style) {
  if (style == path_style::json_pointer) {
    std::string out = base + "/";
    for (char c : key) {
      if (c == '~')
        out += "~0";
      else if (c == '/')
        out += "~1";
      else
        out += c;
    }
    return out;
  }
  if (plain_key(key)) return base.empty() ? std::string(key) : base + "." + std::string(key);
  return base + "[" + json::serialize(json::value(json::string(key))) + "]";
}

std::string index_step(const std::string& base, size_t i, path_style style) {
  return style == path_style::json_pointer ? base + "/" + std::to_string(i)
                                           : base + "[" + std::to_string(i) + "]";
}

struct walker {
  path_style style;
  size_t limit;
  json_diff out;

  void note(const std::string& path, const char* change, const json::value& before,
            const json::value& after) {
    ++out.total;
    if (out.changes.size() < limit) out.changes.push_back({path, change, before, after});
  }

  void walk(const std::string& path, const json::value* a, const json::value* b) {
    if (!a) return note(path, "added", nullptr, *b);
    if (!b) return note(path, "removed", *a, nullptr);
    if (a->is_object() && b->is_object()) {
      const auto& x = a->as_object();
      const auto& y = b->as_object();
      std::set<std::string> keys;
      for (const auto& kv : x) keys.insert(std::string(kv.key()));
      for (const auto& kv : y) keys.insert(std::string(kv.key()));
      for (const auto& k : keys) walk(key_step(path, k, style), x.if_contains(k), y.if_contains(k));
      return;
    }
    if (a->is_array() && b->is_array()) {
      const auto& x = a->as_array();
      const auto& y = b->as_array();
      for (size_t i = 0; i < std::max(x.size(), y.size()); ++i)
        walk(index_step(path, i, style), i < x.size() ? &x[i] : nullptr,
             i < y.size() ? &y[i] : nullptr);
      return;
    }
    if (*a != *b) note(path, "changed", *a, *b);
  }
};

const json::value& field(const json::object& row, std::string_view k) {
  static const json::value null;
  auto* v = row.if_contains(k);
  return v ? *v : null;
}

json::object pair_of(const json::value& a, const json::value& b) {
  return {{"a", a}, {"b", b}, {"same", a == b}};
}

// The manifest without its run record: what the run was asked to do, not what happened to it.
json::value manifest_of(const json::object& row) {
  auto m = field(row, "workflow_manifest");
  if (m.is_object()) m.as_object().erase("beampipe_run_record");
  return m;
}

// The profile snapshot without what changes with every edit of it.
json::value profile_of(const json::object& row) {
  auto p = field(row, "deployment_profile_snapshot");
  if (p.is_object())
    for (const char* k : {"created_at", "updated_at", "revision"}) p.as_object().erase(k);
  return p;
}

json::object sources_part(const json::object& a, const json::object& b) {
  auto signatures = [](const json::object& row) {
    std::map<std::string, json::value> out;
    if (const auto& s = field(row, "source_signatures"); s.is_object())
      for (const auto& kv : s.as_object()) out[std::string(kv.key())] = kv.value();
    if (const auto& s = field(row, "sources"); s.is_array())
      for (const auto& src : s.as_array())
        if (const auto* id =
                src.is_object() ? src.as_object().if_contains("source_identifier") : nullptr;
            id && id->is_string())
          out.try_emplace(std::string(id->as_string()), nullptr);
    return out;
  };
  auto x = signatures(a), y = signatures(b);
  json::array added, removed, changed;
  for (const auto& [k, v] : y)
    if (!x.count(k)) added.push_back(json::value(k));
  for (const auto& [k, v] : x) {
    auto it = y.find(k);
    if (it == y.end())
      removed.push_back(json::value(k));
    else if (it->second != v)
      changed.push_back(json::object{{"source_identifier", k}, {"a", v}, {"b", it->second}});
  }
  bool same = added.empty() && removed.empty() && changed.empty() &&
              field(a, "discovery_signature") == field(b, "discovery_signature");
  return {{"same", same},
          {"discovery_signature",
           pair_of(field(a, "discovery_signature"), field(b, "discovery_signature"))},
          {"added", std::move(added)},
          {"removed", std::move(removed)},
          {"signature_changed", std::move(changed)}};
}

}  // namespace

json_diff diff_json(const json::value& before, const json::value& after, path_style style,
                    size_t limit) {
  walker w{style, limit, {}};
  w.walk("", &before, &after);
  return std::move(w.out);
}

json::object to_json(const json_diff& d) {
  json::array changes;
  for (const auto& c : d.changes)
    changes.push_back(json::object{
        {"path", c.path}, {"change", c.change}, {"before", c.before}, {"after", c.after}});
  return {{"changes", std::move(changes)},
          {"total", d.total},
          {"truncated", d.total > d.changes.size()}};
}

json::object run_diff(const run_facts& a, const run_facts& b) {
  const auto& x = a.row;
  const auto& y = b.row;
  json::object out{{"a", field(x, "uuid")}, {"b", field(y, "uuid")}};

  auto ids = [](const json::object& row, std::initializer_list<const char*> keys) {
    json::object o;
    for (const char* k : keys) o[k] = field(row, k);
    return o;
  };
  json::object config{{"a", ids(x, {"project_module", "project_config_id", "project_config_version",
                                    "project_spec_sha256"})},
                      {"b", ids(y, {"project_module", "project_config_id", "project_config_version",
                                    "project_spec_sha256"})}};
  config["same"] = field(x, "project_spec_sha256") == field(y, "project_spec_sha256") &&
                   field(x, "project_module") == field(y, "project_module");
  if (a.config_spec && b.config_spec)
    config["diff"] = to_json(diff_json(*a.config_spec, *b.config_spec, path_style::yaml));
  else
    config["diff"] = nullptr;  // a revision is no longer stored

  auto px = profile_of(x), py = profile_of(y);
  json::object profile{{"a", ids(x, {"deployment_profile_id", "deployment_profile_revision"})},
                       {"b", ids(y, {"deployment_profile_id", "deployment_profile_revision"})},
                       {"same", px == py},
                       {"diff", to_json(diff_json(px, py, path_style::json_pointer))}};

  auto sources = sources_part(x, y);

  auto mx = manifest_of(x), my = manifest_of(y);
  json::object manifest{{"a", field(x, "manifest_sha256")},
                        {"b", field(y, "manifest_sha256")},
                        {"same", mx == my},
                        {"diff", to_json(diff_json(mx, my, path_style::json_pointer))}};

  // Which hook modules built each manifest (their durations aside).
  auto hooks_of = [](const json::object& row) {
    json::array out;
    if (const auto& h = field(row, "wasm_hooks"); h.is_array())
      for (const auto& r : h.as_array())
        if (r.is_object())
          out.push_back(json::object{{"hook", field(r.as_object(), "hook")},
                                     {"module_sha256", field(r.as_object(), "module_sha256")},
                                     {"error", field(r.as_object(), "error")}});
    return out;
  };
  auto hx = hooks_of(x), hy = hooks_of(y);
  json::object hooks{{"a", hx}, {"b", hy}, {"same", hx == hy}};

  json::object graph{{"a", field(x, "patched_graph_sha256")},
                     {"b", field(y, "patched_graph_sha256")}};
  graph["same"] = field(x, "patched_graph_sha256") == field(y, "patched_graph_sha256");
  if (a.patched_graph && b.patched_graph)
    graph["summary"] = patch_summary(*a.patched_graph, *b.patched_graph);
  else
    graph["summary"] = nullptr;  // one of them has no patched graph (yet)

  out["same"] = config.at("same").as_bool() && profile.at("same").as_bool() &&
                sources.at("same").as_bool() && manifest.at("same").as_bool() &&
                hooks.at("same").as_bool() && graph.at("same").as_bool();
  out["config"] = std::move(config);
  out["profile"] = std::move(profile);
  out["sources"] = std::move(sources);
  out["manifest"] = std::move(manifest);
  out["wasm_hooks"] = std::move(hooks);
  out["graph"] = std::move(graph);
  return out;
}

}  // namespace beampipe::domain

#include "domain/manifest.hpp"

#include <algorithm>
#include <map>

#include "domain/canonical_json.hpp"
#include "domain/graph_prep.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

bool byte_less(std::string_view a, std::string_view b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
  });
}
struct ByteLess {
  bool operator()(const std::string& a, const std::string& b) const { return byte_less(a, b); }
};

// group → sbid → datasets (input order)
using Groups = std::map<std::string, std::map<std::string, json::array, ByteLess>, ByteLess>;

std::optional<std::string> sbid_key(const json::object& rec) {
  const auto* s = rec.if_contains("sbid");
  if (!s) return std::nullopt;
  auto k = value_key(*s);
  if (k.empty() || k == "0" || s->is_null()) return std::nullopt;
  return k;
}

const json::value* dot_path(const json::value& root, std::string_view path) {
  const json::value* cur = &root;
  while (!path.empty()) {
    auto dot = path.find('.');
    auto part = path.substr(0, dot);
    if (!cur->is_object()) return nullptr;
    cur = cur->get_object().if_contains(part);
    if (!cur) return nullptr;
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  return cur;
}

json::value render_string(const json::string& s, const json::object& record,
                          const json::object& staging) {
  std::string_view v = s;
  if (v.size() < 2 || v.front() != '{' || v.back() != '}') return s;
  auto inner = v.substr(1, v.size() - 2);
  if (inner.substr(0, 6) == "flags.") {
    auto k = inner.substr(6);
    if (const auto* f = record.if_contains("discovery_flags"); f && f->is_object())
      if (const auto* hit = f->get_object().if_contains(k)) return *hit;
    if (const auto* hit = record.if_contains(k)) return *hit;
    if (const auto* hit = staging.if_contains(k)) return *hit;
    return s;
  }
  if (inner.substr(0, 8) == "staging.") {
    json::value root = staging;
    if (const auto* hit = dot_path(root, inner.substr(8))) return *hit;
    return s;
  }
  if (inner.find('.') == std::string_view::npos)
    if (const auto* hit = record.if_contains(inner)) return *hit;
  return s;
}

std::uint64_t count_datasets(const Groups& groups) {
  std::uint64_t n = 0;
  for (const auto& [_, sbids] : groups)
    for (const auto& [__, ds] : sbids) n += ds.size();
  return n;
}

json::object sbid_entry(const std::string& sbid, json::array datasets) {
  json::object o;
  o["sbid"] = sbid;
  o["datasets"] = std::move(datasets);
  return o;
}

json::object finish(json::array sources, std::uint64_t total) {
  json::object m;
  m["inputs"] = json::object();
  m["sources"] = std::move(sources);
  m["graph_overrides"] = default_graph_overrides(total);
  return m;
}

}  // namespace

json::value default_graph_overrides(std::uint64_t total_datasets) {
  json::object field;
  field["name"] = "num_of_copies";
  field["value"] = total_datasets;
  json::array fields;
  fields.push_back(std::move(field));
  json::object match;
  match["equals"] = "Scatter/GenericScatterApp/Beam";
  json::object patch;
  patch["match"] = std::move(match);
  patch["fields"] = std::move(fields);
  json::array patches;
  patches.push_back(std::move(patch));
  json::object o;
  o["patches"] = std::move(patches);
  return o;
}

json::object staging_context_from_records(const json::array& records) {
  json::object data, checksum, eval;
  for (const auto& r : records) {
    if (!r.is_object()) continue;
    const auto& o = r.get_object();
    auto first_string = [&](std::initializer_list<std::string_view> keys) -> const json::value* {
      for (auto k : keys)
        if (const auto* v = o.if_contains(k); v && v->is_string() && !v->get_string().empty())
          return v;
      return nullptr;
    };
    if (const auto* scan = o.if_contains("scan_id"))
      if (auto key = value_string(*scan)) {
        if (const auto* u = first_string({"data_url", "staged_url"})) data[*key] = *u;
        if (const auto* u = first_string({"checksum_url"})) checksum[*key] = *u;
      }
    if (const auto* sbid = o.if_contains("sbid"))
      if (auto key = value_string(*sbid))
        if (const auto* u = first_string({"eval_url", "evaluation_file_url"})) eval[*key] = *u;
  }
  json::object ctx;
  ctx["data_url_by_scan_id"] = std::move(data);
  ctx["checksum_url_by_scan_id"] = std::move(checksum);
  ctx["eval_url_by_sbid"] = std::move(eval);
  return ctx;
}

json::value render_manifest_template(const json::value& tmpl, const json::object& record,
                                     const json::object& staging) {
  switch (tmpl.kind()) {
    case json::kind::string:
      return render_string(tmpl.get_string(), record, staging);
    case json::kind::array: {
      json::array a;
      for (const auto& e : tmpl.get_array())
        a.push_back(render_manifest_template(e, record, staging));
      return a;
    }
    case json::kind::object: {
      json::object o;
      for (const auto& kv : tmpl.get_object())
        o[kv.key()] = render_manifest_template(kv.value(), record, staging);
      return o;
    }
    default:
      return tmpl;
  }
}

Result<json::object> build_manifest(const ManifestConfig* config, const ManifestInputs& in) {
  Groups groups;
  for (const auto& r : in.records) {
    if (!r.is_object()) continue;
    const auto& rec = r.get_object();
    auto sbid = sbid_key(rec);
    if (!sbid || in.exclude_sbids.count(*sbid)) continue;
    std::string key;
    if (config) {
      for (std::size_t i = 0; i < config->group_by.size(); ++i) {
        if (i) key.push_back('\0');
        const auto* v = rec.if_contains(config->group_by[i]);
        std::string part = v ? value_key(*v) : "";
        if (!v || v->is_null() || part.empty()) part = "unknown";
        key += part;
      }
    } else {
      const auto* v = rec.if_contains("source_identifier");
      key = (v && v->is_string() && !v->get_string().empty()) ? std::string(v->get_string())
                                                              : "unknown";
    }
    groups[key][*sbid].push_back(r);
  }
  const auto total = count_datasets(groups);
  if (total == 0) return DomainError{"manifest has no usable datasets"};

  json::array sources;
  for (auto& [_, sbids] : groups) {
    const json::object& first = sbids.begin()->second.front().get_object();
    const auto* sid = first.if_contains("source_identifier");
    json::value source_identifier = (sid && sid->is_string()) ? *sid : json::value("unknown");
    json::array sbid_list;
    for (auto& [sbid, datasets] : sbids) {
      json::array ds;
      if (config && config->expand_from && *config->expand_from == "metadata") {
        for (const auto& d : datasets)
          ds.push_back(
              config->dataset_template
                  ? render_manifest_template(*config->dataset_template, d.get_object(), in.staging)
                  : d);
      } else {
        ds = datasets;
      }
      sbid_list.push_back(sbid_entry(sbid, std::move(ds)));
    }
    json::object source;
    if (config) {
      // [HEAD]: an absent source_template is {} (the earlier build emitted null sources).
      json::value rendered =
          config->source_template
              ? render_manifest_template(*config->source_template, first, in.staging)
              : json::value(json::object());
      if (rendered.is_object()) source = std::move(rendered.get_object());
      source["source_identifier"] = source_identifier;
      source["sbids"] = std::move(sbid_list);
    } else {
      source["source_identifier"] = source_identifier;
      for (auto k : {"ra_string", "dec_string", "vsys"}) {
        const auto* v = first.if_contains(k);
        source[k] = v ? *v : json::value(nullptr);
      }
      source["sbids"] = std::move(sbid_list);
    }
    sources.push_back(std::move(source));
  }
  return finish(std::move(sources), total);
}

Result<json::object> build_manifest_for_project(const ProjectConfig& config,
                                                const ManifestInputs& inputs,
                                                const project_hooks* hooks,
                                                std::vector<events::hook_run>* ran) {
  auto m = build_manifest(config.manifest ? &*config.manifest : nullptr, inputs);
  if (!m) return m;
  std::vector<events::hook_run> local;
  return apply_manifest_hooks(hooks, std::move(m.value()), inputs.records, config,
                              ran ? *ran : local);
}

}  // namespace beampipe::domain

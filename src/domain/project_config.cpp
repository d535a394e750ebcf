// Project config: canonical typed JSON, spec_sha256 and validation (§10.2–10.4).
#include "domain/project_config.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "domain/canonical_json.hpp"
#include "domain/graph_prep.hpp"
#include "domain/templates.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

json::array str_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

void put_opt(json::object& o, std::string_view key, const std::optional<std::string>& v) {
  if (v) o[key] = *v;
}
template <class Int>
void put_opt_int(json::object& o, std::string_view key, const std::optional<Int>& v) {
  if (v) o[key] = static_cast<std::int64_t>(*v);
}

json::value query_json(const Query& q) {
  json::object o;
  o["name"] = q.name;
  o["adapter"] = q.adapter;
  o["template"] = q.template_text;
  put_opt(o, "source_id_transform", q.source_id_transform);
  return o;
}

json::value transform_json(const TransformSpec& s) {
  json::object o;
  o["kind"] = s.kind;
  put_opt(o, "prefix", s.prefix);
  put_opt(o, "suffix", s.suffix);
  if (s.separators) o["separators"] = str_array(*s.separators);
  put_opt(o, "pattern", s.pattern);
  put_opt_int(o, "group", s.group);
  put_opt(o, "from", s.from);
  put_opt(o, "to", s.to);
  put_opt(o, "default", s.default_value);
  if (s.steps) o["steps"] = str_array(*s.steps);
  return o;
}

}  // namespace

json::value to_json(const ProjectConfig& c) {
  json::object root;
  root["apiVersion"] = c.api_version;
  root["kind"] = c.kind;
  {
    json::object m;
    m["id"] = c.metadata.id;
    put_opt(m, "description", c.metadata.description);
    root["metadata"] = std::move(m);
  }
  {
    json::object a;
    a["required"] = str_array(c.adapters.required);
    put_opt(a, "casda_tap_url", c.adapters.casda_tap_url);
    put_opt(a, "vizier_tap_url", c.adapters.vizier_tap_url);
    json::object t;
    t["timeout_seconds"] = c.adapters.tap.timeout_seconds;
    t["retries"] = c.adapters.tap.retries;
    t["fail_open"] = c.adapters.tap.fail_open;
    a["tap"] = std::move(t);
    root["adapters"] = std::move(a);
  }
  if (c.graph) {
    json::object g;
    put_opt(g, "url", c.graph->url);
    put_opt(g, "path", c.graph->path);
    put_opt(g, "sha256", c.graph->sha256);
    root["graph"] = std::move(g);
  }
  {
    json::object d;
    json::array q, e;
    for (const auto& x : c.discovery.queries) q.push_back(query_json(x));
    for (const auto& x : c.discovery.enrichments) e.push_back(query_json(x));
    d["queries"] = std::move(q);
    d["enrichments"] = std::move(e);
    if (const auto& pm = c.discovery.prepare_metadata) {
      json::object p;
      p["field_map"] = pm->field_map_raw;
      p["discovery_flags"] = pm->discovery_flags_raw;
      if (pm->signature) {
        json::object s;
        if (!pm->signature->exclude_fields.empty())
          s["exclude_fields"] = str_array(pm->signature->exclude_fields);
        s["include_discovery_flags"] = pm->signature->include_discovery_flags;
        p["signature"] = std::move(s);
      }
      d["prepare_metadata"] = std::move(p);
    }
    root["discovery"] = std::move(d);
  }
  if (c.manifest) {
    json::object m;
    m["group_by"] = str_array(c.manifest->group_by);
    m["source_template"] = c.manifest->source_template.value_or(json::value(nullptr));
    if (c.manifest->dataset_template) m["dataset_template"] = *c.manifest->dataset_template;
    put_opt(m, "expand_from", c.manifest->expand_from);
    m["path"] = c.manifest->path;
    root["manifest"] = std::move(m);
  }
  {
    json::array patches;
    for (const auto& p : c.graph_patches) {
      json::object o;
      o["match"] = p.match;
      o["set"] = p.set;
      patches.push_back(std::move(o));
    }
    root["graph_patches"] = std::move(patches);
  }
  if (c.output_verification) {
    json::object ov;
    ov["required"] = c.output_verification->required;
    ov["inventory_schema"] = c.output_verification->inventory_schema;
    root["output_verification"] = std::move(ov);
  }
  {
    json::object a;
    if (const auto& e = c.automation.execution) {
      json::object x;
      x["enabled"] = e->enabled;
      x["archive_name"] = e->archive_name;
      x["max_sources_per_execution"] = e->max_sources_per_execution;
      x["tick_execution_source_limit"] = e->tick_execution_source_limit;
      x["tick_execution_run_limit"] = e->tick_execution_run_limit;
      x["min_sources_to_trigger"] = e->min_sources_to_trigger;
      x["max_wait_minutes"] = e->max_wait_minutes;
      x["claim_ttl_minutes"] = e->claim_ttl_minutes;
      put_opt_int(x, "concurrent_execution_run_limit", e->concurrent_execution_run_limit);
      put_opt(x, "deployment_profile_name", e->deployment_profile_name);
      put_opt_int(x, "execution_slurm_remote_poll_max_rounds",
                  e->execution_slurm_remote_poll_max_rounds);
      put_opt_int(x, "execution_rest_remote_poll_max_rounds",
                  e->execution_rest_remote_poll_max_rounds);
      // f64 fields stay doubles so YAML `60` hashes as `60.0`.
      if (e->execution_rest_remote_poll_interval_seconds)
        x["execution_rest_remote_poll_interval_seconds"] =
            *e->execution_rest_remote_poll_interval_seconds;
      if (e->execution_slurm_remote_poll_interval_seconds)
        x["execution_slurm_remote_poll_interval_seconds"] =
            *e->execution_slurm_remote_poll_interval_seconds;
      a["execution"] = std::move(x);
    }
    if (const auto& d = c.automation.discovery) {
      json::object x;
      x["enabled"] = d->enabled;
      x["tick_discovery_source_limit"] = d->tick_discovery_source_limit;
      x["batch_size"] = d->batch_size;
      x["stale_after_hours"] = d->stale_after_hours;
      x["claim_ttl_minutes"] = d->claim_ttl_minutes;
      put_opt_int(x, "queue_max_depth", d->queue_max_depth);
      put_opt_int(x, "tick_discovery_batch_limit", d->tick_discovery_batch_limit);
      put_opt_int(x, "concurrent_discovery_batch_limit", d->concurrent_discovery_batch_limit);
      a["discovery"] = std::move(x);
    }
    root["automation"] = std::move(a);
  }
  if (c.extension) {
    json::object e;
    put_opt(e, "wasm_sha256", c.extension->wasm_sha256);
    e["hooks"] = str_array(c.extension->hooks);
    root["extension"] = std::move(e);
  }
  if (c.definitions) {
    json::object d;
    if (!c.definitions->transforms.empty()) {
      json::object t;  // std::map iterates in bytewise key order
      for (const auto& [name, spec] : c.definitions->transforms) t[name] = transform_json(spec);
      d["transforms"] = std::move(t);
    }
    root["definitions"] = std::move(d);
  }
  if (c.source_identity) {
    json::object s;
    s["canonical"] = c.source_identity->canonical;
    if (!c.source_identity->template_vars.empty()) {
      json::object vars;
      for (const auto& [name, var] : c.source_identity->template_vars) {
        json::object v;
        put_opt(v, "from", var.from);
        put_opt(v, "transform", var.transform);
        vars[name] = std::move(v);
      }
      s["template_vars"] = std::move(vars);
    }
    root["source_identity"] = std::move(s);
  }
  return root;
}

std::string spec_sha256(const ProjectConfig& c) {
  return sha256_hex(serde_json_text(to_json(c), KeyOrder::insertion));
}

std::vector<std::string> template_variables(const ProjectConfig& c, bool per_sbid_enrichment) {
  std::set<std::string> vars{"source_identifier"};
  if (c.source_identity) {
    for (const auto& [name, _] : c.source_identity->template_vars) vars.insert(name);
  } else {
    vars.insert("source_name");  // legacy context (§5.1)
  }
  if (per_sbid_enrichment) vars.insert("sbid");
  return {vars.begin(), vars.end()};
}

namespace {

const std::set<std::string> kAdapters = {"casda", "vizier"};
const std::set<std::string> kHooks = {"prepare_metadata", "manifest", "graph_patches"};

std::string defined_names(const TransformDefinitions& defs) {
  std::string out;
  for (const auto& [n, _] : defs) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "no transforms are defined" : "defined transforms: " + out;
}

class Validator {
 public:
  explicit Validator(const ProjectConfig& c) : c_(c), defs_(c.transforms()) {}

  std::vector<Diagnostic> run() {
    header();
    adapters();
    automation();
    graph();
    extension();
    definitions();
    transform_references();
    queries();
    prepare_metadata();
    manifest();
    graph_patches();
    output_verification();
    return std::move(sink_.items());
  }

 private:
  void header() {
    if (c_.api_version != kApiVersionV1 && c_.api_version != kApiVersionV2 &&
        !c_.api_version.empty())
      sink_.error(
          "apiVersion", "invalid_config_value",
          "apiVersion must be beampipe.dev/v1 or beampipe.dev/v2, got '" + c_.api_version + "'");
    if (!c_.kind.empty() && c_.kind != kProjectConfigKind)
      sink_.error("kind", "invalid_kind", "kind must be ProjectConfig");
    if (trim_copy(c_.metadata.id).empty()) {
      sink_.error("metadata.id", "required", "metadata.id is required");
    } else if (c_.metadata.id.size() > 50) {
      // source_registry.project_module is varchar(50)
      sink_.error("metadata.id", "invalid_config_value",
                  "metadata.id must be at most 50 characters");
    }
  }

  void adapters() {
    if (c_.adapters.required.empty())
      sink_.error("adapters.required", "required",
                  "adapters.required must include at least one adapter");
    for (std::size_t i = 0; i < c_.adapters.required.size(); ++i)
      if (!kAdapters.count(c_.adapters.required[i]))
        sink_.error(index_path("adapters.required", i), "invalid_config_value",
                    "unknown adapter '" + c_.adapters.required[i] + "'", "allowed: casda, vizier");
    if (c_.adapters.tap.timeout_seconds == 0)
      sink_.error("adapters.tap.timeout_seconds", "invalid_limit",
                  "adapters.tap.timeout_seconds must be > 0");
  }

  void limit(const std::string& path, std::int64_t v) {
    if (v <= 0) sink_.error(path, "invalid_limit", path + " must be > 0");
  }
  void opt_limit(const std::string& path, const std::optional<std::int64_t>& v) {
    if (v) limit(path, *v);
  }
  void interval(const std::string& path, const std::optional<double>& v) {
    if (v && !(std::isfinite(*v) && *v > 0))
      sink_.error(path, "invalid_limit", path + " must be a finite number > 0");
  }

  void automation() {
    if (const auto& d = c_.automation.discovery) {
      const std::string p = "automation.discovery.";
      limit(p + "batch_size", d->batch_size);
      limit(p + "tick_discovery_source_limit", d->tick_discovery_source_limit);
      limit(p + "stale_after_hours", d->stale_after_hours);
      limit(p + "claim_ttl_minutes", d->claim_ttl_minutes);
      opt_limit(p + "queue_max_depth", d->queue_max_depth);
      opt_limit(p + "tick_discovery_batch_limit", d->tick_discovery_batch_limit);
      opt_limit(p + "concurrent_discovery_batch_limit", d->concurrent_discovery_batch_limit);
    }
    if (const auto& e = c_.automation.execution) {
      const std::string p = "automation.execution.";
      limit(p + "max_sources_per_execution", e->max_sources_per_execution);
      limit(p + "tick_execution_source_limit", e->tick_execution_source_limit);
      limit(p + "tick_execution_run_limit", e->tick_execution_run_limit);
      limit(p + "min_sources_to_trigger", e->min_sources_to_trigger);
      // 0 is meaningful: no waiting for min_sources_to_trigger.
      if (e->max_wait_minutes < 0)
        sink_.error(p + "max_wait_minutes", "invalid_limit", p + "max_wait_minutes must be >= 0");
      limit(p + "claim_ttl_minutes", e->claim_ttl_minutes);
      opt_limit(p + "concurrent_execution_run_limit", e->concurrent_execution_run_limit);
      opt_limit(p + "execution_slurm_remote_poll_max_rounds",
                e->execution_slurm_remote_poll_max_rounds);
      opt_limit(p + "execution_rest_remote_poll_max_rounds",
                e->execution_rest_remote_poll_max_rounds);
      interval(p + "execution_rest_remote_poll_interval_seconds",
               e->execution_rest_remote_poll_interval_seconds);
      interval(p + "execution_slurm_remote_poll_interval_seconds",
               e->execution_slurm_remote_poll_interval_seconds);
      if (trim_copy(e->archive_name).empty())
        sink_.error(p + "archive_name", "required",
                    "automation.execution.archive_name must be non-empty");
      if (e->deployment_profile_name && trim_copy(*e->deployment_profile_name).empty())
        sink_.error(p + "deployment_profile_name", "invalid_config_value",
                    "automation.execution.deployment_profile_name must be non-empty when set");
    }
  }

  void graph() {
    if (c_.api_version == kApiVersionV2 && !c_.graph)
      sink_.error("graph", "required",
                  "beampipe.dev/v2 requires graph with path or url and sha256");
    if (!c_.graph) return;
    const auto& g = *c_.graph;
    auto blank = [](const std::optional<std::string>& s) { return !s || trim_copy(*s).empty(); };
    if (!blank(g.url) && !blank(g.path))
      sink_.error("graph", "mutually_exclusive", "graph must use only one of url or path");
    else if (blank(g.url) && blank(g.path))
      sink_.error("graph", "mutually_exclusive", "graph needs exactly one of url or path");
    if (g.sha256) {
      if (!is_sha256_hex(*g.sha256))
        sink_.error("graph.sha256", "invalid_sha256",
                    "graph.sha256 must be 64 hexadecimal characters");
    } else if (c_.api_version == kApiVersionV2) {
      sink_.error("graph.sha256", "required", "graph.sha256 is required for beampipe.dev/v2");
    }
  }

  void extension() {
    if (!c_.extension) return;
    if (c_.extension->wasm_sha256 && !is_sha256_hex(*c_.extension->wasm_sha256))
      sink_.error("extension.wasm_sha256", "invalid_sha256",
                  "extension.wasm_sha256 must be 64 hexadecimal characters");
    for (std::size_t i = 0; i < c_.extension->hooks.size(); ++i)
      if (!kHooks.count(c_.extension->hooks[i]))
        sink_.error(index_path("extension.hooks", i), "unknown_extension_hook",
                    "extension.hooks contains unknown hook '" + c_.extension->hooks[i] +
                        "'; allowed: [\"prepare_metadata\", \"manifest\", \"graph_patches\"]");
  }

  void definitions() {
    for (const auto& entry : defs_) {  // no structured binding: lambdas below capture `s`
      const std::string& name = entry.first;
      const TransformSpec& s = entry.second;
      const std::string p = "definitions.transforms." + name;
      if (s.kind.empty()) continue;  // missing kind already reported as `required`
      if (!is_transform_kind(s.kind)) {
        std::string kinds;
        for (const auto& k : transform_kinds()) kinds += (kinds.empty() ? "" : ", ") + k;
        sink_.error(join_path(p, "kind"), "unknown_transform_kind",
                    p + " has unknown kind '" + s.kind + "'", "known kinds: " + kinds);
        continue;
      }
      auto requires_param = [&](bool present, const std::string& param) {
        if (!present)
          sink_.error(join_path(p, param), "required", p + " " + s.kind + " requires " + param);
      };
      if (s.kind == "strip_prefix" || s.kind == "add_prefix")
        requires_param(s.prefix.has_value(), "prefix");
      if (s.kind == "add_suffix") requires_param(s.suffix.has_value(), "suffix");
      if (s.kind == "replace") requires_param(s.from.has_value(), "from");
      if (s.kind == "default_if_empty") requires_param(s.default_value.has_value(), "default");
      if (s.kind == "split_last" && s.separators) {
        bool any = false;
        for (const auto& sep : *s.separators) any = any || !sep.empty();
        if (!any)
          sink_.error(join_path(p, "separators"), "required",
                      p + " split_last requires non-empty separators");
      }
      if (s.kind == "regex_extract") {
        requires_param(s.pattern.has_value(), "pattern");
        if (s.pattern) {
          if (auto err = regex_pattern_error(*s.pattern))
            sink_.error(join_path(p, "pattern"), "invalid_config_value",
                        p + " has an invalid pattern: " + *err);
        }
      }
      if (s.kind == "chain") {
        if (!s.steps || s.steps->empty()) {
          sink_.error(join_path(p, "steps"), "empty_transform_chain", p + " chain requires steps");
        } else {
          for (std::size_t i = 0; i < s.steps->size(); ++i)
            reference((*s.steps)[i], index_path(join_path(p, "steps"), i));
        }
      }
    }
    cycles();
  }

  // A chain that reaches itself again would recurse forever at runtime.
  void cycles() {
    std::map<std::string, int> state;  // 0 unvisited, 1 on stack, 2 done
    std::set<std::string> reported;
    std::vector<std::string> stack;
    std::function<void(const std::string&)> visit = [&](const std::string& name) {
      auto it = defs_.find(name);
      if (it == defs_.end() || it->second.kind != "chain" || !it->second.steps) return;
      state[name] = 1;
      stack.push_back(name);
      for (const auto& step : *it->second.steps) {
        if (state[step] == 1) {
          auto from = std::find(stack.begin(), stack.end(), step);
          std::string cycle;
          for (auto s = from; s != stack.end(); ++s) cycle += *s + " -> ";
          cycle += step;
          if (reported.insert(step).second)
            sink_.error("definitions.transforms." + step + ".steps", "transform_cycle",
                        "transform chain cycle: " + cycle);
        } else if (state[step] == 0) {
          visit(step);
        }
      }
      stack.pop_back();
      state[name] = 2;
    };
    for (const auto& [name, _] : defs_)
      if (state[name] == 0) visit(name);
  }

  void reference(const std::string& name, const std::string& path) {
    if (!defs_.count(name))
      sink_.error(path, "unknown_transform", "unknown transform '" + name + "' at " + path,
                  defined_names(defs_));
  }

  void transform_ref(const TransformRef& ref, const std::string& path) {
    if (const auto* name = std::get_if<std::string>(&ref)) return reference(*name, path);
    const auto& chain = std::get<std::vector<std::string>>(ref);
    if (chain.empty())
      sink_.error(path, "empty_transform_chain", path + " is an empty transform chain");
    for (std::size_t i = 0; i < chain.size(); ++i) reference(chain[i], index_path(path, i));
  }

  void transform_references() {
    if (c_.source_identity)
      for (const auto& [var, tv] : c_.source_identity->template_vars)
        if (tv.transform)
          reference(*tv.transform, "source_identity.template_vars." + var + ".transform");
    auto qrefs = [&](const std::vector<Query>& qs, const std::string& base) {
      for (std::size_t i = 0; i < qs.size(); ++i)
        if (qs[i].source_id_transform)
          reference(*qs[i].source_id_transform,
                    join_path(index_path(base, i), "source_id_transform"));
    };
    qrefs(c_.discovery.queries, "discovery.queries");
    qrefs(c_.discovery.enrichments, "discovery.enrichments");
    if (const auto& pm = c_.discovery.prepare_metadata) {
      for (const auto& [f, m] : pm->field_map)
        if (m.transform)
          transform_ref(*m.transform, "discovery.prepare_metadata.field_map." + f + ".transform");
      for (const auto& [f, m] : pm->discovery_flags)
        if (m.transform)
          transform_ref(*m.transform,
                        "discovery.prepare_metadata.discovery_flags." + f + ".transform");
    }
  }

  void queries() {
    std::map<std::string, std::string> seen;  // name -> first path
    auto check = [&](const std::vector<Query>& qs, const std::string& base, bool per_sbid) {
      auto vars = template_variables(c_, per_sbid);
      for (std::size_t i = 0; i < qs.size(); ++i) {
        const auto& q = qs[i];
        const auto p = index_path(base, i);
        if (trim_copy(q.name).empty())
          sink_.error(join_path(p, "name"), "required", p + ".name must be non-empty");
        if (trim_copy(q.adapter).empty())
          sink_.error(join_path(p, "adapter"), "required", p + ".adapter must be non-empty");
        else if (!kAdapters.count(q.adapter))
          sink_.error(join_path(p, "adapter"), "invalid_config_value",
                      "adapter '" + q.adapter + "' is not supported", "allowed: casda, vizier");
        if (trim_copy(q.template_text).empty())
          sink_.error(join_path(p, "template"), "required", p + ".template must be non-empty");
        if (!trim_copy(q.name).empty()) {
          // Queries and enrichments share the enrichments map, so names must be unique across both.
          auto [it, fresh] = seen.emplace(q.name, p);
          if (!fresh)
            sink_.error(join_path(p, "name"), "duplicate_name",
                        "query name '" + q.name + "' is already used by " + it->second);
        }
        for (const auto& var : template_placeholders(q.template_text))
          if (!std::binary_search(vars.begin(), vars.end(), var)) {
            std::string known;
            for (const auto& v : vars) known += (known.empty() ? "" : ", ") + v;
            sink_.error(join_path(p, "template"), "undefined_template_variable",
                        "template uses undefined variable '{" + var + "}'", "available: " + known);
          }
      }
    };
    check(c_.discovery.queries, "discovery.queries", false);
    check(c_.discovery.enrichments, "discovery.enrichments", true);
  }

  void prepare_metadata() {
    const auto& pm = c_.discovery.prepare_metadata;
    if (!pm) return;
    auto entries = [&](const std::map<std::string, Mapping>& m, const std::string& base) {
      for (const auto& [target, mapping] : m)
        if (trim_copy(mapping.from).empty())
          sink_.error(base + "." + target + ".from", "required",
                      base + "." + target + ".from must be non-empty");
    };
    entries(pm->field_map, "discovery.prepare_metadata.field_map");
    entries(pm->discovery_flags, "discovery.prepare_metadata.discovery_flags");
    if (pm->signature) {
      const auto& ex = pm->signature->exclude_fields;
      for (std::size_t i = 0; i < ex.size(); ++i)
        if (trim_copy(ex[i]).empty()) {
          auto p = index_path("discovery.prepare_metadata.signature.exclude_fields", i);
          sink_.error(p, "invalid_config_value", p + " must be non-empty");
        }
    }
  }

  void manifest() {
    if (!c_.manifest) return;
    const auto& m = *c_.manifest;
    if (m.expand_from && *m.expand_from != "metadata")
      sink_.error(
          "manifest.expand_from", "invalid_config_value",
          "manifest.expand_from must be \"metadata\" when set, got '" + *m.expand_from + "'");
    for (std::size_t i = 0; i < m.group_by.size(); ++i)
      if (trim_copy(m.group_by[i]).empty())
        sink_.error(index_path("manifest.group_by", i), "invalid_config_value",
                    "group_by keys must be non-empty");
    if (trim_copy(m.path).empty())
      sink_.error("manifest.path", "invalid_config_value", "manifest.path must be non-empty");
  }

  void graph_patches() {
    for (std::size_t i = 0; i < c_.graph_patches.size(); ++i) {
      const auto& gp = c_.graph_patches[i];
      const auto p = index_path("graph_patches", i);
      if (gp.match.is_object() && !gp.match.get_object().empty()) {
        if (gp.match_kind.empty())
          sink_.error(p + ".match.kind", "required",
                      "graph patch match.kind is required (node_name)");
        else if (gp.match_kind != "node_name")
          sink_.error(p + ".match.kind", "unknown_graph_patch_match_kind",
                      "unknown graph patch match kind '" + gp.match_kind + "'",
                      "supported: node_name");
        if (trim_copy(gp.equals).empty())
          sink_.error(p + ".match.equals", "required",
                      "graph patch match.equals must be non-empty");
      } else if (gp.match.is_object()) {
        sink_.error(p + ".match", "required", "graph patch needs match.kind and match.equals");
      }
      if (gp.set.is_object() && gp.set.get_object().empty())
        sink_.error(p + ".set", "required", "graph patch set must not be empty");
      if (gp.set.is_object())
        for (const auto& kv : gp.set.get_object()) {
          if (!kv.value().is_string()) continue;
          auto s = trim_copy(kv.value().get_string());
          if (!s.empty() && s[0] == '$' && !is_graph_expression(s))
            sink_.error(p + ".set." + std::string(kv.key()), "invalid_expression",
                        "'" + s + "' is not a valid expression", "use $count(path) or $sum(path)");
        }
    }
  }

  void output_verification() {
    if (c_.output_verification &&
        c_.output_verification->inventory_schema != kOutputInventorySchemaV1)
      sink_.error(
          "output_verification.inventory_schema", "unsupported_output_inventory_schema",
          "unsupported output inventory schema '" + c_.output_verification->inventory_schema + "'",
          "supported: " + std::string(kOutputInventorySchemaV1));
  }

  const ProjectConfig& c_;
  const TransformDefinitions& defs_;
  DiagnosticSink sink_;
};

}  // namespace

std::vector<Diagnostic> validate_project_config(const ProjectConfig& config) {
  try {
    return Validator(config).run();
  } catch (const std::exception& e) {
    return {{"(document)", "invalid_config_value", Severity::error,
             std::string("validation failed: ") + e.what(), std::nullopt}};
  }
}

ValidationReport validate_project_config_text(std::string_view text) {
  ValidationReport r;
  try {
    auto parsed = parse_project_config(text);
    r.spec_sha256 = parsed.raw_sha256;
    for (auto& d : parsed.diagnostics)
      (d.severity == Severity::error ? r.errors : r.warnings).push_back(std::move(d));
    if (parsed.config) {
      r.project_id = parsed.config->metadata.id;
      r.spec_sha256 = spec_sha256(*parsed.config);
      for (auto& d : validate_project_config(*parsed.config))
        (d.severity == Severity::error ? r.errors : r.warnings).push_back(std::move(d));
      r.config = std::move(parsed.config);
    }
  } catch (const std::exception& e) {
    r.errors.push_back({"(document)", "invalid_yaml", Severity::error, e.what(), std::nullopt});
  }
  r.valid = r.errors.empty();
  return r;
}

json::value ValidationReport::to_json() const {
  json::object o;
  o["project_id"] = project_id;
  o["valid"] = valid;
  json::array e;
  for (const auto& d : errors) e.push_back(domain::to_json(d));
  o["errors"] = std::move(e);
  if (!warnings.empty()) {
    json::array w;
    for (const auto& d : warnings) w.push_back(domain::to_json(d));
    o["warnings"] = std::move(w);
  }
  o["spec_sha256"] = spec_sha256;
  return o;
}

ExecutionAutomation lenient_execution_policy(const json::value& spec) {
  ExecutionAutomation e;
  const json::object* x = nullptr;
  if (spec.is_object())
    if (const auto* a = spec.get_object().if_contains("automation"); a && a->is_object())
      if (const auto* ex = a->get_object().if_contains("execution"); ex && ex->is_object())
        x = &ex->get_object();
  if (!x) return e;
  auto positive = [&](std::string_view k) -> std::optional<std::int64_t> {
    const auto* v = x->if_contains(k);
    if (v && v->is_int64() && v->get_int64() > 0) return v->get_int64();
    if (v && v->is_uint64() &&
        v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return static_cast<std::int64_t>(v->get_uint64());
    return std::nullopt;
  };
  auto set = [&](std::string_view k, std::int64_t& field) {
    if (auto v = positive(k)) field = *v;
  };
  if (const auto* v = x->if_contains("enabled"); v && v->is_bool()) e.enabled = v->get_bool();
  if (const auto* v = x->if_contains("archive_name");
      v && v->is_string() && !v->get_string().empty())
    e.archive_name = std::string(v->get_string());
  set("max_sources_per_execution", e.max_sources_per_execution);
  set("tick_execution_source_limit", e.tick_execution_source_limit);
  set("tick_execution_run_limit", e.tick_execution_run_limit);
  set("min_sources_to_trigger", e.min_sources_to_trigger);
  set("max_wait_minutes", e.max_wait_minutes);
  set("claim_ttl_minutes", e.claim_ttl_minutes);
  e.concurrent_execution_run_limit = positive("concurrent_execution_run_limit");
  if (const auto* v = x->if_contains("deployment_profile_name");
      v && v->is_string() && !v->get_string().empty())
    e.deployment_profile_name = std::string(v->get_string());
  e.execution_slurm_remote_poll_max_rounds = positive("execution_slurm_remote_poll_max_rounds");
  e.execution_rest_remote_poll_max_rounds = positive("execution_rest_remote_poll_max_rounds");
  auto interval = [&](std::string_view k) -> std::optional<double> {
    const auto* v = x->if_contains(k);
    if (!v) return std::nullopt;
    double d = v->is_double()  ? v->get_double()
               : v->is_int64() ? static_cast<double>(v->get_int64())
                               : -1;
    if (std::isfinite(d) && d > 0) return d;
    return std::nullopt;
  };
  e.execution_rest_remote_poll_interval_seconds =
      interval("execution_rest_remote_poll_interval_seconds");
  e.execution_slurm_remote_poll_interval_seconds =
      interval("execution_slurm_remote_poll_interval_seconds");
  return e;
}

std::vector<Diagnostic> compare_with_previous(const ProjectConfig& previous,
                                              const ProjectConfig& next) {
  std::vector<Diagnostic> out;
  auto section = [](const ProjectConfig& c,
                    std::initializer_list<std::string_view> path) -> std::string {
    json::value v = to_json(c);
    const json::value* cur = &v;
    for (auto k : path) {
      if (!cur->is_object() || !cur->get_object().contains(k)) return "<absent>";
      cur = &cur->get_object().at(k);
    }
    return serde_json_text(*cur, KeyOrder::insertion);
  };
  if (section(previous, {"discovery", "prepare_metadata", "signature"}) !=
      section(next, {"discovery", "prepare_metadata", "signature"}))
    out.push_back({"discovery.prepare_metadata.signature", "signature_changed", Severity::warning,
                   "discovery.prepare_metadata.signature added or changed; expect discovery "
                   "re-signatures and a "
                   "workflow_run_pending wave",
                   std::nullopt});
  if (section(previous, {"discovery", "prepare_metadata", "field_map"}) !=
      section(next, {"discovery", "prepare_metadata", "field_map"}))
    out.push_back({"discovery.prepare_metadata.field_map", "field_map_changed", Severity::warning,
                   "discovery.prepare_metadata.field_map changed; prepared metadata shape and "
                   "discovery signatures "
                   "may change",
                   std::nullopt});
  if (section(previous, {"definitions", "transforms"}) !=
      section(next, {"definitions", "transforms"}))
    out.push_back({"definitions.transforms", "definitions_changed", Severity::warning,
                   "definitions.transforms changed; prepared metadata shape and discovery "
                   "signatures may change",
                   std::nullopt});
  return out;
}

}  // namespace beampipe::domain

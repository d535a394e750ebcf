// Decoding of project config documents into the typed model (spec §10.1).
#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#include "domain/canonical_json.hpp"
#include "domain/document.hpp"
#include "domain/json_decoder.hpp"
#include "domain/project_config.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {
using detail::Decoder;

void decode_metadata(Decoder& d, const json::value& v, ProjectMetadata& m) {
  const auto* o = d.object(v, "metadata", {"id", "description"});
  if (!o) return;
  d.str(*o, "metadata", "id", m.id, true);
  d.opt_str(*o, "metadata", "description", m.description);
}

void decode_adapters(Decoder& d, const json::value& v, Adapters& a) {
  const auto* o = d.object(v, "adapters", {"required", "casda_tap_url", "vizier_tap_url", "tap"});
  if (!o) return;
  d.str_list(*o, "adapters", "required", a.required);
  d.opt_str(*o, "adapters", "casda_tap_url", a.casda_tap_url);
  d.opt_str(*o, "adapters", "vizier_tap_url", a.vizier_tap_url);
  if (const auto* t = Decoder::member(*o, "tap")) {
    if (const auto* to =
            d.object(*t, "adapters.tap", {"timeout_seconds", "retries", "fail_open"})) {
      d.integer(*to, "adapters.tap", "timeout_seconds", a.tap.timeout_seconds);
      d.integer(*to, "adapters.tap", "retries", a.tap.retries);
      d.boolean(*to, "adapters.tap", "fail_open", a.tap.fail_open);
    }
  }
}

void decode_graph(Decoder& d, const json::value& v, GraphSource& g) {
  const auto* o = d.object(v, "graph", {"url", "path", "sha256"});
  if (!o) return;
  d.opt_str(*o, "graph", "url", g.url);
  d.opt_str(*o, "graph", "path", g.path);
  d.opt_str(*o, "graph", "sha256", g.sha256);
}

void decode_queries(Decoder& d, const json::object& o, const std::string& base,
                    std::string_view key, std::vector<Query>& out) {
  const auto* v = Decoder::member(o, key);
  if (!v) return;
  auto path = join_path(base, std::string(key));
  if (!v->is_array()) return d.type_error(path, "sequence", *v);
  std::size_t i = 0;
  for (const auto& e : v->get_array()) {
    auto qp = index_path(path, i++);
    Query q;
    if (const auto* qo = d.object(e, qp, {"name", "adapter", "template", "source_id_transform"})) {
      d.str(*qo, qp, "name", q.name, true);
      d.str(*qo, qp, "adapter", q.adapter, true);
      d.str(*qo, qp, "template", q.template_text, true);
      d.opt_str(*qo, qp, "source_id_transform", q.source_id_transform);
    }
    out.push_back(std::move(q));
  }
}

void decode_mappings(Decoder& d, const json::value& raw, const std::string& path,
                     std::map<std::string, Mapping>& out) {
  if (!raw.is_object()) return d.type_error(path, "mapping", raw);
  for (const auto& kv : raw.get_object()) {
    auto mp = join_path(path, std::string(kv.key()));
    const auto* mo = d.object(kv.value(), mp, {"from", "transform"});
    if (!mo) continue;
    Mapping m;
    bool ok = d.str(*mo, mp, "from", m.from, true);
    if (const auto* t = Decoder::member(*mo, "transform")) {
      auto tp = join_path(mp, "transform");
      if (t->is_string()) {
        m.transform = TransformRef(std::string(t->get_string()));
      } else if (t->is_array()) {
        std::vector<std::string> chain;
        std::size_t i = 0;
        for (const auto& e : t->get_array()) {
          if (e.is_string())
            chain.emplace_back(e.get_string());
          else {
            d.sink().error(index_path(tp, i), "invalid_config_structure",
                           index_path(tp, i) + " must be a transform name string");
            ok = false;
          }
          ++i;
        }
        m.transform = TransformRef(std::move(chain));
      } else {
        d.type_error(tp, "transform name or list of names", *t);
        ok = false;
      }
    }
    if (ok) out.emplace(std::string(kv.key()), std::move(m));
  }
}

void decode_discovery(Decoder& d, const json::value& v, DiscoveryConfig& dc) {
  const auto* o = d.object(v, "discovery", {"queries", "enrichments", "prepare_metadata"});
  if (!o) return;
  decode_queries(d, *o, "discovery", "queries", dc.queries);
  decode_queries(d, *o, "discovery", "enrichments", dc.enrichments);
  const auto* pm = Decoder::member(*o, "prepare_metadata");
  if (!pm) return;
  const std::string base = "discovery.prepare_metadata";
  const auto* po = d.object(*pm, base, {"field_map", "discovery_flags", "signature"});
  if (!po) return;
  PrepareMetadata p;
  if (const auto* fm = Decoder::member(*po, "field_map")) {
    p.field_map_raw = sorted_copy(*fm);
    decode_mappings(d, *fm, base + ".field_map", p.field_map);
  }
  if (const auto* fl = Decoder::member(*po, "discovery_flags")) {
    p.discovery_flags_raw = sorted_copy(*fl);
    decode_mappings(d, *fl, base + ".discovery_flags", p.discovery_flags);
  }
  if (const auto* sg = Decoder::member(*po, "signature")) {
    const std::string sp = base + ".signature";
    if (const auto* so = d.object(*sg, sp, {"exclude_fields", "include_discovery_flags"})) {
      SignatureOptions s;
      d.str_list(*so, sp, "exclude_fields", s.exclude_fields);
      d.boolean(*so, sp, "include_discovery_flags", s.include_discovery_flags);
      p.signature = std::move(s);
    }
  }
  dc.prepare_metadata = std::move(p);
}

void decode_manifest(Decoder& d, const json::value& v, ManifestConfig& m) {
  const auto* o = d.object(
      v, "manifest", {"group_by", "source_template", "dataset_template", "expand_from", "path"});
  if (!o) return;
  d.str_list(*o, "manifest", "group_by", m.group_by);
  if (const auto* st = Decoder::member(*o, "source_template")) {
    if (st->is_object())
      m.source_template = sorted_copy(*st);
    else
      d.type_error("manifest.source_template", "mapping", *st);
  }
  if (const auto* dt = Decoder::member(*o, "dataset_template")) {
    if (dt->is_object())
      m.dataset_template = sorted_copy(*dt);
    else
      d.type_error("manifest.dataset_template", "mapping", *dt);
  }
  d.opt_str(*o, "manifest", "expand_from", m.expand_from);
  d.str(*o, "manifest", "path", m.path);
}

void decode_graph_patches(Decoder& d, const json::value& v, std::vector<GraphPatch>& out) {
  if (!v.is_array()) return d.type_error("graph_patches", "sequence", v);
  std::size_t i = 0;
  for (const auto& e : v.get_array()) {
    auto pp = index_path("graph_patches", i++);
    const auto* po = d.object(e, pp, {"match", "set"});
    if (!po) continue;
    GraphPatch gp;
    gp.match = json::object();
    gp.set = json::object();
    if (const auto* m = Decoder::member(*po, "match")) {
      if (const auto* mo = d.object(*m, join_path(pp, "match"), {"kind", "equals"})) {
        gp.match = sorted_copy(*m);
        d.str(*mo, join_path(pp, "match"), "kind", gp.match_kind);
        d.str(*mo, join_path(pp, "match"), "equals", gp.equals);
      }
    }  // absent match/set: reported by validation as `required`
    if (const auto* s = Decoder::member(*po, "set")) {
      if (s->is_object())
        gp.set = sorted_copy(*s);
      else
        d.type_error(join_path(pp, "set"), "mapping", *s);
    }
    out.push_back(std::move(gp));
  }
}

void decode_automation(Decoder& d, const json::value& v, Automation& a) {
  const auto* o = d.object(v, "automation", {"discovery", "execution"});
  if (!o) return;
  if (const auto* ev = Decoder::member(*o, "execution")) {
    const std::string p = "automation.execution";
    const auto* eo = d.object(
        *ev, p,
        {"enabled", "archive_name", "max_sources_per_execution", "tick_execution_source_limit",
         "tick_execution_run_limit", "min_sources_to_trigger", "max_wait_minutes",
         "claim_ttl_minutes", "concurrent_execution_run_limit", "deployment_profile_name",
         "execution_slurm_remote_poll_max_rounds", "execution_rest_remote_poll_max_rounds",
         "execution_rest_remote_poll_interval_seconds",
         "execution_slurm_remote_poll_interval_seconds"});
    if (eo) {
      ExecutionAutomation e;
      d.boolean(*eo, p, "enabled", e.enabled);
      d.str(*eo, p, "archive_name", e.archive_name);
      d.integer(*eo, p, "max_sources_per_execution", e.max_sources_per_execution);
      d.integer(*eo, p, "tick_execution_source_limit", e.tick_execution_source_limit);
      d.integer(*eo, p, "tick_execution_run_limit", e.tick_execution_run_limit);
      d.integer(*eo, p, "min_sources_to_trigger", e.min_sources_to_trigger);
      d.integer(*eo, p, "max_wait_minutes", e.max_wait_minutes);
      d.integer(*eo, p, "claim_ttl_minutes", e.claim_ttl_minutes);
      d.opt_integer(*eo, p, "concurrent_execution_run_limit", e.concurrent_execution_run_limit);
      d.opt_str(*eo, p, "deployment_profile_name", e.deployment_profile_name);
      d.opt_integer(*eo, p, "execution_slurm_remote_poll_max_rounds",
                    e.execution_slurm_remote_poll_max_rounds);
      d.opt_integer(*eo, p, "execution_rest_remote_poll_max_rounds",
                    e.execution_rest_remote_poll_max_rounds);
      d.opt_double(*eo, p, "execution_rest_remote_poll_interval_seconds",
                   e.execution_rest_remote_poll_interval_seconds);
      d.opt_double(*eo, p, "execution_slurm_remote_poll_interval_seconds",
                   e.execution_slurm_remote_poll_interval_seconds);
      a.execution = std::move(e);
    }
  }
  if (const auto* dv = Decoder::member(*o, "discovery")) {
    const std::string p = "automation.discovery";
    const auto* dobj = d.object(*dv, p,
                                {"enabled", "tick_discovery_source_limit", "batch_size",
                                 "stale_after_hours", "claim_ttl_minutes", "queue_max_depth",
                                 "tick_discovery_batch_limit", "concurrent_discovery_batch_limit"});
    if (dobj) {
      DiscoveryAutomation da;
      d.boolean(*dobj, p, "enabled", da.enabled);
      d.integer(*dobj, p, "tick_discovery_source_limit", da.tick_discovery_source_limit);
      d.integer(*dobj, p, "batch_size", da.batch_size);
      d.integer(*dobj, p, "stale_after_hours", da.stale_after_hours);
      d.integer(*dobj, p, "claim_ttl_minutes", da.claim_ttl_minutes);
      d.opt_integer(*dobj, p, "queue_max_depth", da.queue_max_depth);
      d.opt_integer(*dobj, p, "tick_discovery_batch_limit", da.tick_discovery_batch_limit);
      d.opt_integer(*dobj, p, "concurrent_discovery_batch_limit",
                    da.concurrent_discovery_batch_limit);
      a.discovery = std::move(da);
    }
  }
}

void decode_definitions(Decoder& d, const json::value& v, Definitions& defs) {
  const auto* o = d.object(v, "definitions", {"transforms"});
  if (!o) return;
  const auto* t = Decoder::member(*o, "transforms");
  if (!t) return;
  if (!t->is_object()) return d.type_error("definitions.transforms", "mapping", *t);
  for (const auto& kv : t->get_object()) {
    auto p = join_path("definitions.transforms", std::string(kv.key()));
    const auto* so = d.object(kv.value(), p,
                              {"kind", "prefix", "suffix", "separators", "pattern", "group", "from",
                               "to", "default", "steps"});
    if (!so) continue;
    TransformSpec s;
    d.str(*so, p, "kind", s.kind, true);
    d.opt_str(*so, p, "prefix", s.prefix);
    d.opt_str(*so, p, "suffix", s.suffix);
    if (const auto* sep = Decoder::member(*so, "separators")) {
      std::vector<std::string> l;
      if (d.str_list(*sep, join_path(p, "separators"), l)) s.separators = std::move(l);
    }
    d.opt_str(*so, p, "pattern", s.pattern);
    d.opt_integer(*so, p, "group", s.group);
    d.opt_str(*so, p, "from", s.from);
    d.opt_str(*so, p, "to", s.to);
    d.opt_str(*so, p, "default", s.default_value);
    if (const auto* st = Decoder::member(*so, "steps")) {
      std::vector<std::string> l;
      if (d.str_list(*st, join_path(p, "steps"), l)) s.steps = std::move(l);
    }
    defs.transforms.emplace(std::string(kv.key()), std::move(s));
  }
}

void decode_source_identity(Decoder& d, const json::value& v, SourceIdentity& si) {
  const auto* o = d.object(v, "source_identity", {"canonical", "template_vars"});
  if (!o) return;
  d.str(*o, "source_identity", "canonical", si.canonical);
  const auto* tv = Decoder::member(*o, "template_vars");
  if (!tv) return;
  if (!tv->is_object()) return d.type_error("source_identity.template_vars", "mapping", *tv);
  for (const auto& kv : tv->get_object()) {
    auto p = join_path("source_identity.template_vars", std::string(kv.key()));
    TemplateVar var;
    // An empty entry (`source_identifier:` with nothing under it) means all defaults.
    if (!kv.value().is_null()) {
      const auto* vo = d.object(kv.value(), p, {"from", "transform"});
      if (!vo) continue;
      d.opt_str(*vo, p, "from", var.from);
      d.opt_str(*vo, p, "transform", var.transform);
    }
    si.template_vars.emplace(std::string(kv.key()), std::move(var));
  }
}

void decode_extension(Decoder& d, const json::value& v, Extension& e) {
  const auto* o = d.object(v, "extension", {"wasm_sha256", "hooks"});
  if (!o) return;
  d.opt_str(*o, "extension", "wasm_sha256", e.wasm_sha256);
  d.str_list(*o, "extension", "hooks", e.hooks);
}

void decode_output_verification(Decoder& d, const json::value& v, OutputVerification& ov) {
  const auto* o = d.object(v, "output_verification", {"required", "inventory_schema"});
  if (!o) return;
  d.boolean(*o, "output_verification", "required", ov.required);
  d.str(*o, "output_verification", "inventory_schema", ov.inventory_schema);
}

ConfigParseResult decode_document(const json::value& doc) {
  ConfigParseResult out;
  DiagnosticSink sink;
  Decoder d(sink);
  const auto* root = d.object(
      doc, "(document)",
      {"apiVersion", "kind", "metadata", "definitions", "source_identity", "adapters", "graph",
       "discovery", "manifest", "graph_patches", "automation", "extension", "output_verification"});
  if (!root) {
    out.diagnostics = std::move(sink.items());
    return out;
  }
  // Unknown top-level keys were reported with a "(document)." prefix; strip it.
  for (auto& diag : sink.items())
    if (diag.path.rfind("(document).", 0) == 0) diag.path = diag.path.substr(11);
  ProjectConfig c;
  d.str(*root, "", "apiVersion", c.api_version, true);
  d.str(*root, "", "kind", c.kind, true);
  if (const auto* m = Decoder::member(*root, "metadata"))
    decode_metadata(d, *m, c.metadata);
  else
    d.missing("metadata");
  if (const auto* v = Decoder::member(*root, "adapters")) decode_adapters(d, *v, c.adapters);
  if (const auto* v = Decoder::member(*root, "graph")) decode_graph(d, *v, c.graph.emplace());
  if (const auto* v = Decoder::member(*root, "discovery")) decode_discovery(d, *v, c.discovery);
  if (const auto* v = Decoder::member(*root, "manifest"))
    decode_manifest(d, *v, c.manifest.emplace());
  if (const auto* v = Decoder::member(*root, "graph_patches"))
    decode_graph_patches(d, *v, c.graph_patches);
  if (const auto* v = Decoder::member(*root, "output_verification"))
    decode_output_verification(d, *v, c.output_verification.emplace());
  if (const auto* v = Decoder::member(*root, "automation")) decode_automation(d, *v, c.automation);
  if (const auto* v = Decoder::member(*root, "extension"))
    decode_extension(d, *v, c.extension.emplace());
  if (const auto* v = Decoder::member(*root, "definitions"))
    decode_definitions(d, *v, c.definitions.emplace());
  if (const auto* v = Decoder::member(*root, "source_identity"))
    decode_source_identity(d, *v, c.source_identity.emplace());
  out.config = std::move(c);
  out.diagnostics = std::move(sink.items());
  return out;
}

}  // namespace

const TransformDefinitions& ProjectConfig::transforms() const {
  static const TransformDefinitions none;
  return definitions ? definitions->transforms : none;
}

ConfigParseResult parse_project_config(const json::value& document) {
  try {
    return decode_document(document);
  } catch (const std::exception& e) {
    ConfigParseResult out;
    out.diagnostics.push_back(
        {"(document)", "invalid_config_structure", Severity::error, e.what(), std::nullopt});
    return out;
  }
}

ConfigParseResult parse_project_config(std::string_view text) {
  ConfigParseResult out;
  try {
    out.raw_sha256 = sha256_hex(text);
    auto doc = parse_yaml_or_json(text);
    if (!doc.value) {
      out.diagnostics = std::move(doc.diagnostics);
      return out;
    }
    auto decoded = parse_project_config(*doc.value);
    out.config = std::move(decoded.config);
    out.diagnostics = std::move(doc.diagnostics);
    for (auto& diag : decoded.diagnostics) out.diagnostics.push_back(std::move(diag));
  } catch (const std::exception& e) {
    out.config.reset();
    out.diagnostics.push_back(
        {"(document)", "invalid_yaml", Severity::error, e.what(), std::nullopt});
  }
  return out;
}

std::optional<std::string> read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

}  // namespace beampipe::domain

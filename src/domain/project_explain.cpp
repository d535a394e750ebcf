#include "domain/project_explain.hpp"

#include <sstream>

namespace beampipe::domain {
namespace json = boost::json;

namespace {

const json::value* find(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* at = &v;
  for (const char* k : path) {
    if (!at->is_object()) return nullptr;
    at = at->as_object().if_contains(k);
    if (!at) return nullptr;
  }
  return at;
}

std::string str(const json::value* v, const std::string& fallback = "") {
  if (!v || v->is_null()) return fallback;
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

// A template indented under its heading, one line each.
void indented(std::ostream& out, const std::string& text, const char* pad) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) out << pad << line << "\n";
}

void queries(std::ostream& out, const json::value* list, const char* when) {
  if (!list || !list->is_array() || list->as_array().empty()) return;
  out << when << "\n";
  for (const auto& q : list->as_array())
    if (q.is_object()) {
      out << "  - \"" << str(find(q, {"name"})) << "\" on " << str(find(q, {"adapter"}), "?")
          << ":\n";
      indented(out, str(find(q, {"template"})), "      ");
    }
}

void transform_words(std::ostream& out, const std::string& name, const json::value& t) {
  out << "  - " << name << ": " << str(find(t, {"kind"}), "?");
  if (t.is_object())
    for (const auto& [k, v] : t.as_object())
      if (k != "kind") out << " " << k << "=" << json::serialize(v);
  out << "\n";
}

void automation(std::ostream& out, const json::value* a) {
  const auto* d = a ? find(*a, {"discovery"}) : nullptr;
  const auto* e = a ? find(*a, {"execution"}) : nullptr;
  out << "Automation (the scheduler, on its own):\n";
  if (d && find(*d, {"enabled"}) && find(*d, {"enabled"})->as_bool())
    out << "  - discovers sources not checked for " << str(find(*d, {"stale_after_hours"}), "?")
        << " h, in batches of " << str(find(*d, {"batch_size"}), "?") << ", at most "
        << str(find(*d, {"tick_discovery_source_limit"}), "?") << " sources a tick\n";
  else
    out << "  - discovery: only when asked (POST /sources/discover)\n";
  if (e && find(*e, {"enabled"}) && find(*e, {"enabled"})->as_bool())
    out << "  - runs sources whose discovery changed: "
        << str(find(*e, {"max_sources_per_execution"}), "?") << " source(s) a run, once "
        << str(find(*e, {"min_sources_to_trigger"}), "?") << " are ready or after "
        << str(find(*e, {"max_wait_minutes"}), "?") << " min, at most "
        << str(find(*e, {"concurrent_execution_run_limit"}), "no limit on")
        << " runs at once, on profile "
        << str(find(*e, {"deployment_profile_name"}), "(the default)") << ", archive "
        << str(find(*e, {"archive_name"}), "?") << "\n";
  else
    out << "  - executions: only when asked (POST /executions)\n";
}

}  // namespace

std::string explain_project(const ValidationReport& report) {
  std::ostringstream out;
  out << "Project " << report.project_id << ": " << (report.valid ? "valid" : "INVALID")
      << ", spec_sha256 " << report.spec_sha256 << "\n";
  if (report.config) {
    auto spec = to_json(*report.config);
    const auto* required = find(spec, {"adapters", "required"});
    out << "Archives asked: " << (required ? json::serialize(*required) : "none") << "\n";
    queries(out, find(spec, {"discovery", "queries"}), "For each source, discovery runs:");
    queries(out, find(spec, {"discovery", "enrichments"}), "Then, for each SBID found:");
    if (const auto* fm = find(spec, {"discovery", "prepare_metadata", "field_map"});
        fm && fm->is_object() && !fm->as_object().empty()) {
      out << "Each row becomes a record:\n";
      for (const auto& [field, m] : fm->as_object()) {
        out << "  - " << field << " <- " << str(find(m, {"from"}), "?");
        if (const auto* t = find(m, {"transform"}); t && !t->is_null()) out << " via " << str(t);
        out << "\n";
      }
    }
    if (const auto* flags = find(spec, {"discovery", "prepare_metadata", "discovery_flags"});
        flags && flags->is_object())
      for (const auto& [flag, m] : flags->as_object())
        out << "  - flag " << flag << " <- " << str(find(m, {"from"}), "?") << " via "
            << str(find(m, {"transform"}), "-") << "\n";
    if (const auto* sig = find(spec, {"discovery", "prepare_metadata", "signature"}))
      out << "The discovery signature hashes every record field except "
          << str(find(*sig, {"exclude_fields"}), "[]") << "; discovery flags "
          << (find(*sig, {"include_discovery_flags"}) &&
                      find(*sig, {"include_discovery_flags"})->is_bool() &&
                      find(*sig, {"include_discovery_flags"})->as_bool()
                  ? "included"
                  : "not included")
          << ". A changed signature makes the source ready to run again.\n";
    if (const auto* ts = find(spec, {"definitions", "transforms"});
        ts && ts->is_object() && !ts->as_object().empty()) {
      out << "Transforms:\n";
      for (const auto& [name, t] : ts->as_object()) transform_words(out, name, t);
    }
    if (const auto* g = find(spec, {"graph"}); g && g->is_object()) {
      out << "Graph: " << str(find(*g, {"url"}), str(find(*g, {"path"}), "the built-in graph"));
      out << (find(*g, {"sha256"}) && !find(*g, {"sha256"})->is_null() ? " (SHA-256 pinned)"
                                                                       : " (not pinned)")
          << "\n";
    } else {
      out << "Graph: the built-in two-node graph\n";
    }
    if (const auto* ps = find(spec, {"graph_patches"}); ps && ps->is_array())
      for (const auto& p : ps->as_array())
        out << "  - patch nodes matching " << str(find(p, {"match"})) << ": set "
            << str(find(p, {"set"})) << "\n";
    out << "Manifest: "
        << (find(spec, {"manifest"}) && !find(spec, {"manifest"})->is_null()
                ? "from the config's template"
                : "the default shape")
        << "\n";
    automation(out, find(spec, {"automation"}));
  }
  for (const auto& d : report.errors)
    out << "error: " << d.path << ": " << d.message << " [" << d.code << "]\n";
  for (const auto& d : report.warnings)
    out << "warning: " << d.path << ": " << d.message << " [" << d.code << "]\n";
  return out.str();
}

}  // namespace beampipe::domain

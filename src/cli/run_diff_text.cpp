#include "cli/run_diff_text.hpp"

namespace beampipe::cli {
namespace json = boost::json;

namespace {

std::string text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return v.is_null() ? "-" : json::serialize(v);
}

std::string padded(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

std::vector<std::string> run_diff_lines(const json::value& d) {
  std::vector<std::string> out;
  bool same = d.at("same").as_bool();
  out.push_back("runs " + text(d.at("a")) + " -> " + text(d.at("b")) + ": " +
                (same ? "the same" : "they differ"));
  for (const char* part : {"config", "profile", "sources", "manifest", "wasm_hooks", "graph"}) {
    const auto* pv = d.as_object().if_contains(part);
    if (!pv) continue;  // a server from before the part existed
    const auto& p = pv->as_object();
    out.push_back("  " + padded(part, 11) + (p.at("same").as_bool() ? "same" : "differs"));
    if (std::string_view(part) == "wasm_hooks" && !p.at("same").as_bool())
      for (const char* side : {"a", "b"}) {
        std::string ran;
        for (const auto& h : p.at(side).as_array())
          ran += (ran.empty() ? "" : ", ") + text(h.at("hook")) + " " +
                 text(h.at("module_sha256")).substr(0, 12) +
                 (h.at("error").is_null() ? "" : " (failed)");
        out.push_back("    " + std::string(side) + ": " + (ran.empty() ? "none" : ran));
      }
    if (std::string_view(part) == "sources") {
      for (const auto& x : p.at("added").as_array()) out.push_back("    added " + text(x));
      for (const auto& x : p.at("removed").as_array()) out.push_back("    removed " + text(x));
      for (const auto& x : p.at("signature_changed").as_array())
        out.push_back("    signature of " + text(x.at("source_identifier")) + " changed");
    }
    const auto* diff = p.if_contains("diff");
    if (diff && diff->is_object()) {
      for (const auto& c : diff->at("changes").as_array()) {
        const auto& path = c.at("path").as_string();
        out.push_back("    " + text(c.at("change")) + " " +
                      (path.empty() ? std::string("(whole)") : std::string(path)) + ": " +
                      json::serialize(c.at("before")) + " -> " + json::serialize(c.at("after")));
      }
      if (diff->at("truncated").as_bool())
        out.push_back("    ... " + text(diff->at("total")) + " changes in all");
    }
    if (std::string_view(part) == "graph") {
      const auto& summary = p.at("summary");
      if (summary.is_object())
        for (const auto& n : summary.at("changed_nodes").as_array())
          out.push_back("    node " + text(n.at("change")) + " " + json::serialize(n.at("node")) +
                        (n.as_object().contains("fields") ? ": " + json::serialize(n.at("fields"))
                                                          : std::string()));
    }
  }
  return out;
}

}  // namespace beampipe::cli

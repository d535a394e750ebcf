#include "domain/templates.hpp"

#include <algorithm>

#include "domain/canonical_json.hpp"
#include "domain/project_config.hpp"
#include "domain/transforms.hpp"

namespace beampipe::domain {
namespace json = boost::json;

TemplateContext build_template_context(std::string_view source_identifier,
                                       const ProjectConfig& config) {
  TemplateContext ctx;
  const json::value id = json::string(source_identifier);
  const auto& defs = config.transforms();
  if (config.source_identity) {
    for (const auto& [var, spec] : config.source_identity->template_vars) {
      json::value base =
          (!spec.from || *spec.from == "canonical") ? id : json::value(json::string(*spec.from));
      if (spec.transform) {
        if (auto t = apply_named(*spec.transform, base, defs)) base = std::move(*t);
      }
      ctx[var] = std::move(base);
    }
    if (!ctx.count("source_identifier")) ctx["source_identifier"] = id;
    return ctx;
  }
  ctx["source_identifier"] = id;
  json::value name = id;
  if (!config.discovery.queries.empty() && config.discovery.queries[0].source_id_transform) {
    if (auto t = apply_named(*config.discovery.queries[0].source_id_transform, id, defs))
      name = std::move(*t);
  }
  ctx["source_name"] = std::move(name);
  return ctx;
}

TemplateContext context_for_query(const TemplateContext& base, const Query& query,
                                  std::string_view source_identifier, const ProjectConfig& config) {
  TemplateContext ctx = base;
  if (!config.source_identity && query.source_id_transform) {
    const json::value id = json::string(source_identifier);
    auto t = apply_named(*query.source_id_transform, id, config.transforms());
    ctx["source_name"] = t ? std::move(*t) : id;
  }
  return ctx;
}

TemplateContext context_with_sbid(const TemplateContext& base, std::string_view sbid) {
  TemplateContext ctx = base;
  ctx["sbid"] = json::string(sbid);
  return ctx;
}

std::string adql_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out.push_back(c);
    if (c == '\'') out.push_back('\'');
  }
  return out;
}

std::string render_template(std::string_view tmpl, const TemplateContext& ctx) {
  std::string out;
  out.reserve(tmpl.size());
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '{') {
      auto close = tmpl.find('}', i + 1);
      if (close != std::string_view::npos) {
        auto it = ctx.find(tmpl.substr(i + 1, close - i - 1));
        if (it != ctx.end()) {
          out += adql_escape(value_string(it->second).value_or(""));
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(tmpl[i]);
    ++i;
  }
  return out;
}

std::vector<std::string> template_placeholders(std::string_view tmpl) {
  std::vector<std::string> out;
  auto ident_start = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  auto ident = [&](char c) { return ident_start(c) || (c >= '0' && c <= '9'); };
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '{' || i + 1 >= tmpl.size() || !ident_start(tmpl[i + 1])) continue;
    std::size_t j = i + 1;
    while (j < tmpl.size() && ident(tmpl[j])) ++j;
    if (j < tmpl.size() && tmpl[j] == '}') {
      std::string name(tmpl.substr(i + 1, j - i - 1));
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    }
  }
  return out;
}

}  // namespace beampipe::domain

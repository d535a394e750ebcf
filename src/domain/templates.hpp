// Discovery template context and ADQL `{var}` rendering (spec §5.1–5.2).
#pragma once

#include <boost/json.hpp>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::domain {

struct ProjectConfig;

// Variable name → value; std::map keeps the sorted order the spec iterates in.
using TemplateContext = std::map<std::string, boost::json::value, std::less<>>;

// §5.1. With source_identity: every template var (from "canonical"/absent = the
// identifier, any other `from` is a literal), passed through its transform when it
// yields something; source_identifier is always defined. Legacy: source_identifier
// and source_name (= queries[0].source_id_transform of the identifier).
TemplateContext build_template_context(std::string_view source_identifier,
                                       const ProjectConfig& config);

struct Query;

// §5.3 context for one query: in legacy mode (no source_identity) a query with a
// source_id_transform sets source_name = transform(identifier) for itself.
TemplateContext context_for_query(const TemplateContext& base, const Query& query,
                                  std::string_view source_identifier, const ProjectConfig& config);

// §5.3 step 5: ctx + {sbid} for per-SBID enrichments.
TemplateContext context_with_sbid(const TemplateContext& base, std::string_view sbid);

// ADQL string-literal escaping: every ' becomes ''. ADQL (like SQL-92) has no
// backslash escapes, so doubling the quote is the only way a quote can appear
// inside '…', and after doubling no value can close the literal it is placed in.
std::string adql_escape(std::string_view value);

// §5.2 rendering of `{name}` placeholders. The replacement is value_string(v)
// ("" when absent) with ADQL escaping. Unknown placeholders stay verbatim.
//
// Deliberate difference from the earlier implementation: the template is scanned
// once and substituted text is never rescanned, so an identifier that contains
// "{other}" is inserted literally instead of being expanded by a later key.
std::string render_template(std::string_view tmpl, const TemplateContext& ctx);

// Names of identifier-like placeholders `{[A-Za-z_][A-Za-z0-9_]*}` in a template,
// in order of first appearance, without duplicates (for validation).
std::vector<std::string> template_placeholders(std::string_view tmpl);

}  // namespace beampipe::domain

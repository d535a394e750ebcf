// Text → JSON value for configs: YAML (yaml-cpp) or JSON (Boost.JSON).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "domain/diagnostics.hpp"
#include "util/input_rules.hpp"

namespace beampipe::domain {

struct ParsedDocument {
  std::optional<boost::json::value> value;  // set when the text parsed
  std::vector<Diagnostic> diagnostics;      // invalid_yaml / invalid_config_structure
};

// Limits that keep hostile input (alias bombs, deep nesting) bounded. The first structural
// error (too deep, too many nodes) ends the conversion, and diagnostics are capped, so a
// 20-byte alias cycle costs one diagnostic, not 150,000.
inline constexpr std::size_t kMaxDocumentNodes = 200000;
inline constexpr int kMaxDocumentDepth = static_cast<int>(util::kInputDepth);
inline constexpr std::size_t kMaxDocumentDiagnostics = 100;

// JSON text (first non-blank char '{' or '[') is parsed with Boost.JSON so numbers
// keep their exact type; everything else, and JSON that Boost rejects, goes
// through yaml-cpp. Plain YAML scalars are resolved with the YAML 1.2 core
// schema (null, bool, int, float, else string); quoted scalars are strings.
// The result then passes the input rule (util/input_rules.hpp): a NUL, a control character
// or an oversized value is an `invalid_text` error at its path. Never throws.
ParsedDocument parse_yaml_or_json(std::string_view text);

}  // namespace beampipe::domain

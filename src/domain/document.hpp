// Text → JSON value for configs: YAML (yaml-cpp) or JSON (Boost.JSON).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "domain/diagnostics.hpp"

namespace beampipe::domain {

struct ParsedDocument {
  std::optional<boost::json::value> value;  // set when the text parsed
  std::vector<Diagnostic> diagnostics;      // invalid_yaml / invalid_config_structure
};

// Limits that keep hostile input (alias bombs, deep nesting) bounded.
inline constexpr std::size_t kMaxDocumentNodes = 200000;
inline constexpr int kMaxDocumentDepth = 128;

// JSON text (first non-blank char '{' or '[') is parsed with Boost.JSON so numbers
// keep their exact type; everything else, and JSON that Boost rejects, goes
// through yaml-cpp. Plain YAML scalars are resolved with the YAML 1.2 core
// schema (null, bool, int, float, else string); quoted scalars are strings.
// Never throws.
ParsedDocument parse_yaml_or_json(std::string_view text);

}  // namespace beampipe::domain

// Named transforms and inline chains (spec §5.6), applied to JSON values.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace beampipe::domain {

// definitions.transforms.<name> (spec §10.1 TransformSpec). Field order is the
// declaration order used by spec_sha256.
struct TransformSpec {
  std::string kind;
  std::optional<std::string> prefix;
  std::optional<std::string> suffix;
  std::optional<std::vector<std::string>> separators;
  std::optional<std::string> pattern;
  std::optional<std::uint32_t> group;
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::string> default_value;  // YAML key "default"
  std::optional<std::vector<std::string>> steps;
};

using TransformDefinitions = std::map<std::string, TransformSpec>;

// A mapping's `transform`: a single name or an inline chain of names ([HEAD]).
using TransformRef = std::variant<std::string, std::vector<std::string>>;

// The 15 kinds, in the order of the spec table.
const std::vector<std::string>& transform_kinds();
bool is_transform_kind(std::string_view kind);

// Chains nest by name; this bounds the recursion even when validation was skipped
// and a definition refers to itself.
inline constexpr int kMaxTransformDepth = 32;

// std::nullopt means "yields nothing" (§5.6); callers decide what that means.
std::optional<boost::json::value> apply_transform(const TransformSpec& spec,
                                                  const boost::json::value& x,
                                                  const TransformDefinitions& defs, int depth = 0);

// Resolves `name` in defs ([HEAD]: no legacy aliases). Unknown name yields nothing.
std::optional<boost::json::value> apply_named(std::string_view name, const boost::json::value& x,
                                              const TransformDefinitions& defs, int depth = 0);

// Applies names in order; stops with nothing as soon as a step yields nothing.
// An empty chain yields nothing.
std::optional<boost::json::value> apply_chain(const std::vector<std::string>& names,
                                              const boost::json::value& x,
                                              const TransformDefinitions& defs, int depth = 0);

std::optional<boost::json::value> apply_ref(const TransformRef& ref, const boost::json::value& x,
                                            const TransformDefinitions& defs);

// Checks a regex_extract pattern against the supported Rust-regex subset (see
// regex_lite.hpp). Returns an error message, or nullopt when the pattern is usable.
std::optional<std::string> regex_pattern_error(const std::string& pattern);

}  // namespace beampipe::domain

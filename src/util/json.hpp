#pragma once
// Small helpers over Boost.JSON for reading optional fields without exceptions.
#include <boost/json.hpp>
#include <optional>
#include <string>

namespace beampipe::util {

namespace json = boost::json;

std::optional<std::string> get_string(const json::object& o, std::string_view key);
std::optional<bool> get_bool(const json::object& o, std::string_view key);
std::optional<int64_t> get_int(const json::object& o, std::string_view key);
std::string get_string_or(const json::object& o, std::string_view key, std::string fallback);
// The text, or null when there is none.
inline json::value text_or_null(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}
// The member, or null when it is absent.
inline const json::value& at_or_null(const json::object& o, std::string_view key) {
  static const json::value null_value;
  auto it = o.find(key);
  return it == o.end() ? null_value : it->value();
}

// Parse text; returns nullopt (and sets error) instead of throwing. `max_depth` defaults to the
// limit of input from outside (util/input_rules.hpp).
std::optional<json::value> parse_json(std::string_view text, std::string* error = nullptr,
                                      std::size_t max_depth = 32);

// JSON this system stored (read-model rows, snapshots, artifacts it wrote): parsed with the
// readers' depth limit (kStoredDepth), throws std::runtime_error.
json::value parse_stored(std::string_view text);

}  // namespace beampipe::util

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

// Parse text; returns nullopt (and sets error) instead of throwing.
std::optional<json::value> parse_json(std::string_view text, std::string* error = nullptr);

}  // namespace beampipe::util

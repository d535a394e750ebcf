#include "util/json.hpp"

#include <stdexcept>

#include "util/input_rules.hpp"

namespace beampipe::util {

std::optional<std::string> get_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

std::optional<bool> get_bool(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_bool()) return std::nullopt;
  return it->value().as_bool();
}

std::optional<int64_t> get_int(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64() && it->value().as_uint64() <= INT64_MAX)
    return static_cast<int64_t>(it->value().as_uint64());
  return std::nullopt;
}

std::string get_string_or(const json::object& o, std::string_view key, std::string fallback) {
  auto v = get_string(o, key);
  return v ? *v : std::move(fallback);
}

std::optional<json::value> parse_json(std::string_view text, std::string* error,
                                      std::size_t max_depth) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = max_depth;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    if (error) *error = ec.message();
    return std::nullopt;
  }
  return v;
}

json::value parse_stored(std::string_view text) {
  std::string err;
  auto v = parse_json(text, &err, kStoredDepth);
  if (!v) throw std::runtime_error("stored JSON does not parse: " + err);
  return std::move(*v);
}

}  // namespace beampipe::util

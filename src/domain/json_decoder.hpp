// Typed decoding of JSON documents with path-tagged diagnostics (internal helper
// for project configs and deployment profiles).
#pragma once

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/diagnostics.hpp"

namespace beampipe::domain::detail {
namespace json = boost::json;

inline std::string kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "integer";
    case json::kind::double_:
      return "floating point number";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "sequence";
    case json::kind::object:
      return "mapping";
  }
  return "value";
}

inline std::string join_names(std::initializer_list<std::string_view> names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// Walks a JSON document into typed structs, reporting every problem with its path.
class Decoder {
 public:
  explicit Decoder(DiagnosticSink& sink) : sink_(sink) {}

  void type_error(const std::string& path, std::string_view expected, const json::value& got) {
    sink_.error(path, "invalid_config_structure",
                "expected " + std::string(expected) + ", found " + kind_name(got));
  }

  // Returns the object at v, reporting unknown keys ([HEAD] deny_unknown_fields).
  const json::object* object(const json::value& v, const std::string& path,
                             std::initializer_list<std::string_view> allowed) {
    if (!v.is_object()) {
      type_error(path, "mapping", v);
      return nullptr;
    }
    for (const auto& kv : v.get_object()) {
      if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end())
        sink_.error(join_path(path, std::string(kv.key())), "invalid_config_structure",
                    "unknown field '" + std::string(kv.key()) + "'",
                    "allowed fields: " + join_names(allowed));
    }
    return &v.get_object();
  }

  // Member lookup treating null as absent (serde Option semantics).
  static const json::value* member(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return (v && !v->is_null()) ? v : nullptr;
  }

  void missing(const std::string& path) { sink_.error(path, "required", "missing required field"); }

  bool str(const json::object& o, const std::string& base, std::string_view key, std::string& out,
           bool required = false) {
    auto path = join_path(base, std::string(key));
    const auto* v = member(o, key);
    if (!v) {
      if (required) missing(path);
      return false;
    }
    if (!v->is_string()) {
      type_error(path, "string", *v);
      return false;
    }
    out = std::string(v->get_string());
    return true;
  }

  void opt_str(const json::object& o, const std::string& base, std::string_view key,
               std::optional<std::string>& out) {
    std::string s;
    if (str(o, base, key, s)) out = std::move(s);
  }

  void boolean(const json::object& o, const std::string& base, std::string_view key, bool& out) {
    const auto* v = member(o, key);
    if (!v) return;
    if (!v->is_bool()) return type_error(join_path(base, std::string(key)), "boolean", *v);
    out = v->get_bool();
  }

  template <class Int>
  bool integer(const json::object& o, const std::string& base, std::string_view key, Int& out) {
    const auto* v = member(o, key);
    if (!v) return false;
    auto path = join_path(base, std::string(key));
    if (v->is_int64()) {
      auto n = v->get_int64();
      if (n < static_cast<std::int64_t>(std::numeric_limits<Int>::min()) ||
          (n > 0 && static_cast<std::uint64_t>(n) >
                        static_cast<std::uint64_t>(std::numeric_limits<Int>::max()))) {
        sink_.error(path, "invalid_config_structure", "integer out of range");
        return false;
      }
      out = static_cast<Int>(n);
      return true;
    }
    if (v->is_uint64()) {
      auto n = v->get_uint64();
      if (n > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) {
        sink_.error(path, "invalid_config_structure", "integer out of range");
        return false;
      }
      out = static_cast<Int>(n);
      return true;
    }
    type_error(path, std::numeric_limits<Int>::is_signed ? "integer" : "non-negative integer", *v);
    return false;
  }

  template <class Int>
  void opt_integer(const json::object& o, const std::string& base, std::string_view key,
                   std::optional<Int>& out) {
    Int n{};
    if (integer(o, base, key, n)) out = n;
  }

  void opt_double(const json::object& o, const std::string& base, std::string_view key,
                  std::optional<double>& out) {
    const auto* v = member(o, key);
    if (!v) return;
    if (v->is_double())
      out = v->get_double();
    else if (v->is_int64())
      out = static_cast<double>(v->get_int64());
    else if (v->is_uint64())
      out = static_cast<double>(v->get_uint64());
    else
      type_error(join_path(base, std::string(key)), "number", *v);
  }

  bool str_list(const json::value& v, const std::string& path, std::vector<std::string>& out) {
    if (!v.is_array()) {
      type_error(path, "sequence of strings", v);
      return false;
    }
    out.clear();
    bool ok = true;
    std::size_t i = 0;
    for (const auto& e : v.get_array()) {
      if (e.is_string())
        out.emplace_back(e.get_string());
      else {
        type_error(index_path(path, i), "string", e);
        ok = false;
      }
      ++i;
    }
    return ok;
  }

  void str_list(const json::object& o, const std::string& base, std::string_view key,
                std::vector<std::string>& out) {
    if (const auto* v = member(o, key)) str_list(*v, join_path(base, std::string(key)), out);
  }

  DiagnosticSink& sink() { return sink_; }

 private:
  DiagnosticSink& sink_;
};

}  // namespace beampipe::domain::detail

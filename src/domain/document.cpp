#include "domain/document.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace beampipe::domain {
namespace json = boost::json;

namespace {

struct YamlError {
  std::string path;
  std::string message;
};

bool is_plain_null(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> plain_bool(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// YAML 1.2 core schema int: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+
std::optional<json::value> plain_int(const std::string& s) {
  std::string_view v = s;
  bool neg = false;
  if (!v.empty() && (v[0] == '-' || v[0] == '+')) {
    neg = v[0] == '-';
    v.remove_prefix(1);
  }
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'o') && s[0] != '-' && s[0] != '+') {
    base = v[1] == 'x' ? 16 : 8;
    v.remove_prefix(2);
  } else if (!all_digits(v)) {
    return std::nullopt;
  }
  std::uint64_t u = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), u, base);
  if (p != v.data() + v.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    if (base != 10) return std::nullopt;
    double d = 0;
    try {
      d = std::stod(s);
    } catch (...) {
      return std::nullopt;
    }
    return json::value(d);
  }
  if (ec != std::errc()) return std::nullopt;
  if (!neg) {
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return json::value(static_cast<std::int64_t>(u));
    return json::value(u);
  }
  if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return json::value(-static_cast<std::int64_t>(u));
  if (u == static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1)
    return json::value(std::numeric_limits<std::int64_t>::min());
  return json::value(-static_cast<double>(u));
}

// YAML 1.2 core schema float: [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool is_core_float(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

std::optional<json::value> plain_float(const std::string& s) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF")
    return json::value(std::numeric_limits<double>::infinity());
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF")
    return json::value(-std::numeric_limits<double>::infinity());
  if (s == ".nan" || s == ".NaN" || s == ".NAN")
    return json::value(std::numeric_limits<double>::quiet_NaN());
  if (s.size() > 400 || !is_core_float(s)) return std::nullopt;
  std::string_view v = s;
  if (!v.empty() && v[0] == '+') v.remove_prefix(1);
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (p != v.data() + v.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) d = (v[0] == '-' ? -HUGE_VAL : HUGE_VAL);
  return json::value(d);
}

json::value resolve_scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  const std::string& tag = n.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return json::value(json::string(s));
  if (tag == "tag:yaml.org,2002:null") return json::value(nullptr);
  if (is_plain_null(s)) return json::value(nullptr);
  if (auto b = plain_bool(s)) return json::value(*b);
  if (auto i = plain_int(s)) return *i;
  if (auto f = plain_float(s)) return *f;
  return json::value(json::string(s));
}

class Converter {
 public:
  std::vector<YamlError> errors;

  json::value convert(const YAML::Node& n, const std::string& path, int depth) {
    if (too_large_) return nullptr;
    if (++nodes_ > kMaxDocumentNodes) {
      errors.push_back({path, "document has too many nodes (aliases expand too far?)"});
      too_large_ = true;
      return nullptr;
    }
    if (depth > kMaxDocumentDepth) {
      errors.push_back({path, "document nests deeper than " + std::to_string(kMaxDocumentDepth) +
                                  " levels (an alias that contains itself?)"});
      too_large_ = true;
      return nullptr;
    }
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return resolve_scalar(n);
      case YAML::NodeType::Sequence: {
        json::array a;
        std::size_t i = 0;
        for (const auto& e : n) {
          a.push_back(convert(e, index_path(path, i), depth + 1));
          ++i;
          if (too_large_) break;
        }
        return a;
      }
      case YAML::NodeType::Map: {
        json::object o;
        std::set<std::string> seen;
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            if (errors.size() < kMaxDocumentDiagnostics)
              errors.push_back({path, "mapping keys must be scalars"});
            continue;
          }
          std::string key = kv.first.Scalar();
          std::string sub = join_path(path, key);
          if (!seen.insert(key).second) {
            if (errors.size() < kMaxDocumentDiagnostics)
              errors.push_back({sub, "duplicate key '" + key + "'"});
            continue;
          }
          o[key] = convert(kv.second, sub, depth + 1);
          if (too_large_) break;
        }
        return o;
      }
    }
    return nullptr;
  }

 private:
  std::size_t nodes_ = 0;
  bool too_large_ = false;
};

std::string first_nonblank(std::string_view text) {
  for (char c : text)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return std::string(1, c);
  return "";
}

// The input rule over the converted document: one error at the first offending path.
void check_text(ParsedDocument& doc) {
  if (auto p = util::input_problem_of(*doc.value))
    doc.diagnostics.push_back({p->field.empty() ? "(document)" : p->field, "invalid_text",
                               Severity::error, p->message, std::nullopt});
}

}  // namespace

ParsedDocument parse_yaml_or_json(std::string_view text) {
  ParsedDocument out;
  try {
    auto lead = first_nonblank(text);
    if (lead == "{" || lead == "[") {
      json::parse_options opts;
      opts.max_depth = kMaxDocumentDepth;
      std::error_code ec;
      json::value v = json::parse(text, ec, {}, opts);
      if (!ec) {
        out.value = std::move(v);
        check_text(out);
        return out;
      }
    }
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      std::string path = "line " + std::to_string(e.mark.line + 1) + ", column " +
                         std::to_string(e.mark.column + 1);
      out.diagnostics.push_back({path, "invalid_yaml", Severity::error, e.msg, std::nullopt});
      return out;
    }
    Converter conv;
    json::value v = conv.convert(root, "", 0);
    for (auto& e : conv.errors)
      out.diagnostics.push_back({e.path.empty() ? "(document)" : e.path, "invalid_config_structure",
                                 Severity::error, e.message, std::nullopt});
    out.value = std::move(v);
    if (conv.errors.empty()) check_text(out);
  } catch (const std::exception& e) {
    out.value.reset();
    out.diagnostics.push_back(
        {"(document)", "invalid_yaml", Severity::error, e.what(), std::nullopt});
  } catch (...) {
    out.value.reset();
    out.diagnostics.push_back(
        {"(document)", "invalid_yaml", Severity::error, "unparseable document", std::nullopt});
  }
  return out;
}

}  // namespace beampipe::domain

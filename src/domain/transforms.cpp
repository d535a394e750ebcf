#include "domain/transforms.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "domain/canonical_json.hpp"
#include "domain/regex_lite.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

using Out = std::optional<json::value>;

json::value str(std::string s) { return json::value(json::string(s)); }

// Rust str::replace semantics, including the empty-pattern case (inserts `to`
// at every UTF-8 character boundary).
std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  if (from.empty()) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out += to;
      out.push_back(s[i]);
    }
    out += to;
    return out;
  }
  std::size_t pos = 0;
  while (true) {
    auto hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(s, pos);
  return out;
}

std::string ascii_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string ascii_upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::optional<std::string> regex_capture(const std::string& pattern, std::uint32_t group,
                                         const std::string& input) {
  auto compiled = regex_lite::compile(pattern);
  if (!compiled.program) return std::nullopt;
  auto spans = regex_lite::search(*compiled.program, input);
  if (!spans || group >= spans->size() || !(*spans)[group]) return std::nullopt;
  auto [from, to] = *(*spans)[group];
  return input.substr(from, to - from);
}

std::optional<std::int64_t> row_size(const json::object& row) {
  for (const char* k : {"filesize", "file_size", "access_estsize", "size"}) {
    const auto* v = row.if_contains(k);
    if (!v) continue;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64())
      return v->get_uint64() > static_cast<std::uint64_t>(INT64_MAX)
                 ? INT64_MAX
                 : static_cast<std::int64_t>(v->get_uint64());
    if (v->is_double()) {
      double d = v->get_double();
      if (!std::isfinite(d) || d >= 9.2e18 || d <= -9.2e18) return std::nullopt;
      return static_cast<std::int64_t>(std::trunc(d));
    }
    if (v->is_string()) {
      auto t = trim_copy(v->get_string());
      std::int64_t n = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
      if (ec == std::errc() && p == t.data() + t.size() && !t.empty()) return n;
      return std::nullopt;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

bool is_calibration_archive_name(std::string_view f) {
  constexpr std::string_view prefix = "calibration-metadata-processing-logs-SB";
  return f.size() >= prefix.size() + 4 && f.substr(0, prefix.size()) == prefix &&
         f.substr(f.size() - 4) == ".tar";
}

// [HEAD] strict selection: calibration rows with a calibration-archive filename and
// an access_url; largest size wins, ties go to the lexically greatest filename.
Out select_eval_file_by_size(const json::value& x) {
  std::vector<const json::object*> rows;
  if (x.is_object())
    rows.push_back(&x.get_object());
  else if (x.is_array())
    for (const auto& e : x.get_array())
      if (e.is_object()) rows.push_back(&e.get_object());
  if (!x.is_object() && !x.is_array()) return std::nullopt;
  const json::object* best = nullptr;
  std::int64_t best_size = -1;
  std::string best_name;
  for (const auto* row : rows) {
    const auto* format = row->if_contains("format");
    if (!format || !format->is_string() ||
        ascii_lower(std::string(format->get_string())) != "calibration")
      continue;
    const auto* fname = row->if_contains("filename");
    if (!fname || !fname->is_string() || !is_calibration_archive_name(fname->get_string()))
      continue;
    const auto* url = row->if_contains("access_url");
    if (!url || !url->is_string() || trim_copy(url->get_string()).empty()) continue;
    auto size = row_size(*row);
    if (!size || *size < 0) continue;
    std::string name(fname->get_string());
    if (!best || *size > best_size || (*size == best_size && name > best_name)) {
      best = row;
      best_size = *size;
      best_name = name;
    }
  }
  if (!best) return std::nullopt;
  return str(best_name);
}

}  // namespace

const std::vector<std::string>& transform_kinds() {
  static const std::vector<std::string> kinds = {"identity",      "trim",
                                                 "lowercase",     "uppercase",
                                                 "replace",       "add_prefix",
                                                 "add_suffix",    "default_if_empty",
                                                 "strip_prefix",  "extract_digits",
                                                 "split_last",    "is_present",
                                                 "regex_extract", "select_eval_file_by_size",
                                                 "chain"};
  return kinds;
}

bool is_transform_kind(std::string_view kind) {
  const auto& k = transform_kinds();
  return std::find(k.begin(), k.end(), kind) != k.end();
}

std::optional<std::string> regex_pattern_error(const std::string& pattern) {
  auto compiled = regex_lite::compile(pattern);
  if (compiled.program) return std::nullopt;
  return compiled.error;
}

Out apply_transform(const TransformSpec& spec, const json::value& x,
                    const TransformDefinitions& defs, int depth) {
  if (depth > kMaxTransformDepth) return std::nullopt;
  const std::string& k = spec.kind;
  if (k == "identity") return x;
  if (k == "is_present") return json::value(!json_empty(x));
  if (k == "default_if_empty") {
    if (!json_empty(x)) return x;
    if (spec.default_value) return str(*spec.default_value);
    return json::value(nullptr);
  }
  if (k == "select_eval_file_by_size") return select_eval_file_by_size(x);
  if (k == "chain") {
    if (!spec.steps) return std::nullopt;
    return apply_chain(*spec.steps, x, defs, depth + 1);
  }
  // The remaining kinds work on S(x), the trimmed string form.
  auto s = value_string(x);
  if (!s) return std::nullopt;
  if (k == "trim") return str(*s);
  if (k == "lowercase") return str(ascii_lower(*s));
  if (k == "uppercase") return str(ascii_upper(*s));
  if (k == "replace") {
    if (!spec.from) return std::nullopt;
    return str(replace_all(*s, *spec.from, spec.to.value_or("")));
  }
  if (k == "add_prefix") {
    if (!spec.prefix) return std::nullopt;
    return str(*spec.prefix + *s);
  }
  if (k == "add_suffix") {
    if (!spec.suffix) return std::nullopt;
    return str(*s + *spec.suffix);
  }
  if (k == "strip_prefix") {
    if (!spec.prefix) return std::nullopt;
    if (s->compare(0, spec.prefix->size(), *spec.prefix) == 0)
      return str(s->substr(spec.prefix->size()));
    return str(*s);
  }
  if (k == "extract_digits") {
    std::string d;
    for (char c : *s)
      if (c >= '0' && c <= '9') d.push_back(c);
    if (d.empty()) return std::nullopt;
    return str(d);
  }
  if (k == "split_last") {
    std::string seps;
    if (spec.separators) {
      for (const auto& part : *spec.separators) seps += part;
    } else {
      seps = "/:#";
    }
    std::size_t cut = 0;
    for (std::size_t i = 0; i < s->size(); ++i)
      if (seps.find((*s)[i]) != std::string::npos) cut = i + 1;
    return str(trim_copy(std::string_view(*s).substr(cut)));
  }
  if (k == "regex_extract") {
    if (!spec.pattern) return std::nullopt;
    auto m = regex_capture(*spec.pattern, spec.group.value_or(1), *s);
    if (!m) return std::nullopt;
    return str(*m);
  }
  return std::nullopt;  // unknown kind: validation reports it; runtime yields nothing
}

Out apply_named(std::string_view name, const json::value& x, const TransformDefinitions& defs,
                int depth) {
  auto it = defs.find(std::string(name));
  if (it == defs.end()) return std::nullopt;
  return apply_transform(it->second, x, defs, depth);
}

Out apply_chain(const std::vector<std::string>& names, const json::value& x,
                const TransformDefinitions& defs, int depth) {
  if (names.empty() || depth > kMaxTransformDepth) return std::nullopt;
  json::value cur = x;
  for (const auto& n : names) {
    auto next = apply_named(n, cur, defs, depth + 1);
    if (!next) return std::nullopt;
    cur = std::move(*next);
  }
  return cur;
}

Out apply_ref(const TransformRef& ref, const json::value& x, const TransformDefinitions& defs) {
  if (const auto* name = std::get_if<std::string>(&ref)) return apply_named(*name, x, defs);
  return apply_chain(std::get<std::vector<std::string>>(ref), x, defs);
}

}  // namespace beampipe::domain

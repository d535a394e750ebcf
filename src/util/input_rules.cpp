#include "util/input_rules.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <vector>

namespace beampipe::util {
namespace json = boost::json;

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xBF;  // bounds of the second byte (RFC 3629 table)
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  return n;
}

bool is_short_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
  return true;
}

std::optional<std::string> text_problem(std::string_view s, text_kind kind) {
  for (std::size_t i = 0; i < s.size();) {
    auto n = utf8_sequence_length(s, i);
    if (n == 0) return "is not valid UTF-8 (byte " + std::to_string(i) + ")";
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return "contains a NUL character";
    bool allowed_space = kind == text_kind::text && (c == '\t' || c == '\n' || c == '\r');
    if ((c < 0x20 && !allowed_space) || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "U+%04X", c);
      return std::string("contains the control character ") + hex;
    }
    // C1 controls (U+0080..U+009F) are encoded as C2 80..C2 9F.
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned char>(s[i + 1]));
      return std::string("contains the control character ") + hex;
    }
    i += n;
  }
  return std::nullopt;
}

namespace {

struct frame {
  const json::value* v;
  std::string path;
  std::size_t depth;
};

std::string member_path(const std::string& parent, std::string_view key) {
  std::string k(key);
  bool plain = !k.empty();
  for (char ch : k)
    plain = plain && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-');
  if (!plain) k = json::serialize(json::value(json::string(key)));  // quoted, escaped
  return parent.empty() ? k : parent + "." + k;
}

}  // namespace

std::optional<input_problem> input_problem_of(const json::value& root, const input_limits& limits) {
  // Iterative, so a hostile depth never reaches the C++ stack.
  std::vector<frame> todo{{&root, "", 1}};
  while (!todo.empty()) {
    auto f = std::move(todo.back());
    todo.pop_back();
    const auto& where = f.path;
    if (f.depth > limits.max_depth)
      return input_problem{where,
                           "nests deeper than " + std::to_string(limits.max_depth) + " levels"};
    if (f.v->is_string()) {
      const auto& s = f.v->get_string();
      if (s.size() > limits.max_string_bytes)
        return input_problem{
            where, "is longer than " + std::to_string(limits.max_string_bytes) + " bytes"};
      if (auto p = text_problem(s, text_kind::text)) return input_problem{where, *p};
    } else if (f.v->is_double()) {
      // 1e999 parses as infinity, which JSON cannot write back.
      if (!std::isfinite(f.v->get_double()))
        return input_problem{where, "is a number too large to store"};
    } else if (f.v->is_array()) {
      const auto& a = f.v->get_array();
      if (a.size() > limits.max_array_items)
        return input_problem{where,
                             "has more than " + std::to_string(limits.max_array_items) + " items"};
      for (std::size_t i = a.size(); i-- > 0;)
        todo.push_back({&a[i], where + "[" + std::to_string(i) + "]", f.depth + 1});
    } else if (f.v->is_object()) {
      const auto& o = f.v->get_object();
      if (o.size() > limits.max_object_members)
        return input_problem{
            where, "has more than " + std::to_string(limits.max_object_members) + " members"};
      std::vector<frame> members;
      for (const auto& kv : o) {
        auto key = kv.key();
        if (key.size() > limits.max_key_bytes)
          return input_problem{
              where, "has a key longer than " + std::to_string(limits.max_key_bytes) + " bytes"};
        if (auto p = text_problem(key, text_kind::name))
          return input_problem{member_path(where, key), "key " + *p};
        members.push_back({&kv.value(), member_path(where, key), f.depth + 1});
      }
      for (auto it = members.rbegin(); it != members.rend(); ++it) todo.push_back(std::move(*it));
    }
  }
  return std::nullopt;
}

void make_storable(std::string& s) {
  bool clean = true;
  for (std::size_t i = 0; i < s.size() && clean;) {
    auto n = utf8_sequence_length(s, i);
    clean = n != 0 && s[i] != '\0';
    i += n ? n : 1;
  }
  if (clean) return;
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size();) {
    auto n = utf8_sequence_length(s, i);
    if (n == 0 || s[i] == '\0') {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  s = std::move(out);
}

void make_storable(json::object& o) {
  std::vector<std::pair<std::string, std::string>> renamed;
  for (auto& kv : o) {
    make_storable(kv.value());
    std::string k(kv.key());
    auto fixed = k;
    make_storable(fixed);
    if (fixed != k) renamed.emplace_back(std::move(k), std::move(fixed));
  }
  for (auto& [from, to] : renamed) {
    auto v = std::move(o.at(from));
    o.erase(from);
    o[to] = std::move(v);
  }
}

void make_storable(json::value& v) {
  std::vector<json::value*> todo{&v};
  while (!todo.empty()) {
    auto* x = todo.back();
    todo.pop_back();
    if (x->is_string()) {
      std::string s(x->get_string());
      auto before = s;
      make_storable(s);
      if (s != before) x->get_string() = s;
    } else if (x->is_double()) {
      // JSON has no infinity or NaN (Boost.JSON would write "Infinity"); null, as serde_json does.
      if (!std::isfinite(x->get_double())) *x = nullptr;
    } else if (x->is_array()) {
      for (auto& e : x->get_array()) todo.push_back(&e);
    } else if (x->is_object()) {
      auto& o = x->get_object();
      bool keys_clean = true;
      for (auto& kv : o) {
        std::string k(kv.key());
        auto f = k;
        make_storable(f);
        keys_clean = keys_clean && f == k;
      }
      if (!keys_clean) {
        make_storable(o);  // renames keys (and cleans values, recursively)
        continue;
      }
      for (auto& kv : o) todo.push_back(&kv.value());
    }
  }
}

}  // namespace beampipe::util

#include "domain/canonical_json.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace beampipe::domain {
namespace json = boost::json;

namespace {

void write_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void write_value(std::string& out, const json::value& v, KeyOrder order, int depth);

void write_object(std::string& out, const json::object& o, KeyOrder order, int depth) {
  out.push_back('{');
  bool first = true;
  auto emit = [&](std::string_view k, const json::value& v) {
    if (!first) out.push_back(',');
    first = false;
    write_string(out, k);
    out.push_back(':');
    write_value(out, v, order, depth + 1);
  };
  if (order == KeyOrder::sorted) {
    std::vector<const json::key_value_pair*> items;
    items.reserve(o.size());
    for (const auto& kv : o) items.push_back(&kv);
    // serde's BTreeMap<String,_> orders keys by unsigned bytes.
    std::sort(items.begin(), items.end(), [](auto* a, auto* b) {
      std::string_view x = a->key(), y = b->key();
      return std::lexicographical_compare(
          x.begin(), x.end(), y.begin(), y.end(), [](char p, char q) {
            return static_cast<unsigned char>(p) < static_cast<unsigned char>(q);
          });
    });
    for (auto* kv : items) emit(kv->key(), kv->value());
  } else {
    for (const auto& kv : o) emit(kv.key(), kv.value());
  }
  out.push_back('}');
}

void write_value(std::string& out, const json::value& v, KeyOrder order, int depth) {
  if (depth > 512) {  // pathological nesting: keep the serialiser total and bounded
    out += "null";
    return;
  }
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      break;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case json::kind::int64:
      out += std::to_string(v.get_int64());
      break;
    case json::kind::uint64:
      out += std::to_string(v.get_uint64());
      break;
    case json::kind::double_:
      out += serde_float_text(v.get_double());
      break;
    case json::kind::string:
      write_string(out, v.get_string());
      break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        write_value(out, e, order, depth + 1);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object:
      write_object(out, v.get_object(), order, depth);
      break;
  }
}

bool byte_less(std::string_view x, std::string_view y) {
  return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end(), [](char p, char q) {
    return static_cast<unsigned char>(p) < static_cast<unsigned char>(q);
  });
}

}  // namespace

std::string serde_float_text(double d) {
  if (!std::isfinite(d)) return "null";  // serde_json writes non-finite floats as null
  if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits from to_chars, then re-laid out with ryu's rules.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  std::string out;
  if (sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  auto epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos))
    if (c != '.') digits.push_back(c);
  int exp10 = 0;
  std::from_chars(sci.data() + epos + 1 + (sci[epos + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exp10);
  const int n = static_cast<int>(digits.size());
  const int k = exp10 - (n - 1);  // exponent of the last digit
  const int kk = n + k;           // position of the decimal point
  if (k >= 0 && kk <= 16) {
    out += digits;
    out.append(static_cast<std::size_t>(k), '0');
    out += ".0";
  } else if (kk > 0 && kk <= 16) {
    out += digits.substr(0, static_cast<std::size_t>(kk));
    out.push_back('.');
    out += digits.substr(static_cast<std::size_t>(kk));
  } else if (kk > -5 && kk <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-kk), '0');
    out += digits;
  } else if (n == 1) {
    out += digits;
    out += 'e';
    out += std::to_string(kk - 1);
  } else {
    out += digits.substr(0, 1);
    out.push_back('.');
    out += digits.substr(1);
    out += 'e';
    out += std::to_string(kk - 1);
  }
  return out;
}

std::string serde_json_text(const json::value& v, KeyOrder order) {
  std::string out;
  write_value(out, v, order, 0);
  return out;
}

json::value sorted_copy(const json::value& v) {
  if (v.is_array()) {
    json::array a;
    a.reserve(v.get_array().size());
    for (const auto& e : v.get_array()) a.push_back(sorted_copy(e));
    return a;
  }
  if (!v.is_object()) return v;
  std::vector<const json::key_value_pair*> items;
  for (const auto& kv : v.get_object()) items.push_back(&kv);
  std::sort(items.begin(), items.end(),
            [](auto* a, auto* b) { return byte_less(a->key(), b->key()); });
  json::object o;
  o.reserve(items.size());
  for (auto* kv : items) o.emplace(kv->key(), sorted_copy(kv->value()));
  return o;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 0xf]);
  }
  return out;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool is_lower_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string trim_copy(std::string_view s) {
  auto ws = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::optional<std::string> value_string(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: {
      auto t = trim_copy(v.get_string());
      if (t.empty()) return std::nullopt;
      return t;
    }
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return serde_json_text(v);
    case json::kind::bool_:
      return std::string(v.get_bool() ? "true" : "false");
    default:
      return std::nullopt;
  }
}

std::string value_key(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return serde_json_text(v);
}

bool json_empty(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return true;
    case json::kind::array:
      return v.get_array().empty();
    case json::kind::object:
      return v.get_object().empty();
    case json::kind::string:
      return trim_copy(v.get_string()).empty();
    default:
      return false;
  }
}

bool json_truthy(const json::value& v, bool blank_is_false) {
  switch (v.kind()) {
    case json::kind::null:
      return false;
    case json::kind::bool_:
      return v.get_bool();
    case json::kind::string:
      return blank_is_false ? !trim_copy(v.get_string()).empty() : !v.get_string().empty();
    case json::kind::int64:
      return v.get_int64() != 0;
    case json::kind::uint64:
      return v.get_uint64() != 0;
    case json::kind::double_:
      return v.get_double() != 0.0;
    case json::kind::array:
      return !v.get_array().empty();
    case json::kind::object:
      return !v.get_object().empty();
  }
  return false;
}

const json::value* lookup_ci(const json::object& o, std::string_view key) {
  if (auto* p = o.if_contains(key)) return p;
  std::string lower(key), upper(key);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (auto* p = o.if_contains(lower)) return p;
  return o.if_contains(upper);
}

}  // namespace beampipe::domain

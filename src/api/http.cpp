#include "api/http.hpp"

#include <cstdint>

namespace beampipe::api {

std::string request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

response json_response(int status, const boost::json::value& v) {
  response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  return r;
}

response error_response(int status, const std::string& code, const std::string& message,
                        const std::string& field, const boost::json::value& errors) {
  boost::json::object o{{"detail", message}, {"code", code}};
  if (!field.empty()) o["field"] = field;
  if (!errors.is_null()) o["errors"] = errors;
  return json_response(status, o);
}

namespace {
std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '/') {
      ++i;
      continue;
    }
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    out.push_back(p.substr(i, j - i));
    i = j;
  }
  return out;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(const std::string& in, std::string& out, bool plus_is_space) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int a = hexval(in[i + 1]), b = hexval(in[i + 2]);
      if (a < 0 || b < 0) return false;
      out.push_back(static_cast<char>(a * 16 + b));
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}
}  // namespace

bool is_clean_text(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte first, an overlong lead (C0, C1) or past F4
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

bool parse_target(const std::string& target, std::string& path,
                  std::map<std::string, std::string>& query, target_problem* problem) {
  auto refuse = [problem](std::string field, std::string reason) {
    if (problem) *problem = {std::move(field), std::move(reason)};
    return false;
  };
  auto q = target.find('?');
  if (!decode(target.substr(0, q), path, false))
    return refuse("path", "malformed percent-encoding in the path");
  if (!is_clean_text(path))
    return refuse("path", "the path is not valid UTF-8 or holds a control character");
  if (q == std::string::npos) return true;
  std::string qs = target.substr(q + 1);
  size_t i = 0;
  while (i <= qs.size()) {
    size_t amp = qs.find('&', i);
    if (amp == std::string::npos) amp = qs.size();
    std::string part = qs.substr(i, amp - i);
    if (!part.empty()) {
      auto eq = part.find('=');
      std::string k, v;
      if (!decode(part.substr(0, eq), k, true))
        return refuse("query", "malformed percent-encoding in a query parameter name");
      if (!is_clean_text(k))
        return refuse("query",
                      "a query parameter name is not valid UTF-8 or holds a control character");
      if (eq != std::string::npos && !decode(part.substr(eq + 1), v, true))
        return refuse(k, "malformed percent-encoding in query parameter " + k);
      if (!is_clean_text(v))
        return refuse(k,
                      "query parameter " + k + " is not valid UTF-8 or holds a control character");
      query[k] = v;
    }
    i = amp + 1;
  }
  return true;
}

void router::add(std::string method, std::string pattern, auth_level auth, handler fn,
                 route_doc doc) {
  route r{std::move(method), pattern, auth, std::move(fn), split_path(pattern), std::move(doc)};
  routes_.push_back(std::move(r));
}

router::match router::find(const std::string& method, const std::string& path,
                           std::map<std::string, std::string>& params) const {
  match m;
  auto segs = split_path(path);
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> p;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      const auto& s = r.segments[i];
      if (s.size() > 2 && s.front() == '{' && s.back() == '}')
        p[s.substr(1, s.size() - 2)] = segs[i];
      else
        ok = s == segs[i];
    }
    if (!ok) continue;
    m.path_known = true;
    m.allowed.push_back(r.method);
    if (r.method == method && !m.r) {
      m.r = &r;
      params = std::move(p);
    }
  }
  return m;
}

}  // namespace beampipe::api

#include "domain/alerting.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <vector>

#include "domain/command_support.hpp"

namespace beampipe::domain::alerting {
namespace json = boost::json;
using cmd::bad;

namespace {

constexpr size_t kMaxUrlBytes = 2048;
constexpr size_t kMaxHeaders = 20;
constexpr size_t kMaxHeaderNameBytes = 64;
constexpr size_t kMaxHeaderValueBytes = 8192;
constexpr size_t kMaxRoutingKeyBytes = 128;
constexpr size_t kMaxDependencyBytes = 64;
constexpr size_t kPagerDutySummaryBytes = 1024;
constexpr int64_t kMaxTriggerInt = 1'000'000'000;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view view(const json::string& s) { return {s.data(), s.size()}; }

// --- URLs ---

struct parsed_url {
  std::string scheme;  // lower case
  std::string host;    // as written (IPv6 with its brackets)
  std::string port;    // digits, empty when absent
  std::string rest;    // path, query and fragment, empty when absent
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// A strict absolute http(s) URL: scheme "://" host [":" port] [path] [?query] [#fragment],
// printable ASCII only, no user:password@. On error, `why` says what is wrong.
std::optional<parsed_url> parse_url(std::string_view url, std::string& why) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) {
      why = "must not contain whitespace, control or non-ASCII characters";
      return std::nullopt;
    }
  }
  auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    why = "must be an absolute http or https URL";
    return std::nullopt;
  }
  parsed_url out;
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    why = "must use the http or https scheme";
    return std::nullopt;
  }
  auto start = sep + 3;
  auto auth_end = url.find_first_of("/?#", start);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  auto authority = url.substr(start, auth_end - start);
  if (authority.find('@') != std::string_view::npos) {
    why = "must not contain user:password@";
    return std::nullopt;
  }
  std::string_view host, port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "has an unclosed IPv6 address";
      return std::nullopt;
    }
    auto inner = authority.substr(1, close - 1);
    bool colon = false;
    for (char c : inner) {
      if (c == ':') colon = true;
      if (!is_hex(c) && c != ':' && c != '.') {
        why = "has an invalid IPv6 address";
        return std::nullopt;
      }
    }
    if (inner.empty() || !colon) {
      why = "has an invalid IPv6 address";
      return std::nullopt;
    }
    host = authority.substr(0, close + 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        why = "has an invalid host";
        return std::nullopt;
      }
      has_port = true;
      port = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
    for (char c : host) {
      if (!is_alnum(c) && c != '-' && c != '.' && c != '_') {
        why = "has an invalid host";
        return std::nullopt;
      }
    }
  }
  if (host.empty()) {
    why = "must have a host";
    return std::nullopt;
  }
  if (has_port) {
    bool digits = !port.empty() && port.size() <= 5;
    for (char c : port) digits = digits && is_digit(c);
    long value = 0;
    if (digits)
      for (char c : port) value = value * 10 + (c - '0');
    if (!digits || value < 1 || value > 65535) {
      why = "must have a port between 1 and 65535";
      return std::nullopt;
    }
  }
  out.host = std::string(host);
  out.port = std::string(port);
  out.rest = std::string(url.substr(auth_end));
  return out;
}

std::string masked(const parsed_url& u) {
  std::string out = u.scheme + "://" + u.host;
  if (!u.port.empty()) out += ":" + u.port;
  if (!u.rest.empty() && u.rest != "/") out += std::string("/") + kMasked;
  return out;
}

// --- headers ---

bool is_tchar(char c) {
  if (is_alnum(c)) return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~"))
    if (c == t) return true;
  return false;
}

bool reserved_header(std::string_view name) {
  for (const char* r :
       {"host", "content-length", "content-type", "transfer-encoding", "connection"})
    if (iequals(name, r)) return true;
  return false;
}

std::optional<command_error> check_header(std::string_view name, const json::value& value) {
  std::string field = "config.headers." + std::string(name);
  if (name.empty()) return bad("config.headers", "header names must not be empty");
  if (name.size() > kMaxHeaderNameBytes)
    return bad(field,
               "header names must be at most " + std::to_string(kMaxHeaderNameBytes) + " bytes");
  for (char c : name)
    if (!is_tchar(c)) return bad(field, "header name must be an HTTP token");
  if (reserved_header(name))
    return bad(field, "header " + std::string(name) + " is set by beampipe itself");
  if (!value.is_string()) return bad(field, "header value must be a string");
  auto v = view(value.as_string());
  if (v.size() > kMaxHeaderValueBytes)
    return bad(field,
               "header value must be at most " + std::to_string(kMaxHeaderValueBytes) + " bytes");
  for (unsigned char c : v)
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return bad(field, "header value must not contain CR, LF or control characters");
  if (v == kMasked)
    return bad(field, std::string("header value ") + kMasked +
                          " stands for a stored value and there is none; send the value");
  return std::nullopt;
}

// --- triggers ---

// optional_minutes: a non-negative integer that is not filled in when absent (for_minutes on
// kinds that fire at once unless told to wait).
enum class param_type { positive_int, non_negative_int, optional_minutes, dependency };

struct trigger_param {
  const char* key;
  param_type type;
  int64_t default_int;
  const char* default_text;
};

struct trigger_spec {
  const char* kind;
  std::vector<trigger_param> params;
};

const std::vector<trigger_spec>& trigger_specs() {
  static const std::vector<trigger_spec> specs = {
      {"execution_terminal", {}},
      {"pending_backlog",
       {{"threshold", param_type::positive_int, 50, nullptr},
        {"for_minutes", param_type::optional_minutes, 0, nullptr}}},
      {"pending_stale",
       {{"max_age_seconds", param_type::positive_int, 21600, nullptr},
        {"for_minutes", param_type::optional_minutes, 0, nullptr}}},
      {"discovery_stall",
       {{"window_minutes", param_type::positive_int, 120, nullptr},
        {"for_minutes", param_type::optional_minutes, 0, nullptr}}},
      {"dependency_down",
       {{"dependency", param_type::dependency, 0, "postgres"},
        {"for_minutes", param_type::optional_minutes, 0, nullptr}}},
      {"queue_depth",
       {{"threshold", param_type::positive_int, 100, nullptr},
        {"for_minutes", param_type::non_negative_int, 10, nullptr}}},
      {"projection_lag",
       {{"max_events", param_type::positive_int, 10000, nullptr},
        {"for_minutes", param_type::non_negative_int, 5, nullptr}}},
      {"execution_stuck",
       {{"threshold", param_type::positive_int, 1, nullptr},
        {"for_minutes", param_type::optional_minutes, 0, nullptr}}},
  };
  return specs;
}

const trigger_spec* find_trigger(std::string_view kind) {
  for (const auto& s : trigger_specs())
    if (kind == s.kind) return &s;
  return nullptr;
}

// A JSON integer (or an integral double) as int64; nullopt for anything else.
std::optional<int64_t> as_integer(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) {
    auto u = v.as_uint64();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return kMaxTriggerInt + 1;
    return static_cast<int64_t>(u);
  }
  if (v.is_double()) {
    double d = v.as_double();
    if (!std::isfinite(d) || std::trunc(d) != d) return std::nullopt;
    if (d > static_cast<double>(kMaxTriggerInt)) return kMaxTriggerInt + 1;
    if (d < -static_cast<double>(kMaxTriggerInt)) return -kMaxTriggerInt - 1;
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

bool valid_dependency(std::string_view s) {
  if (s.empty() || s.size() > kMaxDependencyBytes) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_')) return false;
  return true;
}

int64_t config_int(const json::object& config, std::string_view kind, const char* key) {
  if (auto it = config.find(key); it != config.end())
    if (auto n = as_integer(it->value())) return *n;
  if (auto spec = find_trigger(kind))
    for (const auto& p : spec->params)
      if (std::string_view(p.key) == key) return p.default_int;
  return 0;
}

std::string plural(int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// --- webhook bodies ---

std::string payload_text(const json::object& payload, std::string_view key) {
  auto it = payload.find(key);
  return it != payload.end() && it->value().is_string() ? std::string(view(it->value().as_string()))
                                                        : std::string();
}

// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence.
std::string utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut));
}

}  // namespace

std::string mask_url(std::string_view url) {
  std::string why;
  auto parsed = parse_url(url, why);
  return parsed ? masked(*parsed) : std::string(kMasked);
}

namespace {

// --- email ---

constexpr size_t kMaxRecipients = 20;
constexpr size_t kMaxAddressBytes = 254;

// A bare addr-spec (local@domain): printable ASCII, no spaces, no angle brackets, commas or
// quotes, so it can go into an SMTP envelope and a header without escaping.
bool valid_address(std::string_view a) {
  if (a.empty() || a.size() > kMaxAddressBytes) return false;
  auto at = a.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == a.size() ||
      a.find('@', at + 1) != std::string_view::npos)
    return false;
  for (unsigned char c : a)
    if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == ',' || c == '"' || c == ';' ||
        c == '(' || c == ')' || c == '[' || c == ']' || c == '\\')
      return false;
  return true;
}

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!is_alnum(c) && c != '.' && c != '-') return false;
  return h.front() != '-' && h.front() != '.';
}

std::optional<command_error> optional_text(const json::object& in, const char* key, size_t max,
                                           std::optional<std::string>& out) {
  const auto& v = cmd::at_or_null(in, key);
  if (v.is_null()) return std::nullopt;
  std::string field = std::string("config.") + key;
  if (!v.is_string()) return bad(field, field + " must be a string");
  auto t = view(v.as_string());
  if (t.empty() || t.size() > max)
    return bad(field, field + " must be 1 to " + std::to_string(max) + " bytes");
  if (cmd::has_control_chars(t)) return bad(field, field + " must not contain control characters");
  out = std::string(t);
  return std::nullopt;
}

// email: {smtp_host, port, security: tls|starttls, from, to: [..], user, password}. Port 465
// with implicit TLS by default, 587 with STARTTLS (⚠ §1.8: the baseline paired implicit TLS
// with 587, which servers speak STARTTLS on). Plain SMTP is refused: it would carry the
// password and the alert in clear.
std::variant<channel_config, command_error> parse_email_config(const json::object& in) {
  for (const auto& kv : in) {
    auto key = std::string_view(kv.key());
    if (key != "smtp_host" && key != "port" && key != "security" && key != "from" && key != "to" &&
        key != "user" && key != "password")
      return bad("config." + std::string(key),
                 "unknown key " + std::string(key) +
                     "; an email config holds smtp_host, port, security, from, to, user and "
                     "password");
  }
  std::optional<std::string> host;
  if (auto e = optional_text(in, "smtp_host", 253, host)) return *e;
  if (!host) return bad("config.smtp_host", "config.smtp_host is required");
  if (!valid_host(*host))
    return bad("config.smtp_host", "config.smtp_host must be a host name or IPv4 address");
  std::string security = "tls";
  if (const auto& v = cmd::at_or_null(in, "security"); !v.is_null()) {
    if (!v.is_string() || (v.as_string() != "tls" && v.as_string() != "starttls"))
      return bad("config.security", "config.security must be tls (implicit) or starttls");
    security = std::string(view(v.as_string()));
  }
  int64_t port = security == "tls" ? 465 : 587;
  if (const auto& v = cmd::at_or_null(in, "port"); !v.is_null()) {
    auto p = as_integer(v);
    if (!p || *p < 1 || *p > 65535)
      return bad("config.port", "config.port must be an integer from 1 to 65535");
    port = *p;
  }
  std::string from = "beampipe@localhost";
  if (const auto& v = cmd::at_or_null(in, "from"); !v.is_null()) {
    if (!v.is_string() || !valid_address(view(v.as_string())))
      return bad("config.from", "config.from must be an address like alerts@example.org");
    from = std::string(view(v.as_string()));
  }
  const auto& to_value = cmd::at_or_null(in, "to");
  if (!to_value.is_array() || to_value.as_array().empty() ||
      to_value.as_array().size() > kMaxRecipients)
    return bad("config.to",
               "config.to must list 1 to " + std::to_string(kMaxRecipients) + " addresses");
  json::array to;
  for (size_t i = 0; i < to_value.as_array().size(); ++i) {
    const auto& a = to_value.as_array()[i];
    if (!a.is_string() || !valid_address(view(a.as_string())))
      return bad("config.to[" + std::to_string(i) + "]",
                 "recipients must be addresses like ops@example.org");
    to.push_back(a);
  }
  std::optional<std::string> user, password;
  if (auto e = optional_text(in, "user", 256, user)) return *e;
  if (auto e = optional_text(in, "password", 1024, password)) return *e;
  if (password && *password == kMasked)
    return bad("config.password", std::string("config.password ") + kMasked +
                                      " stands for a stored password and there is none");
  if (password && !user) return bad("config.user", "config.user is required with a password");
  channel_config out;
  out.shown = {
      {"smtp_host", *host}, {"port", port}, {"security", security}, {"from", from}, {"to", to}};
  if (user) out.shown["user"] = *user;
  if (password) {
    out.shown["password"] = kMasked;
    out.secret["password"] = *password;
  }
  return out;
}

std::variant<channel_config, command_error> parse_webhook_config(const json::object& in) {
  for (const auto& kv : in) {
    auto key = std::string_view(kv.key());
    if (key != "url" && key != "template" && key != "headers" && key != "routing_key")
      return bad("config." + std::string(key),
                 "unknown key " + std::string(key) +
                     "; a webhook config holds url, template, headers and routing_key");
  }

  // url
  const auto& url_value = cmd::at_or_null(in, "url");
  if (url_value.is_null()) return bad("config.url", "config.url is required");
  if (!url_value.is_string()) return bad("config.url", "config.url must be a string");
  auto url = view(url_value.as_string());
  if (url.empty()) return bad("config.url", "config.url must not be empty");
  if (url.size() > kMaxUrlBytes)
    return bad("config.url",
               "config.url must be at most " + std::to_string(kMaxUrlBytes) + " bytes");
  std::string why;
  auto parsed = parse_url(url, why);
  if (!parsed) return bad("config.url", "config.url " + why);

  // template
  std::string template_name = "generic";
  const auto& template_value = cmd::at_or_null(in, "template");
  if (!template_value.is_null()) {
    if (!template_value.is_string())
      return bad("config.template", "config.template must be a string");
    template_name = std::string(view(template_value.as_string()));
    if (template_name != "generic" && template_name != "slack" && template_name != "pagerduty")
      return bad("config.template", "config.template must be generic, slack or pagerduty");
  }

  // headers
  json::object shown_headers, secret_headers;
  const auto& headers_value = cmd::at_or_null(in, "headers");
  if (!headers_value.is_null()) {
    if (!headers_value.is_object())
      return bad("config.headers", "config.headers must be an object of name to value");
    const auto& headers = headers_value.as_object();
    if (headers.size() > kMaxHeaders)
      return bad("config.headers",
                 "config.headers may hold at most " + std::to_string(kMaxHeaders) + " headers");
    for (const auto& kv : headers) {
      auto name = std::string_view(kv.key());
      if (auto err = check_header(name, kv.value())) return *err;
      for (const auto& seen : secret_headers)
        if (iequals(seen.key(), name))
          return bad("config.headers." + std::string(name),
                     "header " + std::string(name) + " is given twice");
      shown_headers[name] = kMasked;
      secret_headers[name] = kv.value();
    }
  }

  // routing_key
  std::optional<std::string> routing_key;
  const auto& key_value = cmd::at_or_null(in, "routing_key");
  if (!key_value.is_null()) {
    if (!key_value.is_string())
      return bad("config.routing_key", "config.routing_key must be a string");
    auto key = view(key_value.as_string());
    if (cmd::trim(key).empty())
      return bad("config.routing_key", "config.routing_key must not be empty");
    if (key.size() > kMaxRoutingKeyBytes)
      return bad("config.routing_key", "config.routing_key must be at most " +
                                           std::to_string(kMaxRoutingKeyBytes) + " bytes");
    if (cmd::has_control_chars(key))
      return bad("config.routing_key", "config.routing_key must not contain control characters");
    if (key == kMasked)
      return bad("config.routing_key", std::string("config.routing_key ") + kMasked +
                                           " stands for a stored key and there is none; send "
                                           "the key");
    routing_key = std::string(key);
  }
  if (template_name == "pagerduty" && !routing_key)
    return bad("config.routing_key", "config.routing_key is required by the pagerduty template");

  channel_config out;
  out.shown["url"] = masked(*parsed);
  out.shown["template"] = template_name;
  out.shown["headers"] = std::move(shown_headers);
  out.secret["url"] = url;
  out.secret["headers"] = std::move(secret_headers);
  if (routing_key) {
    out.shown["routing_key"] = kMasked;
    out.secret["routing_key"] = *routing_key;
  }
  return out;
}

}  // namespace

std::variant<channel_config, command_error> parse_channel_config(std::string_view kind,
                                                                 const json::value& config) {
  if (kind != "webhook" && kind != "email") return bad("kind", "kind must be webhook or email");
  if (!config.is_object()) return bad("config", "config must be an object");
  return kind == "email" ? parse_email_config(config.as_object())
                         : parse_webhook_config(config.as_object());
}

namespace {
// scheme://host:port of a URL (lower-case scheme and host), or the text itself.
std::string origin_of(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  auto end = url.find_first_of("/?#", scheme + 3);
  std::string out(url.substr(0, end));
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto at = out.rfind('@'); at != std::string::npos && at > scheme)
    out.erase(scheme + 3, at - scheme - 2);
  return out;
}
}  // namespace

std::variant<json::value, command_error> restore_masked(const json::value& patched_config,
                                                        const json::object& stored_shown,
                                                        const json::object& stored_secret) {
  if (!patched_config.is_object()) return patched_config;
  json::value result = patched_config;
  auto& out = result.as_object();

  // Where the secrets would go: a masked secret may only stay where it was (issue #16).
  bool moved = false;
  if (auto it = out.find("url"); it != out.end() && it->value().is_string()) {
    const auto& shown_url = cmd::at_or_null(stored_shown, "url");
    const auto& secret_url = cmd::at_or_null(stored_secret, "url");
    if (shown_url.is_string() && secret_url.is_string() &&
        it->value().as_string() == shown_url.as_string())
      it->value() = secret_url;
    else if (secret_url.is_string())
      moved = origin_of(view(it->value().as_string())) != origin_of(view(secret_url.as_string()));
  }
  for (const char* k : {"smtp_host", "port", "security"}) {
    auto it = out.find(k);
    const auto& was = cmd::at_or_null(stored_shown, k);
    if (it != out.end() && !was.is_null() && it->value() != was) moved = true;
  }
  auto masked = [](const json::value& v) { return v.is_string() && v.as_string() == kMasked; };
  auto refuse_move = [](std::string field) {
    return bad(field, field +
                          " is masked, and a masked secret cannot follow a changed destination "
                          "(URL host, port or scheme, SMTP server): send the secret itself");
  };

  if (auto it = out.find("headers"); it != out.end() && it->value().is_object()) {
    const auto& stored_headers = cmd::at_or_null(stored_secret, "headers");
    for (auto& kv : it->value().as_object()) {
      if (!masked(kv.value())) continue;
      if (moved) return refuse_move("config.headers." + std::string(kv.key()));
      if (!stored_headers.is_object()) continue;
      for (const auto& stored : stored_headers.as_object())
        if (iequals(stored.key(), kv.key()) && stored.value().is_string()) {
          kv.value() = stored.value();
          break;
        }
    }
  }

  for (const char* key : {"routing_key", "password"}) {
    if (auto it = out.find(key); it != out.end() && masked(it->value())) {
      if (moved) return refuse_move(std::string("config.") + key);
      const auto& stored = cmd::at_or_null(stored_secret, key);
      if (stored.is_string()) it->value() = stored;
    }
  }
  return result;
}

std::optional<command_error> check_trigger(std::string_view kind, json::object& config) {
  const auto* spec = find_trigger(kind);
  if (!spec)
    return bad("trigger_kind",
               "trigger_kind must be one of execution_terminal, pending_backlog, pending_stale, "
               "discovery_stall, dependency_down, queue_depth, projection_lag, execution_stuck");

  for (const auto& kv : config) {
    bool known = false;
    for (const auto& p : spec->params) known = known || std::string_view(kv.key()) == p.key;
    if (!known)
      return bad("trigger_config." + std::string(kv.key()),
                 "unknown key " + std::string(kv.key()) + " for trigger " + std::string(kind));
  }

  for (const auto& p : spec->params) {
    std::string field = std::string("trigger_config.") + p.key;
    auto it = config.find(p.key);
    bool absent = it == config.end() || it->value().is_null();
    if (p.type == param_type::dependency) {
      if (absent) {
        config[p.key] = p.default_text;
        continue;
      }
      if (!it->value().is_string() || !valid_dependency(view(it->value().as_string())))
        return bad(field, field + " must be a name of 1 to " + std::to_string(kMaxDependencyBytes) +
                              " characters from a-z, 0-9 and _");
      continue;
    }
    if (absent) {
      if (p.type != param_type::optional_minutes) config[p.key] = p.default_int;
      continue;
    }
    int64_t low = p.type == param_type::positive_int ? 1 : 0;
    auto n = as_integer(it->value());
    if (!n || *n < low || *n > kMaxTriggerInt)
      return bad(field, field + " must be an integer from " + std::to_string(low) + " to " +
                            std::to_string(kMaxTriggerInt));
    it->value() = *n;
  }
  return std::nullopt;
}

bool is_periodic_trigger(std::string_view kind) {
  return find_trigger(kind) != nullptr && kind != "execution_terminal";
}

bool valid_severity(std::string_view severity) {
  return severity == "info" || severity == "warning" || severity == "error" ||
         severity == "critical";
}

verdict evaluate_condition(std::string_view kind, const json::object& config,
                           const measurements& m) {
  verdict v;
  auto bounded = [&](int64_t value, int64_t bound, std::string what) {
    v.firing = value >= bound;
    v.summary = what + (v.firing ? " ≥ " : " < ") + std::to_string(bound);
    v.details["value"] = value;
    v.details["bound"] = bound;
  };

  if (kind == "pending_backlog") {
    bounded(m.pending_sources, config_int(config, kind, "threshold"),
            plural(m.pending_sources, "source", "sources") + " pending");
  } else if (kind == "pending_stale") {
    int64_t bound = config_int(config, kind, "max_age_seconds");
    double age = std::isfinite(m.oldest_pending_age_seconds) && m.oldest_pending_age_seconds > 0
                     ? m.oldest_pending_age_seconds
                     : 0;
    // Whole seconds for people and details; the comparison keeps the fraction.
    int64_t whole =
        age >= 9.0e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(std::floor(age));
    v.firing = age >= static_cast<double>(bound);
    v.summary = "oldest pending source is " + std::to_string(whole) + " s old" +
                (v.firing ? " ≥ " : " < ") + std::to_string(bound) + " s";
    v.details["value"] = whole;
    v.details["bound"] = bound;
  } else if (kind == "discovery_stall") {
    int64_t window = config_int(config, kind, "window_minutes");
    v.firing = m.discovery_changes <= 0;
    v.summary = (v.firing ? std::string("no discovery changes")
                          : plural(m.discovery_changes, "discovery change", "discovery changes")) +
                " in the last " + std::to_string(window) + " min";
    v.details["value"] = m.discovery_changes;
    v.details["bound"] = window;
  } else if (kind == "dependency_down") {
    std::string name = cmd::str(config, "dependency");
    if (name.empty()) name = "postgres";
    auto it = m.dependencies_up.find(name);
    v.firing = it != m.dependencies_up.end() && !it->second;
    v.summary = "dependency " + name + (v.firing ? " is down" : " is up");
    v.details["dependency"] = name;
  } else if (kind == "queue_depth") {
    bounded(m.queue_depth, config_int(config, kind, "threshold"),
            plural(m.queue_depth, "job", "jobs") + " queued");
  } else if (kind == "projection_lag") {
    bounded(m.projection_lag, config_int(config, kind, "max_events"),
            "a read model is " + plural(m.projection_lag, "event", "events") + " behind");
  } else if (kind == "execution_stuck") {
    bounded(m.stuck_executions, config_int(config, kind, "threshold"),
            plural(m.stuck_executions, "run", "runs") + " past their liveness bound");
  }
  return v;
}

std::chrono::seconds hold_for(std::string_view kind, const json::object& config) {
  if (!is_periodic_trigger(kind)) return std::chrono::seconds(0);
  int64_t minutes = config_int(config, kind, "for_minutes");
  if (minutes <= 0) return std::chrono::seconds(0);
  if (minutes > kMaxTriggerInt) minutes = kMaxTriggerInt;
  return std::chrono::seconds(minutes * 60);
}

bool in_cooldown(std::optional<std::chrono::system_clock::time_point> last_fired_at,
                 std::chrono::system_clock::time_point now, int64_t cooldown_minutes) {
  if (!last_fired_at || cooldown_minutes <= 0) return false;
  auto last = last_fired_at->time_since_epoch().count();
  auto at = now.time_since_epoch().count();
  if (at < last) return true;  // the clock went back: still within the cooldown
  // now - last without overflow: the true difference is non-negative and fits in 64 bits.
  auto elapsed = static_cast<uint64_t>(at) - static_cast<uint64_t>(last);
  auto per_minute = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::minutes(1))
          .count());
  auto minutes = static_cast<uint64_t>(cooldown_minutes);
  if (minutes > std::numeric_limits<uint64_t>::max() / per_minute) return true;
  return elapsed < minutes * per_minute;
}

json::object webhook_body(std::string_view template_name, const json::object& payload,
                          std::string_view routing_key, std::string_view delivery_id) {
  auto severity = payload_text(payload, "severity");
  auto summary = payload_text(payload, "summary");
  if (template_name == "slack") {
    auto project = payload_text(payload, "project_module");
    if (project.empty()) project = "global";
    json::object body;
    body["text"] = "*" + severity + "* [" + project + "]\n" + summary;
    return body;
  }
  if (template_name == "pagerduty") {
    json::object details;
    details["summary"] = utf8_prefix(summary, kPagerDutySummaryBytes);
    details["severity"] = severity;
    details["source"] = "beampipe-v2";
    details["custom_details"] = payload;
    json::object body;
    body["routing_key"] = routing_key;
    body["event_action"] = "trigger";
    body["dedup_key"] = delivery_id;
    body["payload"] = std::move(details);
    return body;
  }
  return payload;
}

std::chrono::seconds delivery_backoff(int attempt, std::chrono::seconds base,
                                      std::chrono::seconds cap) {
  using rep = std::chrono::seconds::rep;
  rep b = base.count() > 0 ? base.count() : 0;
  rep c = cap.count() > 0 ? cap.count() : 0;
  int shift = attempt < 1 ? 0 : attempt - 1;
  if (b == 0) return std::chrono::seconds(0);
  if (shift >= std::numeric_limits<rep>::digits || b > (std::numeric_limits<rep>::max() >> shift))
    return std::chrono::seconds(c);
  rep delay = b << shift;
  return std::chrono::seconds(delay < c ? delay : c);
}

namespace {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// RFC 2047 encoded words of at most 45 bytes of text each (cut on UTF-8 boundaries), folded.
std::string encoded_words(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    auto piece = utf8_prefix(text, 45);
    if (piece.empty()) piece = std::string(text.substr(0, 1));
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(piece) + "?=";
    text.remove_prefix(piece.size());
  }
  return out;
}

void pretty(const json::value& v, int depth, std::string& out) {
  auto indent = [&](int d) { out.append(static_cast<size_t>(2 * d), ' '); };
  if (v.is_object() && !v.as_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.as_object()) {
      if (!first) out += ",\n";
      first = false;
      indent(depth + 1);
      out += json::serialize(json::value(kv.key()));
      out += ": ";
      pretty(kv.value(), depth + 1, out);
    }
    out += "\n";
    indent(depth);
    out += "}";
  } else if (v.is_array() && !v.as_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& x : v.as_array()) {
      if (!first) out += ",\n";
      first = false;
      indent(depth + 1);
      pretty(x, depth + 1, out);
    }
    out += "\n";
    indent(depth);
    out += "]";
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  pretty(v, 0, out);
  return out;
}

std::string email_message(const json::object& payload, std::string_view from,
                          const std::vector<std::string>& to, std::string_view delivery_id,
                          std::chrono::system_clock::time_point date) {
  auto severity = payload_text(payload, "severity");
  auto summary = utf8_prefix(payload_text(payload, "summary"), 200);
  std::time_t t = std::chrono::system_clock::to_time_t(date);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[64];
  std::strftime(when, sizeof when, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string rcpt;
  for (const auto& a : to) {
    if (!rcpt.empty()) rcpt += ", ";
    rcpt += a;
  }
  std::string m;
  m.append("Date: ").append(when).append("\r\n");
  m.append("From: ").append(from).append("\r\n");
  m.append("To: ").append(rcpt).append("\r\n");
  m.append("Subject: ")
      .append(encoded_words("[beampipe] " + severity + " \u2014 " + summary))
      .append("\r\n");
  m.append("Message-ID: <").append(delivery_id).append("@beampipe>\r\n");
  m.append("X-Beampipe-Delivery: ").append(delivery_id).append("\r\n");
  m.append("MIME-Version: 1.0\r\n");
  m.append("Content-Type: text/plain; charset=utf-8\r\n");
  m.append("Content-Transfer-Encoding: base64\r\n\r\n");
  auto body = base64(pretty_json(payload) + "\n");
  for (size_t i = 0; i < body.size(); i += 76) m.append(body.substr(i, 76)).append("\r\n");
  return m;
}

}  // namespace beampipe::domain::alerting

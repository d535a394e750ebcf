#include "adapters/casda_staging.hpp"

#include <expat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "adapters/tap_client.hpp"
#include "domain/canonical_json.hpp"

namespace beampipe::adapters {

namespace json = boost::json;
using ckind = casda_error::kind;
using steady = std::chrono::steady_clock;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

std::string_view trim(std::string_view s) {
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string base64(std::string_view in) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (static_cast<unsigned char>(in[i]) << 16) |
             (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += {tbl[(n >> 18) & 63], tbl[(n >> 12) & 63], tbl[(n >> 6) & 63], tbl[n & 63]};
  }
  if (i + 1 == in.size()) {
    auto n = static_cast<unsigned char>(in[i]) << 16;
    out += {tbl[(n >> 18) & 63], tbl[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    auto n =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {tbl[(n >> 18) & 63], tbl[(n >> 12) & 63], tbl[(n >> 6) & 63], '='};
  }
  return out;
}

// One line of a server's answer for an error message, with every secret value blanked out.
std::string snippet(std::string_view body, const std::vector<std::string>& secrets = {}) {
  std::string s(trim(body).substr(0, 200));
  for (auto& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (auto at = s.find(secret); at != std::string::npos; at = s.find(secret, at)) {
      s.replace(at, secret.size(), "<redacted>");
    }
  }
  return s;
}

casda_error from_http(const http_error& e, std::string_view what) {
  auto k = e.transient() ? ckind::transient : ckind::protocol;
  return casda_error(k, std::string(what) + ": " + e.what());
}

std::string cell_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_double() || v.is_bool()) return json::serialize(v);
  return "";
}

std::string text_field(const json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v && v->is_string())
    return std::string(trim(v->get_string()));
  return "";
}

// The path part of a URL (after scheme://authority, before ? or #), percent-encoding kept.
std::string_view url_path(std::string_view url) {
  auto end = url.find_first_of("?#");
  if (end != std::string_view::npos) url = url.substr(0, end);
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    auto slash = url.find('/');
    return slash == std::string_view::npos ? std::string_view{} : url.substr(slash);
  }
  return url;
}

bool is_http_url(std::string_view u) {
  auto l = lower(u.substr(0, 8));
  return l.starts_with("http://") || l.starts_with("https://");
}

// N from "scan-<N>-…" anywhere in s.
std::string scan_number(std::string_view s) {
  for (auto at = s.find("scan-"); at != std::string_view::npos; at = s.find("scan-", at + 1)) {
    auto rest = s.substr(at + 5);
    std::size_t n = 0;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    if (n > 0 && n < rest.size() && rest[n] == '-') return std::string(rest.substr(0, n));
  }
  return "";
}

// ---------------------------------------------------------------- UWS results document

struct results_reader {
  std::vector<std::pair<std::string, std::string>> results;
  std::string root;
  bool entity = false;
  bool too_many = false;
};

std::string_view xml_local(const XML_Char* name) {
  std::string_view n(name);
  auto colon = n.rfind(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

void XMLCALL results_start(void* ud, const XML_Char* name, const XML_Char** attrs) {
  auto* r = static_cast<results_reader*>(ud);
  auto n = xml_local(name);
  if (r->root.empty()) r->root = std::string(n);
  if (n != "result") return;
  if (r->results.size() >= 100'000) {
    r->too_many = true;
    return;
  }
  std::string id, href;
  for (auto a = attrs; *a; a += 2) {
    auto k = xml_local(a[0]);
    if (k == "id")
      id = a[1];
    else if (k == "href")
      href = a[1];  // expat unescaped &amp; only; no percent-decoding
  }
  r->results.emplace_back(std::move(id), std::move(href));
}

void XMLCALL results_entity(void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                            const XML_Char*, const XML_Char*, const XML_Char*) {
  static_cast<results_reader*>(ud)->entity = true;
}

std::vector<std::pair<std::string, std::string>> parse_uws_results(std::string_view xml) {
  if (xml.size() > (std::size_t{16} << 20))
    throw casda_error(ckind::protocol, "UWS results document too large");
  results_reader r;
  XML_Parser p = XML_ParserCreate(nullptr);
  if (!p) throw casda_error(ckind::protocol, "cannot allocate the XML parser");
  XML_SetUserData(p, &r);
  XML_SetElementHandler(p, results_start, nullptr);
  XML_SetEntityDeclHandler(p, results_entity);
  auto status = XML_Parse(p, xml.data(), static_cast<int>(xml.size()), XML_TRUE);
  std::string err = status == XML_STATUS_OK ? "" : XML_ErrorString(XML_GetErrorCode(p));
  XML_ParserFree(p);
  if (r.entity) throw casda_error(ckind::protocol, "UWS results document declares entities");
  if (!err.empty())
    throw casda_error(ckind::protocol, "UWS results document is not well-formed XML: " + err);
  if (r.root != "results" && r.root != "job") {
    throw casda_error(ckind::protocol, "not a UWS results document (root <" + r.root + ">)");
  }
  if (r.too_many) throw casda_error(ckind::protocol, "UWS results document has too many results");
  return std::move(r.results);
}

// ---------------------------------------------------------------- DataLink helpers

struct columns {
  std::optional<std::size_t> service_def, error_message, description, content_type;
};

const votable_resource* find_descriptor(const votable_result& vt, std::string_view service_def) {
  for (const auto& r : vt.resources) {
    if (r.id == service_def && r.type == "meta" && r.utype == "adhoc:service") return &r;
  }
  return nullptr;
}

// The service call for one row, or nullopt when a referenced column is empty in that row
// (an anonymous row has no token). Throws protocol errors for a broken descriptor.
std::optional<casda_service_call> resolve_call(const votable_result& vt, std::size_t row,
                                               const votable_resource& descriptor) {
  casda_service_call call;
  for (const auto& p : descriptor.params) {
    if (p.name == "accessURL") call.access_url = std::string(trim(p.value));
  }
  if (call.access_url.empty()) {
    throw casda_error(ckind::protocol,
                      "DataLink service descriptor '" + descriptor.id + "' has no accessURL");
  }
  auto cells = vt.row(row);
  for (const auto& g : descriptor.groups) {
    if (g.name != "inputParams") continue;
    for (const auto& p : g.params) {
      if (p.name.empty()) continue;
      if (!p.ref.empty()) {
        auto col = vt.column_by_id(p.ref);
        if (!col) {
          throw casda_error(ckind::protocol, "DataLink service descriptor '" + descriptor.id +
                                                 "' parameter '" + p.name +
                                                 "' refers to a missing FIELD ID '" + p.ref + "'");
        }
        auto value = cell_text(cells[*col]);
        if (trim(value).empty()) return std::nullopt;
        call.params.emplace_back(p.name, value);
      } else if (!p.value.empty()) {
        call.params.emplace_back(p.name, p.value);  // fixed by the service
      }
      // A PARAM with neither is an optional user input (POS, BAND, ...): not sent.
    }
  }
  if (call.params.empty()) {
    throw casda_error(ckind::protocol, "DataLink service descriptor '" + descriptor.id +
                                           "' declares no usable inputParams");
  }
  return call;
}

std::string query_join(std::string_view url,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out(url);
  out += url.find('?') == std::string_view::npos ? '?' : '&';
  out += form_encode(params);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- public helpers

std::string_view to_string(casda_error::kind k) noexcept {
  switch (k) {
    case ckind::authentication:
      return "authentication";
    case ckind::permission:
      return "permission";
    case ckind::not_found:
      return "not_found";
    case ckind::usage:
      return "usage";
    case ckind::transient:
      return "transient";
    case ckind::protocol:
      return "protocol";
    case ckind::timeout:
      return "timeout";
    case ckind::job_failed:
      return "job_failed";
  }
  return "unknown";
}

std::optional<casda_credentials> casda_credentials_from(const std::string& username,
                                                        const std::string& password,
                                                        const std::string& file) {
  casda_credentials c;
  c.username = std::string(trim(username));
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw casda_error(ckind::authentication, "cannot read CASDA_PASSWORD_FILE " + file);
    std::ostringstream ss;
    ss << in.rdbuf();
    c.password = ss.str();
    if (c.password.ends_with("\r\n"))
      c.password.resize(c.password.size() - 2);
    else if (c.password.ends_with('\n'))
      c.password.pop_back();
  } else {
    c.password = password;
  }
  if (c.username.empty() || c.password.empty()) return std::nullopt;
  return c;
}

std::string url_path_basename(std::string_view url) {
  auto path = url_path(url);
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string visibility_result_key(std::string_view id) {
  constexpr std::string_view prefix = "visibility-";
  if (!id.starts_with(prefix)) return "";
  id.remove_prefix(prefix.size());
  auto dot = id.find('.');
  auto key = id.substr(0, dot);
  return all_digits(key) ? std::string(key) : "";
}

std::string record_scan_key(const boost::json::object& record) {
  if (const auto* v = record.if_contains("scan_id")) {
    if (auto s = domain::value_string(*v)) {
      auto n = scan_number(*s);
      return n.empty() ? *s : n;
    }
  }
  if (const auto* v = record.if_contains("obs_publisher_did"); v && v->is_string()) {
    if (auto n = scan_number(v->get_string()); !n.empty()) return n;
  }
  // Last resort: the DataLink ID the discovery row points at (ID=visibility-<N>).
  if (const auto* v = record.if_contains("access_url"); v && v->is_string()) {
    std::string_view u = v->get_string();
    for (std::string_view marker : {"ID=visibility-", "id=visibility-"}) {
      if (auto at = u.find(marker); at != std::string_view::npos) {
        auto rest = u.substr(at + marker.size());
        std::size_t n = 0;
        while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
        if (n > 0) return std::string(rest.substr(0, n));
      }
    }
  }
  return "";
}

bool sbid_less(const std::string& a, const std::string& b) {
  bool na = all_digits(a), nb = all_digits(b);
  if (na != nb) return na;  // numeric first
  if (na) {
    // Compare as numbers without overflow: strip leading zeros, then length, then digits.
    auto strip = [](std::string_view s) {
      while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);
      return s;
    };
    auto x = strip(a), y = strip(b);
    if (x.size() != y.size()) return x.size() < y.size();
    if (x != y) return x < y;
  }
  return a < b;
}

casda_datalink parse_casda_datalink(std::string_view xml, std::string_view service_def) {
  votable_result vt;
  try {
    votable_limits limits;
    limits.max_document_bytes = std::size_t{32} << 20;
    vt = parse_votable(xml, limits);
  } catch (const votable_error& e) {
    throw casda_error(ckind::protocol, std::string("unreadable DataLink answer: ") + e.what());
  }
  columns c{vt.column("service_def"), vt.column("error_message"), vt.column("description"),
            vt.column("content_type")};
  casda_datalink out;
  std::vector<std::string> faults;
  bool authenticated_link = false;
  for (std::size_t i = 0; i < vt.row_count; ++i) {
    auto row = vt.row(i);
    if (c.error_message) {
      auto text = std::string(trim(cell_text(row[*c.error_message])));
      if (!text.empty()) faults.push_back(std::move(text));
    }
    if (c.description && trim(cell_text(row[*c.description])) == "Authenticated Data Link")
      authenticated_link = true;
    if (c.content_type && contains_ci(cell_text(row[*c.content_type]), "content=datalink"))
      authenticated_link = true;
  }
  auto first_fault = [&](auto pred) -> const std::string* {
    for (const auto& f : faults) {
      if (pred(f)) return &f;
    }
    return nullptr;
  };
  // Permission first: a denied product also has no service row, and it is a skip, not a failure.
  if (auto f = first_fault([](const std::string& t) { return contains_ci(t, "permission"); })) {
    return {casda_datalink::outcome::no_permission, *f, {}};
  }
  if (auto f = first_fault([](const std::string& t) { return t.starts_with("NotFoundFault"); })) {
    return {casda_datalink::outcome::not_found, *f, {}};
  }
  if (auto f = first_fault([](const std::string& t) { return t.starts_with("UsageFault"); })) {
    return {casda_datalink::outcome::usage, *f, {}};
  }
  if (c.service_def) {
    const votable_resource* descriptor = nullptr;
    for (std::size_t i = 0; i < vt.row_count; ++i) {
      if (trim(cell_text(vt.row(i)[*c.service_def])) != service_def) continue;
      if (!descriptor) descriptor = find_descriptor(vt, service_def);
      if (!descriptor) {
        throw casda_error(ckind::protocol, "DataLink rows name service '" +
                                               std::string(service_def) +
                                               "' but there is no service descriptor for it");
      }
      if (auto call = resolve_call(vt, i, *descriptor)) {
        out.result = casda_datalink::outcome::ok;
        out.call = std::move(*call);
        return out;
      }
    }
  }
  // Other faults (oversize web download, ...) only matter when nothing usable came back.
  if (!faults.empty()) return {casda_datalink::outcome::other_fault, faults.front(), {}};
  if (authenticated_link) {
    return {casda_datalink::outcome::anonymous,
            "CASDA answered the DataLink request as for an anonymous user (only the Authenticated "
            "Data Link row)",
            {}};
  }
  return {casda_datalink::outcome::no_service,
          "the DataLink answer has no usable '" + std::string(service_def) + "' row",
          {}};
}

boost::json::object casda_staging_result::to_json() const {
  json::object o;
  o["records"] = records;
  json::array skipped;
  for (const auto& s : skipped_sbids) skipped.emplace_back(s);
  o["skipped_sbids"] = std::move(skipped);
  json::array batches_json;
  for (const auto& b : batches) {
    json::array sbids;
    for (const auto& s : b.sbids) sbids.emplace_back(s);
    batches_json.push_back(json::object{{"label", b.label},
                                        {"sbids", std::move(sbids)},
                                        {"job_url", b.job_url},
                                        {"phase", b.phase},
                                        {"result_count", b.result_count},
                                        {"skipped", b.skipped},
                                        {"error", b.error}});
  }
  o["batches"] = std::move(batches_json);
  return o;
}

// ---------------------------------------------------------------- client

namespace {
http_options once(http_options o) {
  o.max_attempts = 1;
  return o;
}
}  // namespace

casda_staging_client::casda_staging_client(casda_staging_config config)
    : config_(std::move(config)), http_(config_.http), http_once_(once(config_.http)) {
  try {
    (void)parse_url(config_.login_url);  // fail early on a bad login URL
  } catch (const http_error& e) {
    throw casda_error(ckind::usage, std::string("bad CASDA login URL: ") + e.what());
  }
}

void casda_staging_client::note(const std::string& message) const {
  if (config_.on_event) config_.on_event(message);
}

std::string casda_staging_client::basic_auth(const std::string& url) const {
  parsed_url u;
  try {
    u = parse_url(url);
  } catch (const http_error& e) {
    throw casda_error(ckind::usage, std::string("bad CASDA URL: ") + e.what());
  }
  auto host = u.host;
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  bool known = host == parse_url(config_.login_url).host;
  for (const auto& h : config_.credential_hosts) known = known || h == host;
  if (!known)
    throw casda_error(ckind::permission, "CASDA credentials are not sent to " + util::redact_url(url) +
                                             ": not a configured CASDA host "
                                             "(CASDA_CREDENTIAL_HOSTS)");
  if (u.scheme != "https" && !loopback)
    throw casda_error(ckind::permission,
                      "CASDA credentials are not sent over plain http (" + util::redact_url(url) + ")");
  return "Basic " + base64(config_.username + ":" + config_.password);
}

void casda_staging_client::login() const {
  const auto where = util::redact_url(config_.login_url);
  http_request req;
  req.url = config_.login_url;
  req.headers.emplace_back("Authorization", basic_auth(config_.login_url));
  http_response r;
  try {
    r = http_.send(req);
  } catch (const http_error& e) {
    throw from_http(e, "CASDA login failed");
  }
  if (r.ok()) return;
  auto message = "CASDA login failed: HTTP " + std::to_string(r.status) + " (" + where + ")";
  if (r.status == 401 || r.status == 403) throw casda_error(ckind::authentication, message);
  throw casda_error(r.status >= 500 || r.status == 429 ? ckind::transient : ckind::protocol,
                    message);
}

casda_datalink casda_staging_client::fetch_datalink(const std::string& url) const {
  const auto where = util::redact_url(url);
  http_request req;
  req.url = url;
  // astroquery sends Basic on every DataLink GET; without it CASDA answers anonymously.
  req.headers.emplace_back("Authorization", basic_auth(url));
  http_response r;
  try {
    r = http_.send(req);
  } catch (const http_error& e) {
    throw from_http(e, "CASDA DataLink request failed");
  }
  if (!r.ok()) {
    auto message =
        "CASDA DataLink request failed: HTTP " + std::to_string(r.status) + " (" + where + ")";
    if (r.status == 401) throw casda_error(ckind::authentication, message);
    if (r.status == 403) throw casda_error(ckind::permission, message);
    if (r.status == 404) throw casda_error(ckind::not_found, message);
    if (r.status >= 500 || r.status == 429) throw casda_error(ckind::transient, message);
    throw casda_error(ckind::protocol, message);
  }
  return parse_casda_datalink(r.body, config_.pawsey ? "pawsey_async_service" : "async_service");
}

casda_staging_client::job_outcome casda_staging_client::run_soda_job(
    const std::vector<casda_service_call>& calls) const {
  if (calls.empty()) throw casda_error(ckind::usage, "no DataLink service calls to stage");
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> secrets;
  for (const auto& c : calls) {
    if (c.access_url != calls.front().access_url) {
      throw casda_error(ckind::protocol,
                        "DataLink answers of one batch name different SODA accessURLs (" +
                            util::redact_url(calls.front().access_url) + ", " + util::redact_url(c.access_url) +
                            ")");
    }
    for (const auto& p : c.params) {
      secrets.push_back(p.second);
      if (std::find(params.begin(), params.end(), p) == params.end()) params.push_back(p);
    }
  }
  const auto& access_url = calls.front().access_url;
  const auto where = util::redact_url(access_url);

  // 1. Create: POST accessURL?ID=…&ID=… with no body. Sent once: not idempotent.
  http_request create;
  create.method = "POST";
  create.url = query_join(access_url, params);
  create.follow_redirects = false;
  http_response r;
  try {
    r = http_once_.send(create);
  } catch (const http_error& e) {
    throw from_http(e, "CASDA SODA job creation failed");
  }
  auto location = r.header("location");
  if (r.status >= 400 || location.empty()) {
    auto text = snippet(r.body, secrets);
    auto message = "CASDA SODA job creation failed: HTTP " + std::to_string(r.status) + " (" +
                   where + ")" + (text.empty() ? "" : ": " + text);
    if (contains_ci(r.body, "permission") || contains_ci(r.body, "do not have access")) {
      throw casda_error(ckind::permission, message);
    }
    if (r.status < 400) throw casda_error(ckind::protocol, message + " (no Location header)");
    if (r.status == 401) throw casda_error(ckind::authentication, message);
    if (r.status == 403) throw casda_error(ckind::permission, message);
    if (r.status == 404) throw casda_error(ckind::not_found, message);
    if (r.status >= 500 || r.status == 429) throw casda_error(ckind::transient, message);
    throw casda_error(ckind::usage, message);
  }
  job_outcome out;
  try {
    out.job_url = resolve_url(create.url, location);
  } catch (const http_error& e) {
    throw casda_error(ckind::protocol,
                      std::string("CASDA SODA job Location is not a URL: ") + e.what());
  }
  const auto job_where = util::redact_url(out.job_url);
  note("CASDA SODA job created: " + job_where);

  // 2. Run.
  try {
    auto run = http_.post_form(out.job_url + "/phase", {{"phase", "RUN"}});
    if (run.status >= 400) {
      auto message = "CASDA SODA job could not be started: HTTP " + std::to_string(run.status) +
                     " (" + job_where + "/phase)";
      throw casda_error(run.status == 404   ? ckind::not_found
                        : run.status >= 500 ? ckind::transient
                                            : ckind::protocol,
                        message);
    }
  } catch (const http_error& e) {
    throw from_http(e, "CASDA SODA job could not be started");
  }

  // 3. Poll until a final phase or the budget is spent. Transient poll failures are
  // tolerated: the job keeps running on the server whatever happens to one GET.
  const auto deadline = steady::now() + config_.poll_budget;
  std::string last_problem;
  for (;;) {
    std::optional<uws_job> job;
    try {
      auto g = http_.get(out.job_url);
      if (g.status == 403 || g.status == 404 || g.status == 410) {
        throw casda_error(ckind::not_found, "CASDA staging job no longer exists: HTTP " +
                                                std::to_string(g.status) + " (" + job_where + ")");
      }
      if (g.ok()) {
        job = parse_uws_job(g.body);
      } else if (g.status >= 500 || g.status == 429) {
        last_problem = "HTTP " + std::to_string(g.status);
      } else {
        throw casda_error(ckind::protocol, "CASDA staging job poll failed: HTTP " +
                                               std::to_string(g.status) + " (" + job_where + ")");
      }
    } catch (const http_error& e) {
      if (!e.transient()) throw from_http(e, "CASDA staging job poll failed");
      last_problem = e.what();
    } catch (const tap_error& e) {
      throw casda_error(ckind::protocol, "CASDA staging job " + job_where + ": " + e.what());
    }
    if (job) {
      if (job->phase != out.phase) note("CASDA staging job " + job_where + " is " + job->phase);
      out.phase = job->phase;
      if (job->phase == "COMPLETED") {
        if (!job->results.empty()) {
          for (auto& res : job->results)
            out.results.emplace_back(std::move(res.id), std::move(res.href));
        } else {
          http_response rr;
          try {
            rr = http_.get(out.job_url + "/results");
          } catch (const http_error& e) {
            throw from_http(e, "CASDA staging results request failed");
          }
          if (!rr.ok()) {
            throw casda_error(rr.status >= 500 ? ckind::transient : ckind::protocol,
                              "CASDA staging results request failed: HTTP " +
                                  std::to_string(rr.status) + " (" + job_where + "/results)");
          }
          out.results = parse_uws_results(rr.body);
        }
        return out;
      }
      if (job->phase == "ERROR" || job->phase == "ABORTED" || job->phase == "ARCHIVED") {
        auto summary = snippet(job->error_message, secrets);
        throw casda_error(ckind::job_failed, "CASDA staging job " + job_where + " ended in " +
                                                 job->phase +
                                                 (summary.empty() ? "" : ": " + summary));
      }
      // PENDING, QUEUED, EXECUTING, SUSPENDED (CASDA emits it), HELD, UNKNOWN: keep waiting.
    }
    auto now = steady::now();
    if (now >= deadline) {
      throw casda_error(ckind::timeout,
                        "CASDA staging job timed out (" + job_where + ", phase " +
                            (out.phase.empty() ? "unknown" : out.phase) +
                            (last_problem.empty() ? "" : ", last poll: " + last_problem) + ")");
    }
    std::this_thread::sleep_for(std::min<steady::duration>(config_.poll_interval, deadline - now));
  }
}

casda_staging_result casda_staging_client::stage(const boost::json::array& records) const {
  // Preflight before any network call: every record is an object with an SBID.
  std::vector<std::string> sbid_of(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!records[i].is_object())
      throw casda_error(ckind::usage, "staging record " + std::to_string(i) + " is not an object");
    const auto* v = records[i].get_object().if_contains("sbid");
    auto s = v ? domain::value_string(*v) : std::nullopt;
    if (!s) throw casda_error(ckind::usage, "staging record " + std::to_string(i) + " has no sbid");
    sbid_of[i] = *s;
  }
  login();

  struct batch {
    std::string label;
    std::vector<std::size_t> members;
  };
  std::vector<batch> batches;
  {
    std::map<std::string, std::vector<std::size_t>, decltype(&sbid_less)> by_sbid(&sbid_less);
    for (std::size_t i = 0; i < records.size(); ++i) by_sbid[sbid_of[i]].push_back(i);
    if (config_.stage_by_sbid) {
      for (auto& [sbid, members] : by_sbid) batches.push_back({sbid, std::move(members)});
    } else if (!records.empty()) {
      batch all{"combined", {}};
      for (auto& kv : by_sbid)
        all.members.insert(all.members.end(), kv.second.begin(), kv.second.end());
      batches.push_back(std::move(all));
    }
  }

  casda_staging_result out;
  std::vector<std::optional<json::object>> staged(records.size());
  std::vector<std::size_t> staged_order;  // batch order: SBIDs numerically
  for (const auto& b : batches) {
    casda_batch_report report;
    report.label = b.label;
    auto sbids_of = [&](const std::vector<std::size_t>& members) {
      std::set<std::string, decltype(&sbid_less)> s(&sbid_less);
      for (auto i : members) s.insert(sbid_of[i]);
      return std::vector<std::string>(s.begin(), s.end());
    };
    report.sbids = sbids_of(b.members);
    note("CASDA staging batch " + b.label + " (" + std::to_string(b.members.size()) + " records)");

    // DataLink per distinct access_url, classified; permission denials drop whole SBIDs.
    std::vector<std::string> urls;
    std::map<std::string, casda_service_call> call_by_url;
    std::set<std::string> denied;
    for (auto i : b.members) {
      auto u = text_field(records[i].get_object(), "access_url");
      if (!u.empty() && std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
    }
    if (urls.empty()) {
      throw casda_error(
          ckind::usage,
          "no access_url in metadata for CASDA visibility staging (batch " + b.label + ")");
    }
    for (const auto& u : urls) {
      auto dl = fetch_datalink(u);
      using o = casda_datalink::outcome;
      switch (dl.result) {
        case o::ok:
          call_by_url.emplace(u, std::move(dl.call));
          break;
        case o::no_permission:
          note("CASDA denies access (" + dl.message + "); skipping its SBID");
          for (auto i : b.members) {
            if (text_field(records[i].get_object(), "access_url") == u) denied.insert(sbid_of[i]);
          }
          break;
        case o::not_found:
          throw casda_error(ckind::not_found,
                            "CASDA DataLink (" + util::redact_url(u) + "): " + dl.message);
        case o::usage:
          throw casda_error(ckind::usage, "CASDA DataLink (" + util::redact_url(u) + "): " + dl.message);
        case o::anonymous:
          throw casda_error(ckind::authentication, dl.message + " (" + util::redact_url(u) + ")");
        case o::other_fault:
          throw casda_error(
              dl.message.starts_with("TransientFault") ? ckind::transient : ckind::protocol,
              "CASDA DataLink (" + util::redact_url(u) + "): " + dl.message);
        case o::no_service:
          throw casda_error(ckind::protocol,
                            "CASDA DataLink (" + util::redact_url(u) + "): " + dl.message);
      }
    }
    std::vector<std::size_t> kept;
    std::vector<casda_service_call> calls;
    std::set<std::string> used_urls;
    for (auto i : b.members) {
      if (denied.contains(sbid_of[i])) continue;
      kept.push_back(i);
      auto u = text_field(records[i].get_object(), "access_url");
      if (auto it = call_by_url.find(u); it != call_by_url.end() && used_urls.insert(u).second) {
        calls.push_back(it->second);
      }
    }
    out.skipped_sbids.insert(denied.begin(), denied.end());
    if (kept.empty() || calls.empty()) {
      report.skipped = true;
      out.batches.push_back(std::move(report));
      continue;
    }

    job_outcome job;
    try {
      job = run_soda_job(calls);
    } catch (const casda_error& e) {
      if (e.code() != ckind::permission) throw;
      note(std::string("CASDA refused the staging job; skipping batch ") + b.label + ": " +
           e.what());
      for (auto i : kept) out.skipped_sbids.insert(sbid_of[i]);
      report.skipped = true;
      out.batches.push_back(std::move(report));
      continue;
    }
    report.job_url = util::redact_url(job.job_url);
    report.phase = job.phase;
    report.result_count = job.results.size();

    // Result join: visibility-<N>[.checksum] keyed by N; the URL path basename as fallback.
    std::map<std::string, std::string> data, checksum, data_by_name, checksum_by_name;
    for (const auto& [id, href] : job.results) {
      bool is_checksum = id.find(".checksum") != std::string::npos;
      auto key = visibility_result_key(id);
      auto name = url_path_basename(href);
      if (is_checksum) {
        if (!key.empty()) checksum.emplace(key, href);
        if (name.ends_with(".checksum"))
          checksum_by_name.emplace(name.substr(0, name.size() - 9), href);
      } else {
        if (!key.empty()) data.emplace(key, href);
        data_by_name.emplace(name, href);
      }
    }
    for (auto i : kept) {
      json::object rec = records[i].get_object();
      auto key = record_scan_key(rec);
      auto dataset = text_field(rec, "filename");
      if (dataset.empty()) dataset = text_field(rec, "dataset_id");
      if (dataset.empty()) dataset = text_field(rec, "visibility_filename");
      std::string staged_url, checksum_url;
      if (auto it = data.find(key); !key.empty() && it != data.end())
        staged_url = it->second;
      else if (auto jt = data_by_name.find(dataset); !dataset.empty() && jt != data_by_name.end())
        staged_url = jt->second;
      if (auto it = checksum.find(key); !key.empty() && it != checksum.end())
        checksum_url = it->second;
      else if (auto jt = checksum_by_name.find(dataset);
               !dataset.empty() && jt != checksum_by_name.end()) {
        checksum_url = jt->second;
      }
      if (staged_url.empty() || !is_http_url(staged_url)) {
        throw casda_error(ckind::protocol, "CASDA staging job " + report.job_url +
                                               " returned no data URL for scan '" + key +
                                               "' (sbid " + sbid_of[i] + ")");
      }
      // A checksum that does not name the dataset belongs to another file: drop it.
      if (dataset.empty() || !is_http_url(checksum_url) ||
          std::string_view(url_path(checksum_url)).find(dataset) == std::string_view::npos) {
        checksum_url.clear();
      }
      rec["staged_url"] = staged_url;
      rec["checksum_url"] = checksum_url;
      staged[i] = std::move(rec);
      staged_order.push_back(i);
    }
    note("CASDA staging batch " + b.label + " staged (" + std::to_string(job.results.size()) +
         " results)");
    out.batches.push_back(std::move(report));
  }

  // Evaluation files: one job over the distinct URLs of the staged records. Failures here
  // are ignored (domain §7.6): the records keep empty evaluation URLs.
  std::map<std::string, std::string> eval_data, eval_checksum;
  {
    casda_batch_report report;
    report.label = "evaluation";
    std::vector<std::string> urls;
    std::vector<std::size_t> members;
    for (auto i : staged_order) {
      members.push_back(i);
      auto u = text_field(*staged[i], "evaluation_file_access_url");
      if (!u.empty() && std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
    }
    if (!urls.empty()) {
      std::set<std::string, decltype(&sbid_less)> s(&sbid_less);
      for (auto i : members) s.insert(sbid_of[i]);
      report.sbids.assign(s.begin(), s.end());
      try {
        std::vector<casda_service_call> calls;
        std::string problems;
        for (const auto& u : urls) {
          auto dl = fetch_datalink(u);
          if (dl.result == casda_datalink::outcome::ok)
            calls.push_back(std::move(dl.call));
          else
            problems += (problems.empty() ? "" : "; ") + util::redact_url(u) + ": " + dl.message;
        }
        report.error = problems;
        if (!calls.empty()) {
          auto job = run_soda_job(calls);
          report.job_url = util::redact_url(job.job_url);
          report.phase = job.phase;
          report.result_count = job.results.size();
          for (const auto& [id, href] : job.results) {
            auto name = url_path_basename(href);
            if (id.find(".checksum") != std::string::npos || name.ends_with(".checksum")) {
              if (name.ends_with(".checksum")) name.resize(name.size() - 9);
              eval_checksum.emplace(name, href);
            } else {
              eval_data.emplace(name, href);
            }
          }
        }
      } catch (const casda_error& e) {
        report.error = e.what();
        note(std::string("CASDA evaluation-file staging failed (ignored): ") + e.what());
      }
      out.batches.push_back(std::move(report));
    }
  }

  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!staged[i]) continue;
    auto& rec = *staged[i];
    auto name = text_field(rec, "evaluation_file");
    auto find = [&](const std::map<std::string, std::string>& m) {
      auto it = name.empty() ? m.end() : m.find(name);
      return it == m.end() ? std::string() : it->second;
    };
    rec["evaluation_file_url"] = find(eval_data);
    rec["evaluation_file_checksum_url"] = find(eval_checksum);
    out.records.push_back(std::move(rec));
  }
  return out;
}

}  // namespace beampipe::adapters

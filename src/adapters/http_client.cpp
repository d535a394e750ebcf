#include "adapters/http_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <thread>

#include "util/log_context.hpp"

namespace beampipe::adapters {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;
using kind = http_error::kind;

bool http_error::transient() const noexcept {
  switch (kind_) {
    case kind::connect:
    case kind::timeout:
      return true;
    case kind::http_status:
      return status_ == 429 || status_ >= 500;
    default:
      return false;
  }
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  (void)net::ip::make_address(host, ec);
  return !ec;
}

// Where a failure happened decides whether a retry may repeat a side effect.
struct attempt_state {
  bool* request_written;
};

}  // namespace

parsed_url parse_url(std::string_view url) {
  parsed_url u;
  auto sep = url.find("://");
  if (sep == std::string_view::npos)
    throw http_error(kind::invalid_url, "URL without scheme: " + util::redact_url(url));
  u.scheme = lower(url.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") {
    throw http_error(kind::invalid_url, "unsupported URL scheme '" + u.scheme + "'");
  }
  auto rest = url.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, end);
  auto path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    throw http_error(kind::invalid_url, "credentials in URLs are not supported");
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      throw http_error(kind::invalid_url, "bad IPv6 host in URL");
    u.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw http_error(kind::invalid_url, "bad host in URL");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw http_error(kind::invalid_url, "URL without host");
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      throw http_error(kind::invalid_url, "bad port in URL");
    }
    u.port = std::string(port);
  } else {
    u.port = u.scheme == "https" ? "443" : "80";
  }
  auto hash = path.find('#');
  if (hash != std::string_view::npos) path = path.substr(0, hash);
  u.target = path.empty() || path.front() == '?' ? "/" + std::string(path) : std::string(path);
  return u;
}

std::string resolve_url(std::string_view base, std::string_view ref) {
  if (starts_with_ci(ref, "http://") || starts_with_ci(ref, "https://")) return std::string(ref);
  auto u = parse_url(base);
  bool v6 = u.host.find(':') != std::string::npos;
  std::string origin = u.scheme + "://" + (v6 ? "[" + u.host + "]" : u.host) + ":" + u.port;
  if (ref.starts_with("//")) return u.scheme + ":" + std::string(ref);
  if (ref.starts_with("/")) return origin + std::string(ref);
  std::string path = u.target.substr(0, u.target.find('?'));
  if (ref.empty() || ref.front() == '?') return origin + path + std::string(ref);
  return origin + path.substr(0, path.rfind('/') + 1) + std::string(ref);
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  auto encode = [&](std::string_view s) {
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else if (c == ' ') {
        out.push_back('+');
      } else {
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
      }
    }
  };
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out.push_back('&');
    encode(fields[i].first);
    out.push_back('=');
    encode(fields[i].second);
  }
  return out;
}

std::string http_response::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string{} : it->second;
}

const http_response& http_response::expect_ok() const {
  if (!ok()) {
    std::string snippet = body.substr(0, 300);
    for (auto& c : snippet) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    throw http_error(kind::http_status,
                     "HTTP " + std::to_string(status) + " from " + util::redact_url(url) +
                         (snippet.empty() ? "" : ": " + snippet),
                     status);
  }
  return *this;
}

http_client::http_client(http_options options) : options_(std::move(options)) {}

namespace {

// Runs the io_context until the operation started by `start` completes.
template <class Start>
beast::error_code run_op(net::io_context& ioc, Start&& start) {
  beast::error_code result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

[[noreturn]] void raise_io(beast::error_code ec, const char* phase, const std::string& where) {
  if (ec == beast::error::timeout || ec == net::error::timed_out ||
      ec == net::error::operation_aborted) {
    throw http_error(kind::timeout, std::string(phase) + " timed out for " + where);
  }
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow) {
    throw http_error(kind::too_large, "response from " + where + " exceeds the size limit");
  }
  if (ec.category() == net::error::get_ssl_category() ||
      ec.category() == ssl::error::get_stream_category()) {
    throw http_error(kind::tls, std::string("TLS error during ") + phase + " for " + where + ": " +
                                    ec.message());
  }
  if (ec.category() == beast::error_code(http::error::bad_version).category()) {
    throw http_error(kind::protocol, "malformed HTTP response from " + where + ": " + ec.message());
  }
  throw http_error(kind::connect,
                   std::string(phase) + " failed for " + where + ": " + ec.message());
}

template <class Stream>
http_response exchange(Stream& stream, beast::tcp_stream& tcp, const parsed_url& u,
                       const http_request& req, const http_options& opt,
                       clock::duration read_timeout, const std::string& where,
                       attempt_state& state) {
  net::io_context& ioc = static_cast<net::io_context&>(tcp.get_executor().context());
  http::request<http::string_body> r{http::string_to_verb(req.method), u.target, 11};
  if (r.method() == http::verb::unknown)
    throw http_error(kind::protocol, "unknown HTTP method " + req.method);
  bool v6 = u.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + u.host + "]" : u.host;
  bool default_port =
      (u.scheme == "http" && u.port == "80") || (u.scheme == "https" && u.port == "443");
  r.set(http::field::host, default_port ? host : host + ":" + u.port);
  r.set(http::field::user_agent, opt.user_agent);
  r.set(http::field::connection, "close");
  // The operator action this call serves, so a backend's logs can be matched with ours.
  if (const auto& id = util::current_correlation_id(); !id.empty()) r.set("X-Correlation-Id", id);
  for (auto& [k, v] : req.headers) r.set(k, v);
  if (!req.body.empty() || r.method() == http::verb::post) {
    r.body() = req.body;
    r.prepare_payload();
  }
  tcp.expires_after(read_timeout);
  *state.request_written = true;  // from here on the server may have acted on the request
  if (auto ec = run_op(ioc, [&](auto h) { http::async_write(stream, r, std::move(h)); })) {
    raise_io(ec, "sending the request", where);
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(opt.max_response_bytes);
  parser.header_limit(64 * 1024);
  if (auto ec =
          run_op(ioc, [&](auto h) { http::async_read(stream, buffer, parser, std::move(h)); })) {
    raise_io(ec, "reading the response", where);
  }
  auto& msg = parser.get();
  http_response out;
  out.status = static_cast<int>(msg.result_int());
  for (auto& f : msg) {
    auto name = lower(std::string_view(f.name_string().data(), f.name_string().size()));
    auto value = std::string(f.value());
    auto [it, fresh] = out.headers.emplace(name, value);
    if (!fresh) it->second += ", " + value;
  }
  out.body = std::move(msg.body());
  return out;
}

}  // namespace

http_response http_client::send_once(const http_request& req, std::string_view url,
                                     bool* request_written) const {
  auto u = parse_url(url);
  std::string where = util::redact_url(url);
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream tcp(ioc);
  auto connect_deadline = clock::now() + options_.connect_timeout;

  // getaddrinfo cannot be given a deadline; a timer cancels the lookup instead.
  tcp::resolver::results_type endpoints;
  {
    net::steady_timer timer(ioc, options_.connect_timeout);
    bool timed_out = false;
    timer.async_wait([&](beast::error_code ec) {
      if (!ec) {
        timed_out = true;
        resolver.cancel();
      }
    });
    beast::error_code rec;
    resolver.async_resolve(u.host, u.port,
                           [&](beast::error_code ec, tcp::resolver::results_type res) {
                             rec = ec;
                             endpoints = std::move(res);
                             timer.cancel();
                           });
    ioc.run();
    if (timed_out) throw http_error(kind::timeout, "name lookup timed out for " + where);
    if (rec) throw http_error(kind::connect, "cannot resolve " + u.host + ": " + rec.message());
  }
  tcp.expires_at(connect_deadline);
  if (auto ec = run_op(ioc, [&](auto h) { tcp.async_connect(endpoints, std::move(h)); })) {
    raise_io(ec, "connecting", where);
  }
  attempt_state state{request_written};
  auto read_timeout = req.read_timeout.value_or(options_.read_timeout);
  if (u.scheme == "http") {
    auto out = exchange(tcp, tcp, u, req, options_, read_timeout, where, state);
    beast::error_code ignored;
    tcp.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return out;
  }

  ssl::context ctx(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3);
  if (options_.verify_tls) {
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.set_default_verify_paths();
    if (!options_.ca_file.empty()) {
      beast::error_code ec;
      ctx.load_verify_file(options_.ca_file, ec);
      if (ec)
        throw http_error(kind::tls,
                         "cannot load CA file " + options_.ca_file + ": " + ec.message());
    }
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp), ctx);
  SSL* native = stream.native_handle();
  if (is_ip_literal(u.host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), u.host.c_str());
  } else {
    SSL_set_tlsext_host_name(native, u.host.c_str());  // SNI
    SSL_set1_host(native, u.host.c_str());             // certificate must name the host
  }
  beast::get_lowest_layer(stream).expires_at(connect_deadline);
  if (auto ec = run_op(
          ioc, [&](auto h) { stream.async_handshake(ssl::stream_base::client, std::move(h)); })) {
    long verify = SSL_get_verify_result(native);
    if (verify != X509_V_OK) {
      throw http_error(kind::tls, "TLS certificate verification failed for " + where + ": " +
                                      X509_verify_cert_error_string(verify));
    }
    if (ec == beast::error::timeout) raise_io(ec, "TLS handshake", where);
    // Whatever broke the handshake (wrong protocol on the port, reset, alert) is a TLS problem.
    throw http_error(kind::tls, "TLS handshake failed for " + where + ": " + ec.message());
  }
  auto out = exchange(stream, beast::get_lowest_layer(stream), u, req, options_, read_timeout,
                      where, state);
  // No TLS close_notify exchange: the response is complete (HTTP framing says so), and a
  // peer that never answers close_notify would cost a timeout on every request.
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

http_response http_client::send(const http_request& request) const {
  bool follow = request.follow_redirects.value_or(lower(request.method) == "get");
  auto backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    bool last = attempt >= std::max(1, options_.max_attempts);
    bool written = false;
    try {
      std::string url = request.url;
      http_request current = request;
      for (int redirects = 0;; ++redirects) {
        auto response = send_once(current, url, &written);
        response.url = url;
        bool redirect = response.status == 301 || response.status == 302 ||
                        response.status == 303 || response.status == 307 || response.status == 308;
        auto location = response.header("location");
        if (!follow || !redirect || location.empty()) {
          if (!last && (response.status == 502 || response.status == 503 || response.status == 504))
            break;
          return response;
        }
        if (redirects >= options_.max_redirects) {
          throw http_error(kind::protocol, "more than " + std::to_string(options_.max_redirects) +
                                               " redirects from " + util::redact_url(request.url));
        }
        auto next = resolve_url(url, location);
        if (starts_with_ci(url, "https://") && !starts_with_ci(next, "https://")) {
          throw http_error(kind::protocol,
                           "refusing a redirect from https to " + util::redact_url(next));
        }
        if (parse_url(next).host != parse_url(url).host) {
          // Credentials must not follow a redirect to another host.
          std::erase_if(current.headers, [](auto& h) { return lower(h.first) == "authorization"; });
        }
        url = std::move(next);
        current.method = "GET";
        current.body.clear();
      }
    } catch (const http_error& e) {
      // Only failures before anything reached the server are safe to repeat for any method.
      bool idempotent = lower(request.method) == "get";
      bool retry =
          (e.code() == kind::connect || e.code() == kind::timeout) && (!written || idempotent);
      if (last || !retry) {
        auto out = e;
        out.set_request_sent(written);
        throw out;
      }
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

http_response http_client::get(std::string_view url) const {
  http_request r;
  r.url = std::string(url);
  return send(r);
}

http_response http_client::post_form(
    std::string_view url, const std::vector<std::pair<std::string, std::string>>& fields) const {
  http_request r;
  r.method = "POST";
  r.url = std::string(url);
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  r.body = form_encode(fields);
  r.follow_redirects = false;
  return send(r);
}

}  // namespace beampipe::adapters

#include "api/console_site.hpp"

#include <cstdint>
#include <string_view>

extern "C" const char beampipe_console_html_start[];
extern "C" const std::uint64_t beampipe_console_html_size;
extern "C" const char beampipe_console_js_start[];
extern "C" const std::uint64_t beampipe_console_js_size;
extern "C" const char beampipe_console_css_start[];
extern "C" const std::uint64_t beampipe_console_css_size;

namespace beampipe::api {
namespace {

// connect-src 'self' covers the API and the event stream; no inline script or style, no
// frames, no plugins, no other origin.
constexpr const char* kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

response asset(const char* type, const char* start, std::uint64_t size) {
  response r;
  r.content_type = type;
  r.body.assign(start, static_cast<size_t>(size));
  r.headers.emplace_back("Content-Security-Policy", kPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  // Not fingerprinted: a browser revalidates, so an upgraded server is seen at once.
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

}  // namespace

std::optional<response> console_response(const request& req) {
  std::string_view path = req.path;
  std::string_view root = kConsoleRoot;
  if (path.substr(0, root.size()) != root ||
      (path.size() > root.size() && path[root.size()] != '/'))
    return std::nullopt;
  if (req.method != "GET") {
    auto r = error_response(405, "method_not_allowed", "the console answers GET only", "method");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (path == "/console/assets/app.js")
    return asset("application/javascript; charset=utf-8", beampipe_console_js_start,
                 beampipe_console_js_size);
  if (path == "/console/assets/app.css")
    return asset("text/css; charset=utf-8", beampipe_console_css_start, beampipe_console_css_size);
  if (path.substr(0, 16) == "/console/assets/")
    return error_response(404, "not_found", "no console asset at " + req.path);
  // Every other console path is a page: the script renders the one the URL names.
  return asset("text/html; charset=utf-8", beampipe_console_html_start, beampipe_console_html_size);
}

}  // namespace beampipe::api

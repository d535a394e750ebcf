#include "adapters/webhook.hpp"

#include "adapters/http_client.hpp"
#include "domain/alerting.hpp"

namespace beampipe::adapters {
namespace json = boost::json;

namespace {

std::string text(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                  : std::string();
}

// Error texts from the HTTP client may quote the URL (without its query); its path can be the
// secret (Slack, Teams), so every form of it is replaced by the masked URL.
std::string scrub(std::string message, const std::string& url, const std::string& masked) {
  for (const auto& secret : {url, redact_url(url)}) {
    if (secret.empty()) continue;
    for (auto at = message.find(secret); at != std::string::npos; at = message.find(secret, at))
      message.replace(at, secret.size(), masked);
  }
  return message;
}

}  // namespace

webhook_outcome send_webhook(const json::object& shown, const json::object& secret,
                             const json::object& payload, std::string_view delivery_id, int attempt,
                             std::chrono::milliseconds timeout) {
  webhook_outcome out;
  auto url = text(secret, "url");
  auto masked = text(shown, "url");
  if (url.empty()) {
    out.error = "the channel has no stored URL";
    return out;
  }
  http_options opts;
  opts.max_attempts = 1;  // retries are the delivery's, recorded as events
  opts.connect_timeout = timeout;
  opts.read_timeout = timeout;
  opts.max_response_bytes = 64 * 1024;
  http_client client(opts);
  http_request req;
  req.method = "POST";
  req.url = url;
  req.follow_redirects = false;
  auto body = domain::alerting::webhook_body(text(shown, "template"), payload,
                                             text(secret, "routing_key"), delivery_id);
  req.body = json::serialize(body);
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("X-Beampipe-Delivery", std::string(delivery_id));
  req.headers.emplace_back("X-Beampipe-Attempt", std::to_string(attempt));
  if (auto it = secret.find("headers"); it != secret.end() && it->value().is_object())
    for (const auto& h : it->value().as_object())
      if (h.value().is_string())
        req.headers.emplace_back(std::string(h.key()), std::string(h.value().as_string()));
  try {
    auto r = client.send(req);
    out.http_status = r.status;
    out.sent = r.ok();
    if (!out.sent) out.error = "webhook answered HTTP " + std::to_string(r.status);
  } catch (const std::exception& e) {
    out.error = scrub(e.what(), url, masked);
  }
  return out;
}

}  // namespace beampipe::adapters

#include "adapters/notifier.hpp"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

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
  for (const auto& secret : {url, util::redact_url(url)}) {
    if (secret.empty()) continue;
    for (auto at = message.find(secret); at != std::string::npos; at = message.find(secret, at))
      message.replace(at, secret.size(), masked);
  }
  return message;
}

delivery_outcome send_webhook(const json::object& shown, const json::object& secret,
                              const json::object& payload, std::string_view delivery_id,
                              int attempt, const notify_options& options) {
  delivery_outcome out;
  auto url = text(secret, "url");
  auto masked = text(shown, "url");
  if (url.empty()) {
    out.error = "the channel has no stored URL";
    return out;
  }
  http_options opts;
  opts.max_attempts = 1;  // retries are the delivery's, recorded as events
  opts.connect_timeout = options.timeout;
  opts.read_timeout = options.timeout;
  opts.max_response_bytes = 64 * 1024;
  opts.ca_file = options.ca_file;
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
    out.status = r.status;
    out.sent = r.ok();
    if (!out.sent) out.error = "webhook answered HTTP " + std::to_string(r.status);
  } catch (const std::exception& e) {
    out.error = scrub(e.what(), url, masked);
  }
  return out;
}

// ------------------------------------------------------------------ email (libcurl SMTP)

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct upload {
  std::string data;
  size_t at = 0;
};

size_t read_message(char* buf, size_t size, size_t n, void* user) {
  auto* u = static_cast<upload*>(user);
  size_t len = std::min(size * n, u->data.size() - u->at);
  std::memcpy(buf, u->data.data() + u->at, len);
  u->at += len;
  return len;
}

// Adds the extra CA file to OpenSSL's store, on top of the system's (CURLOPT_CAINFO would
// replace the system store instead).
CURLcode add_ca_file(CURL*, void* ssl_ctx, void* file) {
  auto* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (X509_STORE_load_locations(store, static_cast<const char*>(file), nullptr) != 1)
    return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

delivery_outcome send_email(const json::object& shown, const json::object& secret,
                            const json::object& payload, std::string_view delivery_id,
                            const notify_options& options) {
  curl_init_once();
  delivery_outcome out;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    out.error = "libcurl could not start an SMTP session";
    return out;
  }
  auto host = text(shown, "smtp_host");
  auto security = text(shown, "security");
  auto port = shown.contains("port") ? shown.at("port").to_number<int64_t>() : int64_t{465};
  std::string url = (security == "starttls" ? "smtp://" : "smtps://") + host + ":" +
                    std::to_string(port) + "/beampipe";
  std::vector<std::string> to;
  if (auto it = shown.find("to"); it != shown.end() && it->value().is_array())
    for (const auto& a : it->value().as_array())
      if (a.is_string()) to.emplace_back(a.as_string());
  auto from = text(shown, "from");
  upload message{domain::alerting::email_message(payload, from, to, delivery_id,
                                                 std::chrono::system_clock::now())};
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt(nullptr, curl_slist_free_all);
  for (const auto& a : to) {
    auto* next = curl_slist_append(rcpt.get(), ("<" + a + ">").c_str());
    if (!next) {
      out.error = "out of memory building the recipient list";
      return out;
    }
    rcpt.release();
    rcpt.reset(next);
  }
  auto user = text(shown, "user");
  auto password = text(secret, "password");
  char error[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if (security == "starttls")
    curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, add_ca_file);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, const_cast<char*>(options.ca_file.c_str()));
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, ("<" + from + ">").c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  if (!user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_message);
  curl_easy_setopt(c, CURLOPT_READDATA, &message);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  auto rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  out.status = static_cast<int>(code);
  out.sent = rc == CURLE_OK;
  if (!out.sent) {
    // libcurl's messages name the server and the SMTP reply, never the credentials.
    out.error = "email to " + host + ":" + std::to_string(port) +
                " failed: " + (error[0] ? std::string(error) : std::string(curl_easy_strerror(rc)));
  }
  return out;
}

}  // namespace

delivery_outcome deliver_alert(std::string_view kind, const json::object& shown,
                               const json::object& secret, const json::object& payload,
                               std::string_view delivery_id, int attempt,
                               const notify_options& options) {
  if (kind == "email") return send_email(shown, secret, payload, delivery_id, options);
  if (kind == "webhook") return send_webhook(shown, secret, payload, delivery_id, attempt, options);
  delivery_outcome out;
  out.error = "channel kind " + std::string(kind) + " cannot be delivered";
  return out;
}

}  // namespace beampipe::adapters

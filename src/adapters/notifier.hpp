#pragma once
// Delivers one alert to a notification channel: one webhook POST or one email, no retry (the
// delivery's attempts are recorded as events and retried by the alert worker). What it
// returns never contains the channel's secrets: errors name the masked URL, never a password.
#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <string_view>

namespace beampipe::adapters {

struct delivery_outcome {
  bool sent = false;  // webhook: 2xx; email: the server accepted the message
  int status = 0;     // the HTTP or final SMTP reply code; 0 when no answer came
  std::string error;  // when not sent, safe to record
};

struct notify_options {
  std::chrono::milliseconds timeout{10000};  // BEAMPIPE_ALERT_WEBHOOK_TIMEOUT_MS
  // Extra CA certificates (PEM) trusted on top of the system store, for webhooks over HTTPS
  // and SMTP over TLS (BEAMPIPE_ALERT_CA_FILE).
  std::string ca_file;
};

// `shown` and `secret` are the two halves of the channel config (domain/alerting.hpp).
// Webhook headers: Content-Type application/json, X-Beampipe-Delivery (the delivery id, for
// receivers that de-duplicate), X-Beampipe-Attempt, X-Correlation-Id (the caller's
// correlation scope), then the channel's own. Email: SMTP over implicit TLS or STARTTLS
// (libcurl), the server's certificate and name verified, AUTH when a user is configured.
delivery_outcome deliver_alert(std::string_view kind, const boost::json::object& shown,
                               const boost::json::object& secret,
                               const boost::json::object& payload, std::string_view delivery_id,
                               int attempt, const notify_options& options);

}  // namespace beampipe::adapters

#pragma once
// Delivers one alert to a webhook channel: one HTTP POST, no retry (the delivery's attempts
// are recorded as events and retried by the alert worker). What it returns never contains the
// channel's secrets: errors name the masked URL.
#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <string_view>

namespace beampipe::adapters {

struct webhook_outcome {
  bool sent = false;    // 2xx
  int http_status = 0;  // 0 when no answer came
  std::string error;    // when not sent, safe to record
};

// `shown` and `secret` are the two halves of the channel config (domain/alerting.hpp).
// Headers: Content-Type application/json, X-Beampipe-Delivery (the delivery id, for receivers
// that de-duplicate), X-Beampipe-Attempt, X-Correlation-Id when set, then the channel's own.
webhook_outcome send_webhook(const boost::json::object& shown, const boost::json::object& secret,
                             const boost::json::object& payload, std::string_view delivery_id,
                             int attempt, std::chrono::milliseconds timeout);

}  // namespace beampipe::adapters

// libFuzzer target: alerting inputs from the API — a channel config (webhook or email) split
// into shown and secret parts, a masked PATCH restored, a trigger config checked, and the
// webhook bodies and email an alert payload becomes.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domain/alerting.hpp"

namespace json = boost::json;
namespace alerting = beampipe::domain::alerting;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  auto v = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !v.is_object()) return 0;
  const auto& in = v.as_object();
  const json::value null_value;
  auto at = [&](const char* k) -> const json::value& {
    auto it = in.find(k);
    return it == in.end() ? null_value : it->value();
  };
  for (const char* kind : {"webhook", "email"}) {
    auto parsed = alerting::parse_channel_config(kind, at("config"));
    if (auto* c = std::get_if<alerting::channel_config>(&parsed)) {
      // What GET shows, sent back by a PATCH, restores to the same secrets.
      auto back = alerting::restore_masked(json::value(c->shown), c->shown, c->secret);
      auto* restored = std::get_if<boost::json::value>(&back);
      if (!restored) __builtin_trap();  // the same destination never refuses its own secrets
      auto again = alerting::parse_channel_config(kind, *restored);
      auto* c2 = std::get_if<alerting::channel_config>(&again);
      if (!c2 || c2->secret != c->secret || c2->shown != c->shown) __builtin_trap();
      (void)alerting::restore_masked(at("patch"), c->shown, c->secret);
    }
  }
  if (at("trigger_kind").is_string() && at("trigger_config").is_object()) {
    auto config = at("trigger_config").as_object();
    if (!alerting::check_trigger(at("trigger_kind").as_string(), config)) {
      alerting::measurements m;
      (void)alerting::evaluate_condition(at("trigger_kind").as_string(), config, m);
      (void)alerting::hold_for(at("trigger_kind").as_string(), config);
    }
  }
  if (at("payload").is_object()) {
    const auto& p = at("payload").as_object();
    for (const char* t : {"generic", "slack", "pagerduty"})
      (void)alerting::webhook_body(t, p, "rk", "0190a000-0000-7000-8000-000000000001");
    (void)alerting::email_message(p, "a@b.c", {"d@e.f"}, "id", std::chrono::system_clock::now());
  }
  return 0;
}

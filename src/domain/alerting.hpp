#pragma once
// Alerting rules of the domain (spec §1.8, §3.9), without I/O: what a notification channel's
// config may hold and which parts of it are secret, what an alert rule's trigger means and
// when it fires, what a webhook receives, and how failed deliveries back off.
//
// Secrets (a webhook URL's path and query, which carry Slack/Teams tokens; header values; a
// PagerDuty routing key) never enter events or answers: a channel's config is split into the
// part shown (and recorded) and the secret part kept in an operational table.
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/aggregates.hpp"

namespace beampipe::domain::alerting {

// What a shown config puts where a secret was.
inline constexpr const char* kMasked = "***";

struct channel_config {
  // Recorded in events and answered by the API: {url (origin + "/***" when it has a path or
  // query), template, headers: {name: "***"}, routing_key: "***" (when set)}.
  boost::json::object shown;
  // Kept out of the history: {url (full), headers: {name: value}, routing_key}.
  boost::json::object secret;
};

// Checks a channel's kind and config and splits it. Errors name the field ("kind", "config",
// "config.url", "config.template", "config.headers.<name>", "config.routing_key", ...).
//   url: absolute http/https URL with a host, at most 2048 bytes, no user:password@
//   template: generic | slack | pagerduty (default generic)
//   headers: object of header name (RFC 7230 token, at most 64 bytes, not one beampipe sets
//            itself: host, content-length, content-type, transfer-encoding, connection) to a
//            string value without CR/LF, at most 20 headers
//   routing_key: string, required for (and only meaningful with) the pagerduty template
//   any other key is refused.
// An email config: smtp_host, security tls (implicit, port 465 by default) | starttls (587),
// port, from (default beampipe@localhost), to [1..20 addresses], user, password (secret,
// needs user). Plain SMTP is refused.
std::variant<channel_config, command_error> parse_channel_config(std::string_view kind,
                                                                 const boost::json::value& config);

// A PATCH may send back a config as GET showed it: every "***" header value, routing key or
// password, and a url equal to the stored shown url, stands for the stored secret. Returns the
// config with those placeholders replaced from `stored_secret`, ready for
// parse_channel_config; refuses (naming the field) a masked secret whose destination changed
// (the webhook URL's scheme, host or port, or the SMTP server), which would send it elsewhere.
std::variant<boost::json::value, command_error> restore_masked(
    const boost::json::value& patched_config, const boost::json::object& stored_shown,
    const boost::json::object& stored_secret);

// The URL as shown: scheme://host[:port] plus "/***" when it has a non-root path or a query.
std::string mask_url(std::string_view url);

// Trigger kinds and their config (defaults filled in, unknown keys refused, errors name
// "trigger_config.<key>"):
//   execution_terminal  {}                                  an execution failed (immediate)
//   pending_backlog     {threshold: 50}                     enabled pending sources >= threshold
//   pending_stale       {max_age_seconds: 21600}            oldest pending source age >= bound
//   discovery_stall     {window_minutes: 120}               no discovery.changed in the window
//   dependency_down     {dependency: "postgres"}            that dependency's probe fails
//   queue_depth         {threshold: 100, for_minutes: 10}   queued jobs >= threshold, held
//   projection_lag      {max_events: 10000, for_minutes: 5} a read model this far behind, held
//   execution_stuck     {threshold: 1}                      runs flagged past their liveness
//                                                           bound (view execution_stuck)
// Every periodic kind also takes for_minutes (>= 0; not filled in where the list shows none):
// the condition must hold that long before the rule fires. Integers are >= 1 (for_minutes
// >= 0) and at most 10^9.
std::optional<command_error> check_trigger(std::string_view kind, boost::json::object& config);
bool is_periodic_trigger(std::string_view kind);  // every kind but execution_terminal

// Severity: info | warning | error | critical (PagerDuty's four).
bool valid_severity(std::string_view severity);

// What the evaluator measured for one rule's scope (its project module, or all projects).
struct measurements {
  int64_t pending_sources = 0;
  double oldest_pending_age_seconds = 0;        // 0 when nothing is pending
  int64_t discovery_changes = 0;                // discovery.changed events in the rule's window
  int64_t queue_depth = 0;                      // queued jobs
  int64_t projection_lag = 0;                   // events the furthest-behind read model lacks
  int64_t stuck_executions = 0;                 // non-terminal runs past their liveness bound
  std::map<std::string, bool> dependencies_up;  // by name; a name absent counts as up
};

struct verdict {
  bool firing = false;
  std::string summary;          // one line for people ("12 sources pending ≥ 10")
  boost::json::object details;  // the measured value and the bound
};

// Whether a periodic trigger's condition holds now (for_minutes is the evaluator's business).
verdict evaluate_condition(std::string_view kind, const boost::json::object& config,
                           const measurements& m);

// How long a condition must have held before a rule fires (trigger_config.for_minutes; 0 for
// execution_terminal and when absent).
std::chrono::seconds hold_for(std::string_view kind, const boost::json::object& config);

// Cooldown (§3.9 step 1): true while now - last_fired_at < cooldown_minutes.
bool in_cooldown(std::optional<std::chrono::system_clock::time_point> last_fired_at,
                 std::chrono::system_clock::time_point now, int64_t cooldown_minutes);

// The HTTP body a webhook channel sends for an alert payload (§3.9 step 2):
//   generic   → the payload itself
//   slack     → {"text": "*{severity}* [{project_module or global}]\n{summary}"}
//   pagerduty → {routing_key, event_action: "trigger", dedup_key: delivery_id,
//                payload: {summary, severity, source: "beampipe-v2", custom_details: payload}}
// PagerDuty's summary is cut to 1024 bytes (its limit) on a UTF-8 boundary.
boost::json::object webhook_body(std::string_view template_name, const boost::json::object& payload,
                                 std::string_view routing_key, std::string_view delivery_id);

// The email an alert becomes (§3.9 step 2): RFC 5322 headers (Date, From, To, Subject
// "[beampipe] {severity} — {summary}" as RFC 2047 encoded words, Message-ID
// <delivery_id@beampipe>, X-Beampipe-Delivery, MIME text/plain UTF-8 in base64) and the payload
// as indented JSON. Lines end in CRLF.
std::string email_message(const boost::json::object& payload, std::string_view from,
                          const std::vector<std::string>& to, std::string_view delivery_id,
                          std::chrono::system_clock::time_point date);

// JSON indented by two spaces, keys in their stored order.
std::string pretty_json(const boost::json::value& v);

// Delay before attempt `attempt + 1` after failed attempt `attempt` (1-based):
// min(base * 2^(attempt-1), cap).
std::chrono::seconds delivery_backoff(int attempt, std::chrono::seconds base,
                                      std::chrono::seconds cap);

}  // namespace beampipe::domain::alerting

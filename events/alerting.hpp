#pragma once
// Events of alerting (spec §1.8, §3.9): the channel registry ("channels-registry"), alert rules
// ("alertrule-<uuid>") and deliveries ("delivery-<uuid>"). Channel configs are masked: secrets
// live in notification_channel_secrets, never in an event.
#include "events/codec.hpp"
#include "events/types.hpp"

namespace beampipe::events {

struct channel_fields {
  std::string uuid;
  std::string name;
  std::string kind;  // webhook | email | slack | pagerduty
  boost::json::object config;
  bool enabled = true;
};
BOOST_DESCRIBE_STRUCT(channel_fields, (), (uuid, name, kind, config, enabled))

struct channel_created : channel_fields {
  static constexpr const char* kType = type::channel_created;
  static constexpr int kVersion = 1;
};
BOOST_DESCRIBE_STRUCT(channel_created, (channel_fields), ())

struct channel_updated : channel_fields {
  static constexpr const char* kType = type::channel_updated;
  static constexpr int kVersion = 1;
  std::vector<std::string> changed;  // name | config | enabled | secret
};
BOOST_DESCRIBE_STRUCT(channel_updated, (channel_fields), (changed))

struct channel_deleted {
  static constexpr const char* kType = type::channel_deleted;
  static constexpr int kVersion = 1;
  std::string uuid;
  std::string name;
  std::string kind;
};
BOOST_DESCRIBE_STRUCT(channel_deleted, (), (uuid, name, kind))

struct alert_rule_fields {
  std::string uuid;
  std::string name;
  std::optional<std::string> project_module;  // null: every project
  bool enabled = true;
  std::string severity;
  std::string trigger_kind;
  boost::json::object trigger_config;
  std::vector<std::string> channel_ids;
  int64_t cooldown_minutes = 0;
};
BOOST_DESCRIBE_STRUCT(alert_rule_fields, (),
                      (uuid, name, project_module, enabled, severity, trigger_kind, trigger_config,
                       channel_ids, cooldown_minutes))

struct alert_rule_created : alert_rule_fields {
  static constexpr const char* kType = type::alert_rule_created;
  static constexpr int kVersion = 1;
};
BOOST_DESCRIBE_STRUCT(alert_rule_created, (alert_rule_fields), ())

struct alert_rule_updated : alert_rule_fields {
  static constexpr const char* kType = type::alert_rule_updated;
  static constexpr int kVersion = 1;
  std::vector<std::string> changed;
};
BOOST_DESCRIBE_STRUCT(alert_rule_updated, (alert_rule_fields), (changed))

struct alert_rule_deleted {
  static constexpr const char* kType = type::alert_rule_deleted;
  static constexpr int kVersion = 1;
  std::string uuid;
};
BOOST_DESCRIBE_STRUCT(alert_rule_deleted, (), (uuid))

struct alert_delivery_ref {
  std::string delivery_id;
  std::string channel_id;
};
BOOST_DESCRIBE_STRUCT(alert_delivery_ref, (), (delivery_id, channel_id))

struct alert_fired {
  static constexpr const char* kType = type::alert_fired;
  static constexpr int kVersion = 1;
  std::string uuid;  // the rule
  std::string firing_id;
  std::optional<std::string> trigger_id;
  boost::json::object payload;  // the alert as delivered, with fired_at
  std::vector<alert_delivery_ref> deliveries;
};
BOOST_DESCRIBE_STRUCT(alert_fired, (), (uuid, firing_id, trigger_id, payload, deliveries))

struct alert_suppressed {
  static constexpr const char* kType = type::alert_suppressed;
  static constexpr int kVersion = 1;
  std::string uuid;
  std::optional<std::string> trigger_id;
  std::string reason;  // cooldown
  std::optional<std::string> last_fired_at;
};
BOOST_DESCRIBE_STRUCT(alert_suppressed, (), (uuid, trigger_id, reason, last_fired_at))

struct alert_delivery_attempted {
  static constexpr const char* kType = type::alert_delivery_attempted;
  static constexpr int kVersion = 1;
  std::string delivery_id;
  int64_t attempt = 1;
  std::string outcome;  // sent | retry | failed
  std::optional<std::string> error;
  std::optional<int64_t> response_code;
  omitted<std::string> next_attempt_at;  // for a retry
  // A channel test: the delivery's only attempt, with what was sent where.
  omitted<bool> test;
  omitted<std::string> channel_id;
  omitted<boost::json::value> payload;
};
BOOST_DESCRIBE_STRUCT(alert_delivery_attempted, (),
                      (delivery_id, attempt, outcome, error, response_code, next_attempt_at, test,
                       channel_id, payload))

}  // namespace beampipe::events

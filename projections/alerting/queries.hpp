#pragma once
// The alerting read models' queries (spec §3.5): the only SQL against notification_channels,
// alert_rules, alert_deliveries and alert_triggers outside their projections. Channel rows
// carry no secret (those are in the store's channel secrets, never in events).
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "store/paging.hpp"

namespace beampipe::projections::alerting {

// --- what the API answers (NotificationChannel, AlertRule, AlertDelivery rows) ---
std::optional<boost::json::object> find_channel(pqxx::transaction_base& tx, const std::string& id);
// By name.
store::page_rows list_channels(pqxx::transaction_base& tx, int64_t limit, int64_t offset);
std::optional<boost::json::object> find_rule(pqxx::transaction_base& tx, const std::string& id);
// By name.
store::page_rows list_rules(pqxx::transaction_base& tx, int64_t limit, int64_t offset);
struct delivery_filter {
  std::string status, rule_id, channel_id;  // empty: any
};
// Newest first.
store::page_rows list_deliveries(pqxx::transaction_base& tx, const delivery_filter& filter,
                                 int64_t limit, int64_t offset);

// --- what the alert worker asks ---
std::set<std::string> enabled_channels(pqxx::transaction_base& tx);
// Alert deliveries created in the last `hours`.
int64_t deliveries_since(pqxx::transaction_base& tx, int64_t hours);

// A failed run an enabled execution_terminal rule has not been offered yet, within the
// look-back, oldest first.
struct unoffered_trigger {
  std::string rule_id, rule_name, severity;
  boost::json::value channel_ids;
  std::string trigger_id;
  std::optional<std::string> project_module;
  std::string execution_id;
  boost::json::value source_identifiers;
  std::string error;  // as recorded (redacted when it was)
};
std::vector<unoffered_trigger> unoffered_triggers(pqxx::transaction_base& tx,
                                                  int64_t lookback_hours, int64_t limit);

// Enabled rules evaluated each round (every kind but execution_terminal), by id.
struct condition_rule {
  std::string id, name;
  std::optional<std::string> project_module;
  std::string severity, trigger_kind;
  boost::json::object trigger_config;
  boost::json::value channel_ids;
  int64_t cooldown_minutes = 0;
  std::optional<std::string> last_fired_at;  // RFC 3339, UTC
};
std::vector<condition_rule> condition_rules(pqxx::transaction_base& tx);
// Drops the held conditions of rules that are gone, disabled or no longer evaluated per round.
void forget_stale_conditions(pqxx::transaction_base& tx);

// Pending deliveries whose attempt is due, oldest first, with their channel (if it exists).
struct due_delivery {
  std::string id, channel_id;
  int attempts = 0;
  boost::json::object payload;
  bool channel_exists = false, channel_enabled = false;
  boost::json::object channel_config;  // as shown (no secret)
  std::string channel_kind;
};
std::vector<due_delivery> due_deliveries(pqxx::transaction_base& tx, int64_t limit);

}  // namespace beampipe::projections::alerting

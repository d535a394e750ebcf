#include "projections/alerting/queries.hpp"

#include "util/json.hpp"

namespace beampipe::projections::alerting {
namespace json = boost::json;

namespace {

constexpr const char* kChannelRow =
    "SELECT json_build_object('uuid', uuid, 'name', name, 'kind', kind, 'config', config, "
    "'enabled', enabled, 'created_at', created_at, 'updated_at', updated_at)";
constexpr const char* kRuleRow =
    "SELECT json_build_object('uuid', uuid, 'name', name, 'project_module', project_module, "
    "'enabled', enabled, 'severity', severity, 'trigger_kind', trigger_kind, 'trigger_config', "
    "trigger_config, 'channel_ids', channel_ids, 'cooldown_minutes', cooldown_minutes, "
    "'last_fired_at', last_fired_at, 'created_at', created_at, 'updated_at', updated_at)";
constexpr const char* kDeliveryRow =
    "SELECT json_build_object('uuid', uuid, 'rule_id', rule_id, 'channel_id', channel_id, "
    "'status', status, 'payload', payload, 'error', error, 'response_code', response_code, "
    "'attempts', attempts, 'next_attempt_at', next_attempt_at, 'test', test, 'created_at', "
    "created_at, 'updated_at', updated_at, 'sent_at', sent_at)";

std::optional<json::object> one_row(pqxx::transaction_base& tx, const char* select,
                                    const char* from_where, const std::string& id) {
  std::string sql = select;
  sql.append(from_where);
  return store::first_object(tx.exec_params(sql, id));
}

std::string text_or_empty(const pqxx::field& f) { return f.is_null() ? std::string() : f.c_str(); }

json::value json_or_null(const pqxx::field& f) {
  return f.is_null() ? json::value(nullptr) : util::parse_stored(f.c_str());
}

}  // namespace

std::optional<json::object> find_channel(pqxx::transaction_base& tx, const std::string& id) {
  return one_row(tx, kChannelRow, " FROM notification_channels WHERE uuid = $1::uuid", id);
}

store::page_rows list_channels(pqxx::transaction_base& tx, int64_t limit, int64_t offset) {
  return store::read_page(tx, kChannelRow, "FROM notification_channels", "ORDER BY name, uuid", {},
                          limit, offset);
}

std::optional<json::object> find_rule(pqxx::transaction_base& tx, const std::string& id) {
  return one_row(tx, kRuleRow, " FROM alert_rules WHERE uuid = $1::uuid", id);
}

store::page_rows list_rules(pqxx::transaction_base& tx, int64_t limit, int64_t offset) {
  return store::read_page(tx, kRuleRow, "FROM alert_rules", "ORDER BY name, uuid", {}, limit,
                          offset);
}

store::page_rows list_deliveries(pqxx::transaction_base& tx, const delivery_filter& f,
                                 int64_t limit, int64_t offset) {
  return store::read_page(tx, kDeliveryRow,
                          "FROM alert_deliveries WHERE ($1 = '' OR status = $1) AND ($2 = '' OR "
                          "rule_id = $2::uuid) AND ($3 = '' OR channel_id = $3::uuid)",
                          "ORDER BY created_at DESC, uuid", {f.status, f.rule_id, f.channel_id},
                          limit, offset);
}

int64_t deliveries_since(pqxx::transaction_base& tx, int64_t hours) {
  return tx
      .exec_params(
          "SELECT count(*) FROM alert_deliveries WHERE created_at > now() - "
          "make_interval(hours => $1)",
          static_cast<int>(hours))[0][0]
      .as<int64_t>();
}

std::set<std::string> enabled_channels(pqxx::transaction_base& tx) {
  std::set<std::string> out;
  for (const auto& row : tx.exec("SELECT uuid::text FROM notification_channels WHERE enabled"))
    out.insert(row[0].c_str());
  return out;
}

std::vector<unoffered_trigger> unoffered_triggers(pqxx::transaction_base& tx,
                                                  int64_t lookback_hours, int64_t limit) {
  std::vector<unoffered_trigger> out;
  for (const auto& row : tx.exec_params(
           "SELECT r.uuid::text, r.name, r.severity, r.channel_ids::text, t.id::text, "
           "t.project_module, t.execution_id::text, t.source_identifiers::text, t.error "
           "FROM alert_rules r JOIN alert_triggers t ON r.trigger_kind = 'execution_terminal' "
           "AND r.enabled AND (r.project_module IS NULL OR r.project_module = t.project_module) "
           "AND t.occurred_at >= r.enabled_since "
           "WHERE t.occurred_at > now() - make_interval(hours => $1::int) AND NOT EXISTS (SELECT "
           "1 FROM alert_trigger_outcomes o WHERE o.trigger_id = t.id AND o.rule_id = r.uuid) "
           "ORDER BY t.position LIMIT $2",
           lookback_hours, limit)) {
    unoffered_trigger t;
    t.rule_id = row[0].c_str();
    t.rule_name = row[1].c_str();
    t.severity = row[2].c_str();
    t.channel_ids = json_or_null(row[3]);
    t.trigger_id = row[4].c_str();
    t.project_module = store::text_or_none(row[5]);
    t.execution_id = text_or_empty(row[6]);
    t.source_identifiers = json_or_null(row[7]);
    t.error = text_or_empty(row[8]);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<condition_rule> condition_rules(pqxx::transaction_base& tx) {
  std::vector<condition_rule> out;
  for (const auto& row :
       tx.exec("SELECT uuid::text, name, project_module, severity, trigger_kind, "
               "trigger_config::text, channel_ids::text, cooldown_minutes, "
               "to_char(last_fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
               "FROM alert_rules WHERE enabled AND trigger_kind <> 'execution_terminal' "
               "ORDER BY uuid")) {
    condition_rule r;
    r.id = row[0].c_str();
    r.name = row[1].c_str();
    r.project_module = store::text_or_none(row[2]);
    r.severity = row[3].c_str();
    r.trigger_kind = row[4].c_str();
    r.trigger_config = util::parse_stored(row[5].c_str()).as_object();
    r.channel_ids = json_or_null(row[6]);
    r.cooldown_minutes = row[7].as<int64_t>();
    r.last_fired_at = store::text_or_none(row[8]);
    out.push_back(std::move(r));
  }
  return out;
}

void forget_stale_conditions(pqxx::transaction_base& tx) {
  tx.exec(
      "DELETE FROM alert_conditions c WHERE NOT EXISTS (SELECT 1 FROM alert_rules r WHERE "
      "r.uuid = c.rule_id AND r.enabled AND r.trigger_kind <> 'execution_terminal')");
}

std::vector<due_delivery> due_deliveries(pqxx::transaction_base& tx, int64_t limit) {
  std::vector<due_delivery> out;
  for (const auto& row : tx.exec_params(
           "SELECT d.uuid::text, d.attempts, d.channel_id::text, d.payload::text, "
           "c.config::text, c.enabled, c.kind FROM alert_deliveries d LEFT JOIN "
           "notification_channels c ON c.uuid = d.channel_id WHERE d.status = 'pending' AND "
           "(d.next_attempt_at IS NULL OR d.next_attempt_at <= now()) "
           "ORDER BY d.created_at LIMIT $1",
           limit)) {
    due_delivery d;
    d.id = row[0].c_str();
    d.attempts = row[1].as<int>();
    d.channel_id = text_or_empty(row[2]);
    d.payload = util::parse_stored(row[3].c_str()).as_object();
    d.channel_exists = !row[4].is_null();
    if (d.channel_exists) {
      d.channel_config = util::parse_stored(row[4].c_str()).as_object();
      d.channel_enabled = row[5].as<bool>();
      d.channel_kind = row[6].c_str();
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace beampipe::projections::alerting

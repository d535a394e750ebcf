// Notification channels, alert rules and alert deliveries (spec §1.8, §3.9, §9.3). Writes are
// superuser-only; reads need a signed-in user. A channel's secrets (webhook URL path and query,
// header values, routing key) are stored beside the events and never answered.
#include "actors/alert_worker.hpp"
#include "api/api_schemas.hpp"
#include "api/handler_support.hpp"
#include "api/paging.hpp"
#include "api/route_table.hpp"
#include "domain/aggregates.hpp"
#include "domain/alerting.hpp"
#include "projections/alerting/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/read_model_names.hpp"
#include "store/channel_secrets.hpp"
#include "util/ids.hpp"

namespace beampipe::api {
namespace json = boost::json;
namespace alerting = domain::alerting;
namespace alerts = projections::alerting;

namespace {

json::object channel_or_404(app_context& ctx, const std::string& id) {
  auto row = read_model(ctx, [&](auto& tx) { return alerts::find_channel(tx, id); });
  if (!row) fail(404, "not_found", "notification channel " + id + " not found", "id");
  return *row;
}

json::object rule_or_404(app_context& ctx, const std::string& id) {
  auto row = read_model(ctx, [&](auto& tx) { return alerts::find_rule(tx, id); });
  if (!row) fail(404, "not_found", "alert rule " + id + " not found", "id");
  return *row;
}

std::optional<json::object> stored_secret(app_context& ctx, const std::string& id) {
  return store::with_connection(
      ctx.pool, [&](pqxx::connection& c) { return store::get_channel_secret(c, id); });
}

void put_secret(app_context& ctx, const std::string& id, const json::object& secret) {
  store::with_connection(ctx.pool,
                         [&](pqxx::connection& c) { store::put_channel_secret(c, id, secret); });
}

void erase_secret(app_context& ctx, const std::string& id) {
  store::with_connection(ctx.pool,
                         [&](pqxx::connection& c) { store::erase_channel_secret(c, id); });
}

// ------------------------------------------------------------------ channels

response list_channels(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::notification_channels});
  auto page = page_params(req, 100, 500);
  return page_response(read_model(
      ctx, [&](auto& tx) { return alerts::list_channels(tx, page.limit, page.offset); }));
}

response post_channel(app_context& ctx, request& req) {
  auto body = parse_body(req);
  reject_unknown_fields(body, {"name", "kind", "config", "enabled"});
  const auto& kind = body.contains("kind") ? body.at("kind") : json::value(nullptr);
  if (!kind.is_string()) fail(400, "invalid_field", "kind must be webhook or email", "kind");
  if (!body.contains("config")) fail(400, "invalid_field", "config is required", "config");
  auto parsed = alerting::parse_channel_config(kind.as_string(), body.at("config"));
  if (auto* e = std::get_if<domain::command_error>(&parsed)) fail_with(*e);
  auto& config = std::get<alerting::channel_config>(parsed);
  auto id = util::uuid_v7();
  // The secret is in place before the event that makes the channel deliverable.
  put_secret(ctx, id, config.secret);
  json::object cmd{{"uuid", id}, {"kind", kind}, {"config", config.shown}};
  for (const char* k : {"name", "enabled"})
    if (body.contains(k)) cmd[k] = body.at(k);
  return write_then_read(ctx, req, domain::kChannelRegistryStream, "create", std::move(cmd), 201,
                         [&ctx, id] { return channel_or_404(ctx, id); },
                         // refused: nothing refers to the secret
                         {nullptr, [&ctx, id] { erase_secret(ctx, id); }});
}

response patch_channel(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  reject_unknown_fields(body, {"name", "config", "enabled"});
  auto row = channel_or_404(ctx, id);
  json::object cmd{{"uuid", id}};
  for (const char* k : {"name", "enabled"})
    if (body.contains(k)) cmd[k] = body.at(k);
  auto old_secret = stored_secret(ctx, id).value_or(json::object{});
  bool secret_written = false;
  if (body.contains("config") && !body.at("config").is_null()) {
    auto restored =
        alerting::restore_masked(body.at("config"), row.at("config").as_object(), old_secret);
    if (auto* e = std::get_if<domain::command_error>(&restored)) fail_with(*e);
    auto parsed =
        alerting::parse_channel_config(row.at("kind").as_string(), std::get<json::value>(restored));
    if (auto* e = std::get_if<domain::command_error>(&parsed)) fail_with(*e);
    auto& config = std::get<alerting::channel_config>(parsed);
    cmd["config"] = config.shown;
    if (config.secret != old_secret) {
      cmd["secret_changed"] = true;
      put_secret(ctx, id, config.secret);
      secret_written = true;
    }
  }
  write_hooks hooks;
  if (secret_written)  // refused: the old secret goes back
    hooks.refused = [&ctx, id, old_secret] { put_secret(ctx, id, old_secret); };
  return write_then_read(
      ctx, req, domain::kChannelRegistryStream, "update", std::move(cmd), 200,
      [&ctx, id] { return channel_or_404(ctx, id); }, std::move(hooks));
}

response delete_channel(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  return delete_and_wait(ctx, req, domain::kChannelRegistryStream, {{"uuid", id}},
                         {[&ctx, id] { erase_secret(ctx, id); }, nullptr});
}

response test_channel(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto out = actors::test_channel(ctx.runtime, ctx.pool, id, request_actor(req), ctx.notify);
  if (out.status == "missing")
    fail(404, "not_found", "notification channel " + id + " not found", "id");
  ctx.stats.count_alert_delivery(out.status);
  json::object answer{{"delivery_id", out.delivery_id}, {"status", out.status}};
  if (!out.error.empty()) answer["error"] = out.error;
  return after_applied(ctx, req, out.position, [answer, at = out.position] {
    return with_position(json_response(200, answer), at);
  });
}

// ------------------------------------------------------------------ rules

// Rules name channels that exist, and a project with a config.
void check_rule_refs(app_context& ctx, const json::object& body) {
  if (auto it = body.find("channel_ids"); it != body.end() && it->value().is_array()) {
    for (const auto& c : it->value().as_array()) {
      if (!c.is_string() || !util::is_uuid(c.as_string())) continue;  // the aggregate says why
      std::string cid(c.as_string());
      if (!read_model(ctx, [&](auto& tx) { return alerts::find_channel(tx, cid); }))
        fail(400, "unknown_channel", "notification channel " + cid + " does not exist",
             "channel_ids");
    }
  }
  if (auto it = body.find("project_module"); it != body.end() && it->value().is_string()) {
    std::string pm(it->value().as_string());
    if (!read_model(ctx,
                    [&](auto& tx) { return projections::project_configs::has_config(tx, pm); }))
      fail(400, "unknown_project", "project " + pm + " has no config", "project_module");
  }
}

response list_rules(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::alert_rules});
  auto page = page_params(req, 100, 500);
  return page_response(
      read_model(ctx, [&](auto& tx) { return alerts::list_rules(tx, page.limit, page.offset); }));
}

response post_rule(app_context& ctx, request& req) {
  auto body = parse_body(req);
  if (body.contains("uuid")) fail(400, "unknown_field", "unknown field uuid", "uuid");
  check_rule_refs(ctx, body);
  auto id = util::uuid_v7();
  body["uuid"] = id;
  return write_then_read(ctx, req, domain::alert_rule_stream_id(id), "create", std::move(body), 201,
                         [&ctx, id] { return rule_or_404(ctx, id); });
}

response patch_rule(app_context& ctx, request& req) {
  auto id = uuid_param(req, "id");
  auto body = parse_body(req);
  rule_or_404(ctx, id);
  check_rule_refs(ctx, body);
  return write_then_read(ctx, req, domain::alert_rule_stream_id(id), "update", std::move(body), 200,
                         [&ctx, id] { return rule_or_404(ctx, id); });
}

response delete_rule(app_context& ctx, request& req) {
  return delete_and_wait(ctx, req, domain::alert_rule_stream_id(uuid_param(req, "id")), {});
}

// ------------------------------------------------------------------ deliveries

std::string filter_text(const request& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

response list_deliveries(app_context& ctx, request& req) {
  honour_min_position(ctx, req, {projections::model::alert_deliveries});
  auto status = filter_text(req, "status");
  if (!status.empty() && status != "pending" && status != "sent" && status != "failed")
    fail(400, "invalid_query", "status must be pending, sent or failed", "status");
  alerts::delivery_filter filter{status, filter_text(req, "rule_id"),
                                 filter_text(req, "channel_id")};
  for (auto [k, v] : {std::pair{"rule_id", &filter.rule_id}, {"channel_id", &filter.channel_id}})
    if (!v->empty() && !util::is_uuid(*v))
      fail(400, "invalid_query", std::string(k) + " must be a UUID", k);
  auto page = page_params(req, 100, 500);
  return page_response(read_model(
      ctx, [&](auto& tx) { return alerts::list_deliveries(tx, filter, page.limit, page.offset); }));
}

}  // namespace

void add_alert_routes(router& r, const route_binder& bind) {
  const auto& v2 = kApiV2;
  const auto channel_id = uuid_path("id", "Channel UUID");
  const auto rule_id = uuid_path("id", "Rule UUID");
  r.add("GET", v2 + "/notification-channels", auth_level::user, bind(list_channels),
        operation("list_notification_channels", "List notification channels", "alerts",
                  "By name. Secrets show as \"***\".")
            .returns_list("NotificationChannelRow")
            .paged(100, 500)
            .read());
  r.add("POST", v2 + "/notification-channels", auth_level::superuser, bind(post_channel),
        operation("create_notification_channel", "Create notification channel", "alerts",
                  "A webhook or email channel. Its URL path and query, header values, routing "
                  "key and SMTP password are kept out of events and answers.")
            .json_body("NotificationChannelCreate")
            .returns("NotificationChannelRow", 201)
            .write()
            .fails({409}));
  r.add("PATCH", v2 + "/notification-channels/{id}", auth_level::superuser, bind(patch_channel),
        operation("update_notification_channel", "Update notification channel", "alerts",
                  "A config replaces the stored one; masked values (\"***\", the shown URL) keep "
                  "the stored secrets.")
            .with_path(channel_id)
            .json_body("NotificationChannelUpdate")
            .returns("NotificationChannelRow")
            .write()
            .fails({404, 409}));
  r.add("DELETE", v2 + "/notification-channels/{id}", auth_level::superuser, bind(delete_channel),
        operation("delete_notification_channel", "Delete notification channel", "alerts",
                  "Its pending deliveries fail; rules naming it skip it.")
            .with_path(channel_id)
            .no_content()
            .write()
            .fails({404}));
  r.add("POST", v2 + "/notification-channels/{id}/test", auth_level::superuser, bind(test_channel),
        operation("test_notification_channel", "Test notification channel", "alerts",
                  "Sends a test alert now (one attempt) and records it as a delivery.")
            .with_path(channel_id)
            .returns("ChannelTestResult")
            .write()
            .fails({404}));
  r.add("GET", v2 + "/alert-rules", auth_level::user, bind(list_rules),
        operation("list_alert_rules", "List alert rules", "alerts", "By name.")
            .returns_list("AlertRuleRow")
            .paged(100, 500)
            .read());
  r.add("POST", v2 + "/alert-rules", auth_level::superuser, bind(post_rule),
        operation("create_alert_rule", "Create alert rule", "alerts",
                  "trigger_config is checked against trigger_kind, defaults filled in.")
            .json_body("AlertRuleCreate")
            .returns("AlertRuleRow", 201)
            .write());
  r.add("PATCH", v2 + "/alert-rules/{id}", auth_level::superuser, bind(patch_rule),
        operation("update_alert_rule", "Update alert rule", "alerts",
                  "Re-enabling a rule makes it react to triggers from then on, not to older "
                  "ones.")
            .with_path(rule_id)
            .json_body("AlertRuleUpdate")
            .returns("AlertRuleRow")
            .write()
            .fails({404}));
  r.add("DELETE", v2 + "/alert-rules/{id}", auth_level::superuser, bind(delete_rule),
        operation("delete_alert_rule", "Delete alert rule", "alerts")
            .with_path(rule_id)
            .no_content()
            .write()
            .fails({404}));
  r.add("GET", v2 + "/alert-deliveries", auth_level::user, bind(list_deliveries),
        operation("list_alert_deliveries", "List alert deliveries", "alerts", "Newest first.")
            .returns_list("AlertDeliveryRow")
            .with_query(text_query("status", "Only deliveries in this status",
                                   {"pending", "sent", "failed"}))
            .with_query(text_query("rule_id", "Only this rule's deliveries"))
            .with_query(text_query("channel_id", "Only this channel's deliveries"))
            .paged(100, 500)
            .read());
}

}  // namespace beampipe::api

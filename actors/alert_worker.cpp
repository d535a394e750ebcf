#include "actors/alert_worker.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "actors/work_loop.hpp"
#include "adapters/notifier.hpp"
#include "domain/aggregates.hpp"
#include "domain/alerting.hpp"
#include "domain/redaction.hpp"
#include "projections/alerting/queries.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/jobs/queries.hpp"
#include "projections/provenance/queries.hpp"
#include "projections/source_registry/queries.hpp"
#include "services/job_lease_keeper.hpp"
#include "store/channel_secrets.hpp"
#include "store/db.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"
#include "util/log_context.hpp"
#include "util/time.hpp"

// A local message only (its JSON payloads have no inspect()).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<beampipe::projections::alerting::due_delivery>)

namespace beampipe::actors {
namespace json = boost::json;
namespace alerts = beampipe::projections::alerting;
namespace alerting = domain::alerting;
using clock = std::chrono::steady_clock;

namespace {

constexpr const char* kTickNamespace = "3b8e5d21-7c4a-4f19-b6e2-9d0a1c7f4e58";
constexpr const char* kActor = "system:alerts";

// A delivery's outcome on its stream; false when someone else recorded this attempt first.
bool record_attempt(runtime& rt, const std::string& delivery_id, json::object body) {
  command_request cr;
  cr.stream_id = domain::alert_delivery_stream_id(delivery_id);
  cr.cmd = {"attempt", std::move(body), kActor};
  cr.correlation_id = util::current_correlation_id();
  auto r = rt.send_sync(std::move(cr));
  if (!r.ok()) {
    spdlog::warn("alert delivery {}: attempt not recorded: {}", delivery_id, r.message);
    return false;
  }
  return true;
}

}  // namespace

struct alert_worker::impl {
  runtime& rt;
  store::database& database;
  alert_worker_options opts;
  services::job_lease_keeper leases;
  store::database::dedicated conn;  // the scan's (one scan at a time)
  // (rule, trigger) pairs offered by this process that the read model does not show yet, so a
  // lagging read model does not make us offer them every scan.
  std::map<std::string, clock::time_point> offered;
  store::connection_pool& senders_db;
  // A scan offers triggers and runs the evaluator round, then lists the due deliveries; they
  // are sent a few at a time (the alert-senders budget), off the scan, so one slow receiver
  // holds up neither the others nor the next scan's triggers.
  work_loop_runner<alerts::due_delivery> loop;

  impl(runtime& r, store::database& d, alert_worker_options o)
      : rt(r),
        database(d),
        opts(std::move(o)),
        leases(d, r.node_id(), opts.lock),
        senders_db(d.pool(store::db_role::alert_senders)),
        loop({"alerts", d.budget(store::db_role::alert_senders), opts.scan_every}, ports()) {}

  work_loop_ports<alerts::due_delivery> ports() {
    work_loop_ports<alerts::due_delivery> p;
    p.scan = [this] {
      try {
        offer_triggers();
        evaluate_round();
        pqxx::read_transaction tx(db());
        return alerts::due_deliveries(tx, 20);
      } catch (...) {
        conn.reset();
        throw;
      }
    };
    // A retry of a delivery is a new item.
    p.key = [](const alerts::due_delivery& d) {
      return d.id + "#" + std::to_string(d.attempts + 1);
    };
    p.run = [this](const alerts::due_delivery& d) {
      deliver(d);
      return true;
    };
    return p;
  }

  pqxx::connection& db() {
    if (!conn || !conn->is_open()) {
      conn.reset();
      conn = database.connect(store::db_role::alerts);
    }
    return *conn;
  }

  static json::array deliverable(const json::value& channel_ids, const std::set<std::string>& on) {
    json::array out;
    if (channel_ids.is_array())
      for (const auto& c : channel_ids.as_array())
        if (c.is_string() && on.count(std::string(c.as_string()))) out.push_back(c);
    return out;
  }

  // Offers the rule a firing; the aggregate decides (cooldown, already handled, disabled).
  void fire(const std::string& rule, json::object body) {
    body["now"] = util::now_rfc3339();
    command_request cr;
    cr.stream_id = domain::alert_rule_stream_id(rule);
    cr.cmd = {"fire", std::move(body), kActor};
    cr.correlation_id = util::current_correlation_id();
    auto r = rt.send_sync(std::move(cr));
    if (!r.ok() && r.code != "cooldown" && r.code != "rule_disabled" && r.code != "not_found")
      spdlog::warn("alert rule {}: firing not recorded: {}", rule, r.message);
  }

  // ------------------------------------------------------------ immediate: failed executions
  void offer_triggers() {
    std::vector<std::pair<std::string, json::object>> offers;
    {
      pqxx::read_transaction tx(db());
      auto on = alerts::enabled_channels(tx);
      // Failed runs older than the look-back are not alerted any more (the workers were down
      // that long); it also bounds what each scan reads.
      auto triggers =
          alerts::unoffered_triggers(tx, static_cast<int64_t>(opts.trigger_lookback.count()), 200);
      auto now = clock::now();
      for (auto it = offered.begin(); it != offered.end();)
        it = now - it->second > std::chrono::minutes(1) ? offered.erase(it) : std::next(it);
      for (auto& t : triggers) {
        const auto& rule = t.rule_id;
        const auto& trigger = t.trigger_id;
        if (!offered.emplace(rule + "/" + trigger, now).second) continue;
        const auto& exec = t.execution_id;
        auto error = domain::redact_text(t.error);
        // §3.5.1: the execution.failed alert payload (severity: the rule's).
        json::object payload{
            {"alert", "execution.failed"},
            {"severity", t.severity},
            {"summary", "Execution " + exec + " failed: " + error},
            {"rule_id", rule},
            {"rule_name", t.rule_name},
            {"execution_id", exec},
            {"links", json::object{{"events", "/api/v2/executions/" + exec + "/events"}}}};
        if (t.project_module) payload["project_module"] = *t.project_module;
        const auto& ids = t.source_identifiers;
        if (ids.is_array() && !ids.as_array().empty()) payload["source_identifiers"] = ids;
        offers.emplace_back(rule,
                            json::object{{"firing_id", domain::alert_firing_id(rule, trigger)},
                                         {"trigger_id", trigger},
                                         {"payload", std::move(payload)},
                                         {"channel_ids", deliverable(t.channel_ids, on)},
                                         {"execution_id", exec}});
      }
    }
    for (auto& [rule, body] : offers) {
      util::correlation_scope corr(std::string(body.at("execution_id").as_string()));
      body.erase("execution_id");
      fire(rule, std::move(body));
    }
  }

  // ------------------------------------------------------------ periodic rules
  void evaluate_round() {
    auto every = std::max<int64_t>(1, opts.evaluate_every.count());
    auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(util::clock::now().time_since_epoch())
            .count();
    int64_t round = now_s / every;
    auto next =
        util::to_rfc3339(util::clock::time_point(std::chrono::seconds((round + 1) * every)));
    auto tick = leases.claim(util::uuid_v5(kTickNamespace, "alert_evaluator_tick"),
                             "alert_evaluator_tick", round, "alert rules", next);
    if (!tick) return;  // another process evaluates this round, or it is done
    try {
      evaluate(round);
    } catch (...) {
      leases.finish(*tick, false, "error");
      throw;
    }
    leases.finish(*tick, true);
  }

  alerting::measurements measure(pqxx::work& tx, const std::string& kind,
                                 const json::object& config, const json::value& module) {
    alerting::measurements m;
    std::optional<std::string> pm;
    if (module.is_string()) pm = std::string(module.as_string());
    if (kind == "pending_backlog" || kind == "pending_stale") {
      auto backlog = projections::source_registry::pending_backlog(tx, pm);
      m.pending_sources = backlog.sources;
      m.oldest_pending_age_seconds = backlog.oldest_age_seconds;
    } else if (kind == "discovery_stall") {
      auto window = config.contains("window_minutes")
                        ? config.at("window_minutes").to_number<int64_t>()
                        : int64_t{120};
      m.discovery_changes = projections::provenance::discovery_changes_within(tx, pm, window);
    } else if (kind == "queue_depth") {
      m.queue_depth = projections::jobs::queued(tx, pm);
    } else if (kind == "projection_lag") {
      m.projection_lag = opts.projection_lag ? opts.projection_lag() : 0;
    } else if (kind == "execution_stuck") {
      m.stuck_executions = projections::execution_ledger::stuck_count(tx, pm);
    } else if (kind == "dependency_down") {
      if (opts.dependencies) m.dependencies_up = opts.dependencies();
    }
    return m;
  }

  void evaluate(int64_t round) {
    struct offer {
      std::string rule;
      json::object body;
    };
    std::vector<offer> offers;
    {
      pqxx::work tx(db());
      auto on = alerts::enabled_channels(tx);
      // Global rules (no project module) are evaluated over every project: the baseline
      // skipped them here, so a global dependency_down rule could never fire.
      auto rules = alerts::condition_rules(tx);
      auto now = util::clock::now();
      for (const auto& r : rules) {
        const auto& rule = r.id;
        const auto& kind = r.trigger_kind;
        const auto& config = r.trigger_config;
        json::value module =
            r.project_module ? json::value(*r.project_module) : json::value(nullptr);
        auto v = alerting::evaluate_condition(kind, config, measure(tx, kind, config, module));
        if (!v.firing) {
          tx.exec_params("DELETE FROM alert_conditions WHERE rule_id = $1::uuid", rule);
          continue;
        }
        auto hold = alerting::hold_for(kind, config);
        auto held = tx.exec_params(
            "INSERT INTO alert_conditions (rule_id, since) VALUES ($1::uuid, now()) ON CONFLICT "
            "(rule_id) DO UPDATE SET since = alert_conditions.since "
            "RETURNING extract(epoch FROM now() - since)",
            rule);
        if (held[0][0].as<double>() < static_cast<double>(hold.count())) continue;
        std::optional<util::clock::time_point> last;
        if (r.last_fired_at) last = util::parse_rfc3339(*r.last_fired_at);
        if (alerting::in_cooldown(last, now, r.cooldown_minutes)) continue;
        json::object payload{{"alert", kind},
                             {"severity", r.severity},
                             {"summary", v.summary},
                             {"rule_id", rule},
                             {"rule_name", r.name},
                             {"details", v.details},
                             {"links", json::object{{"rules", "/api/v2/alert-rules"}}}};
        if (module.is_string()) payload["project_module"] = module;
        offers.push_back(
            {rule, json::object{{"firing_id",
                                 domain::alert_firing_id(rule, "round/" + std::to_string(round))},
                                {"payload", std::move(payload)},
                                {"channel_ids", deliverable(r.channel_ids, on)}}});
      }
      // Conditions of rules that are gone, disabled or changed kind start over.
      alerts::forget_stale_conditions(tx);
      tx.commit();
    }
    for (auto& o : offers) fire(o.rule, std::move(o.body));
  }

  // ------------------------------------------------------------ deliveries
  void deliver(const alerts::due_delivery& d) {
    int attempt = d.attempts + 1;
    auto claim = leases.claim(d.id, "alert_delivery", attempt, d.channel_id);
    if (!claim) return;  // another process sends it, or this attempt is recorded
    const auto& exec = d.payload.if_contains("execution_id");
    util::correlation_scope corr(exec && exec->is_string() ? std::string(exec->as_string()) : d.id);
    json::object body{{"attempt", attempt}};
    std::optional<json::object> secret;
    try {
      if (d.channel_exists)
        secret = store::with_connection(senders_db, [&](pqxx::connection& c) {
          return store::get_channel_secret(c, d.channel_id);
        });
    } catch (...) {
      leases.finish(*claim, false, "error");  // released: tried again on the next scan
      throw;
    }
    if (!d.channel_exists || !secret) {
      body["outcome"] = "failed";
      body["error"] = "the channel was deleted";
    } else if (!d.channel_enabled) {
      body["outcome"] = "failed";
      body["error"] = "the channel is disabled";
    } else {
      auto out = adapters::deliver_alert(d.channel_kind, d.channel_config, *secret, d.payload, d.id,
                                         attempt, opts.notify);
      if (out.status) body["response_code"] = out.status;
      if (out.sent) {
        body["outcome"] = "sent";
      } else {
        body["error"] = out.error;
        if (attempt >= opts.max_attempts) {
          body["outcome"] = "failed";
        } else {
          body["outcome"] = "retry";
          body["next_attempt_at"] =
              util::to_rfc3339(util::clock::now() +
                               alerting::delivery_backoff(attempt, opts.backoff, opts.backoff_cap));
        }
      }
    }
    auto outcome = std::string(body.at("outcome").as_string());
    if (outcome != "sent")
      spdlog::warn("alert delivery {} attempt {}: {} ({})", d.id, attempt, outcome,
                   body.at("error").as_string().c_str());
    bool recorded = record_attempt(rt, d.id, std::move(body));
    leases.finish(*claim, true, recorded ? outcome : "not recorded");
    if (recorded && opts.on_delivery) opts.on_delivery(outcome);
  }
};

alert_worker::alert_worker(runtime& rt, store::database& db, alert_worker_options opts)
    : impl_(std::make_unique<impl>(rt, db, std::move(opts))) {}

alert_worker::~alert_worker() { stop(); }

void alert_worker::start() { impl_->loop.start(runtime_access::system(impl_->rt)); }

void alert_worker::stop() {
  if (impl_) impl_->loop.stop();
}

channel_test_result test_channel(runtime& rt, store::connection_pool& pool,
                                 const std::string& channel_uuid, const std::string& actor,
                                 const adapters::notify_options& notify) {
  channel_test_result out;
  out.delivery_id = util::uuid_v7();
  std::optional<json::object> shown, secret;
  std::string name, kind;
  store::with_connection(pool, [&](pqxx::connection& c) {
    {
      pqxx::read_transaction tx(c);
      if (auto row = alerts::find_channel(tx, channel_uuid)) {
        shown = row->at("config").as_object();
        name = row->at("name").as_string();
        kind = row->at("kind").as_string();
      }
    }
    if (shown) secret = store::get_channel_secret(c, channel_uuid);
  });
  if (!shown) {
    out.status = "missing";
    return out;
  }
  json::object payload{{"alert", "channel.test"},
                       {"severity", "info"},
                       {"summary", "Test notification from beampipe for channel " + name},
                       {"channel_id", channel_uuid},
                       {"fired_at", util::now_rfc3339()}};
  adapters::delivery_outcome sent;
  if (secret)
    sent = adapters::deliver_alert(kind, *shown, *secret, payload, out.delivery_id, 1, notify);
  else
    sent.error = "the channel's secret config is missing";
  out.status = sent.sent ? "sent" : "failed";
  out.error = sent.error;
  json::object body{{"attempt", 1},
                    {"outcome", out.status},
                    {"test", true},
                    {"channel_id", channel_uuid},
                    {"payload", std::move(payload)}};
  if (!sent.sent) body["error"] = sent.error;
  if (sent.status) body["response_code"] = sent.status;
  command_request cr;
  cr.stream_id = domain::alert_delivery_stream_id(out.delivery_id);
  cr.cmd = {"attempt", std::move(body), actor};
  cr.correlation_id = util::current_correlation_id();
  auto r = rt.send_sync(std::move(cr));
  out.position = r.position;
  return out;
}

}  // namespace beampipe::actors

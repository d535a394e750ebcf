// Alerting rules (spec §1.8, §3.9): channel configs and their secrets, triggers, webhook bodies,
// cooldown and delivery backoff.
#include <doctest/doctest.h>

#include <limits>

#include "domain/alerting.hpp"

namespace json = boost::json;
using namespace beampipe::domain;
using namespace beampipe::domain::alerting;
using namespace std::chrono_literals;

namespace {

std::variant<channel_config, command_error> parse(std::string_view kind, std::string_view text) {
  return parse_channel_config(kind, json::parse(text));
}

channel_config ok(std::string_view text) {
  auto r = parse("webhook", text);
  if (auto* err = std::get_if<command_error>(&r)) FAIL_CHECK(err->field << ": " << err->message);
  REQUIRE(std::holds_alternative<channel_config>(r));
  return std::get<channel_config>(r);
}

command_error refused(std::string_view kind, std::string_view text) {
  auto r = parse(kind, text);
  REQUIRE(std::holds_alternative<command_error>(r));
  auto err = std::get<command_error>(r);
  CHECK(err.kind == error_kind::invalid);
  CHECK(!err.code.empty());
  CHECK(!err.message.empty());
  return err;
}

std::string field_of(std::string_view text) { return refused("webhook", text).field; }

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

}  // namespace

TEST_CASE("alerting: the split never leaves a secret in what is shown") {
  auto c = ok(R"({"url":"https://hooks.slack.com/services/T000/B000/XXSECRETXX?token=QTOKENQ",
                 "template":"pagerduty","headers":{"X-Token":"HDRSECRET","Authorization":"Bearer ABEARERA"},
                 "routing_key":"RKSECRETRK"})");
  auto shown = json::serialize(c.shown);
  for (const char* secret :
       {"XXSECRETXX", "QTOKENQ", "HDRSECRET", "ABEARERA", "RKSECRETRK", "services", "T000"})
    CHECK_MESSAGE(shown.find(secret) == std::string::npos, secret);
  CHECK(c.shown.at("url") == "https://hooks.slack.com/***");
  CHECK(c.shown.at("template") == "pagerduty");
  CHECK(c.shown.at("headers").at("X-Token") == kMasked);
  CHECK(c.shown.at("headers").at("Authorization") == kMasked);
  CHECK(c.shown.at("routing_key") == kMasked);

  CHECK(c.secret.at("url") ==
        "https://hooks.slack.com/services/T000/B000/XXSECRETXX?token=QTOKENQ");
  CHECK(c.secret.at("headers").at("X-Token") == "HDRSECRET");
  CHECK(c.secret.at("headers").at("Authorization") == "Bearer ABEARERA");
  CHECK(c.secret.at("routing_key") == "RKSECRETRK");
}

TEST_CASE("alerting: defaults of a minimal webhook config") {
  auto c = ok(R"({"url":"http://alerts.example:8080/"})");
  CHECK(c.shown.at("url") == "http://alerts.example:8080");
  CHECK(c.shown.at("template") == "generic");
  CHECK(c.shown.at("headers").as_object().empty());
  CHECK(!c.shown.contains("routing_key"));
  CHECK(!c.secret.contains("routing_key"));
  CHECK(c.secret.at("url") == "http://alerts.example:8080/");
}

TEST_CASE("alerting: mask_url keeps the origin and hides any path or query") {
  CHECK(mask_url("https://h.example") == "https://h.example");
  CHECK(mask_url("https://h.example/") == "https://h.example");
  CHECK(mask_url("https://h.example/a") == "https://h.example/***");
  CHECK(mask_url("https://h.example?k=secret") == "https://h.example/***");
  CHECK(mask_url("https://h.example/?k=secret") == "https://h.example/***");
  CHECK(mask_url("https://h.example#frag") == "https://h.example/***");
  CHECK(mask_url("HTTPS://h.example:8443/hook/abc") == "https://h.example:8443/***");
  CHECK(mask_url("http://[::1]:9000/x") == "http://[::1]:9000/***");
  CHECK(mask_url("http://[2001:db8::7]") == "http://[2001:db8::7]");
  // Not a URL: nothing of it is shown.
  CHECK(mask_url("ftp://u:p@h/secret") == "***");
  CHECK(mask_url("") == "***");
}

TEST_CASE("alerting: URLs that are refused, on config.url") {
  for (const char* url :
       {"https://user:pw@h.example/x", "https://tok@h.example", "ftp://h.example/x", "h.example/x",
        "https:///x", "https://", "https://h.example:0/", "https://h.example:65536",
        "https://h.example:/x", "https://h.example:80a", "https://h ex.example/",
        "https://h.example/a b", "https://h.example/\x01", "https://[::1/x", "https://[zz::1]/",
        "https://h.example/é", "https://h/ex\tample"}) {
    json::object config{{"url", url}};
    auto r = parse_channel_config("webhook", config);
    REQUIRE_MESSAGE(std::holds_alternative<command_error>(r), url);
    CHECK_MESSAGE(std::get<command_error>(r).field == "config.url", url);
  }
  CHECK(refused("webhook", R"({"url":"https://user:pw@h.example/x"})").message.find("user") !=
        std::string::npos);
  CHECK(field_of(R"({})") == "config.url");
  CHECK(field_of(R"({"url":null})") == "config.url");
  CHECK(field_of(R"({"url":42})") == "config.url");
  json::object long_url{{"url", "https://h.example/" + std::string(2048, 'a')}};
  auto r = parse_channel_config("webhook", long_url);
  REQUIRE(std::holds_alternative<command_error>(r));
  CHECK(std::get<command_error>(r).field == "config.url");
  // An '@' after the authority is part of the path, not userinfo.
  CHECK(ok(R"({"url":"https://h.example/a@b"})").shown.at("url") == "https://h.example/***");
  CHECK(ok(R"({"url":"HTTP://H.example"})").shown.at("url") == "http://H.example");
}

TEST_CASE("alerting: other refusals name their field") {
  CHECK(field_of(R"({"url":"https://h.example","headers":{"Bad Name":"v"}})") ==
        "config.headers.Bad Name");
  CHECK(field_of(R"({"url":"https://h.example","headers":{"X-A:b":"v"}})") ==
        "config.headers.X-A:b");
  CHECK(field_of(R"({"url":"https://h.example","headers":{"X-Token":"a\r\nX-Evil: 1"}})") ==
        "config.headers.X-Token");
  CHECK(field_of(R"({"url":"https://h.example","headers":{"X-Token":"a\nb"}})") ==
        "config.headers.X-Token");
  CHECK(field_of(R"({"url":"https://h.example","headers":{"Content-Type":"text/plain"}})") ==
        "config.headers.Content-Type");
  CHECK(field_of(R"({"url":"https://h.example","headers":{"host":"x"}})") == "config.headers.host");
  CHECK(field_of(R"({"url":"https://h.example","headers":{"X-N":5}})") == "config.headers.X-N");
  CHECK(field_of(R"({"url":"https://h.example","headers":{"X-A":"1","x-a":"2"}})") ==
        "config.headers.x-a");
  CHECK(field_of(R"({"url":"https://h.example","headers":[]})") == "config.headers");
  std::string long_name(65, 'x');
  json::object config{{"url", "https://h.example"}, {"headers", {{long_name, "v"}}}};
  auto r = parse_channel_config("webhook", config);
  REQUIRE(std::holds_alternative<command_error>(r));
  CHECK(std::get<command_error>(r).field == "config.headers." + long_name);
  json::object many;
  for (int i = 0; i < 21; ++i) many["X-H" + std::to_string(i)] = "v";
  config = {{"url", "https://h.example"}, {"headers", many}};
  r = parse_channel_config("webhook", config);
  REQUIRE(std::holds_alternative<command_error>(r));
  CHECK(std::get<command_error>(r).field == "config.headers");
  many.erase("X-H0");
  config = {{"url", "https://h.example"}, {"headers", many}};
  CHECK(std::holds_alternative<channel_config>(parse_channel_config("webhook", config)));

  CHECK(field_of(R"({"url":"https://h.example","template":"pagerduty"})") == "config.routing_key");
  CHECK(field_of(R"({"url":"https://h.example","template":"pagerduty","routing_key":""})") ==
        "config.routing_key");
  CHECK(field_of(R"({"url":"https://h.example","template":"teams"})") == "config.template");
  CHECK(field_of(R"({"url":"https://h.example","template":1})") == "config.template");
  CHECK(field_of(R"({"url":"https://h.example","secret":"x"})") == "config.secret");
  CHECK(field_of(R"({"url":"https://h.example","smtp_host":"mail"})") == "config.smtp_host");
  // A bare mask with nothing stored behind it is refused rather than kept as the secret.
  CHECK(field_of(R"({"url":"https://h.example","headers":{"X-New":"***"}})") ==
        "config.headers.X-New");
  CHECK(field_of(R"({"url":"https://h.example","template":"pagerduty","routing_key":"***"})") ==
        "config.routing_key");

  CHECK(refused("sms", R"({"url":"https://h.example"})").field == "kind");
  CHECK(refused("webhook", R"("https://h.example")").field == "config");
  CHECK(refused("webhook", R"(null)").field == "config");
}

TEST_CASE("alerting: restore_masked puts the stored secrets back") {
  auto stored = ok(R"({"url":"https://hooks.example/T1/SECRET","template":"pagerduty",
                      "headers":{"X-Token":"tok1","X-Other":"o"},"routing_key":"rk1"})");

  SUBCASE("the config as GET showed it round-trips to the same secrets") {
    json::value patched = stored.shown;
    patched.as_object()["template"] = "pagerduty";
    auto restored = std::get<json::value>(restore_masked(patched, stored.shown, stored.secret));
    auto again = parse_channel_config("webhook", restored);
    REQUIRE(std::holds_alternative<channel_config>(again));
    CHECK(std::get<channel_config>(again).secret == stored.secret);
    CHECK(std::get<channel_config>(again).shown == stored.shown);
  }
  SUBCASE("header names match case-insensitively; new values and paths replace") {
    auto patched = json::parse(R"({"url":"https://hooks.example/T2/other","template":"pagerduty",
        "headers":{"x-token":"***","X-Other":"changed","X-Unknown":"***"},"routing_key":"***"})");
    auto restored =
        std::get<json::value>(restore_masked(patched, stored.shown, stored.secret)).as_object();
    CHECK(restored.at("url") == "https://hooks.example/T2/other");
    CHECK(restored.at("headers").at("x-token") == "tok1");
    CHECK(restored.at("headers").at("X-Other") == "changed");
    CHECK(restored.at("headers").at("X-Unknown") == "***");  // refused by parse_channel_config
    CHECK(restored.at("routing_key") == "rk1");
    auto r = parse_channel_config("webhook", restored);
    REQUIRE(std::holds_alternative<command_error>(r));
    CHECK(std::get<command_error>(r).field == "config.headers.X-Unknown");
  }
  SUBCASE("a masked secret never follows a new host, port or scheme") {
    for (const char* url : {"https://evil.example/hook", "https://hooks.example:8443/T1",
                            "http://hooks.example/T1"}) {
      INFO(url);
      auto patched = json::object{{"url", url}, {"headers", json::object{{"X-Token", "***"}}}};
      auto r = restore_masked(patched, stored.shown, stored.secret);
      REQUIRE(std::holds_alternative<command_error>(r));
      CHECK(std::get<command_error>(r).field == "config.headers.X-Token");
      patched = json::object{{"url", url}, {"routing_key", "***"}};
      r = restore_masked(patched, stored.shown, stored.secret);
      REQUIRE(std::holds_alternative<command_error>(r));
      CHECK(std::get<command_error>(r).field == "config.routing_key");
      // With the secrets themselves, a new destination is fine.
      patched = json::object{{"url", url}, {"headers", json::object{{"X-Token", "new"}}}};
      CHECK(std::holds_alternative<json::value>(
          restore_masked(patched, stored.shown, stored.secret)));
    }
  }
  SUBCASE("a new routing key and anything else are left alone") {
    auto patched = json::parse(R"({"url":"https://hooks.example/***","routing_key":"rk2",
                                  "template":"slack","extra":1})");
    auto restored =
        std::get<json::value>(restore_masked(patched, stored.shown, stored.secret)).as_object();
    CHECK(restored.at("url") == "https://hooks.example/T1/SECRET");
    CHECK(restored.at("routing_key") == "rk2");
    CHECK(restored.at("template") == "slack");
    CHECK(restored.at("extra") == 1);
  }
  SUBCASE("not an object: unchanged") {
    CHECK(std::get<json::value>(restore_masked(json::value("x"), stored.shown, stored.secret)) ==
          json::value("x"));
    CHECK(std::get<json::value>(restore_masked(json::value(nullptr), stored.shown, stored.secret))
              .is_null());
  }
}

TEST_CASE("alerting: check_trigger fills defaults and refuses what it does not know") {
  struct expect {
    const char* kind;
    const char* filled;
  };
  for (auto e :
       {expect{"execution_terminal", "{}"}, expect{"pending_backlog", R"({"threshold":50})"},
        expect{"pending_stale", R"({"max_age_seconds":21600})"},
        expect{"discovery_stall", R"({"window_minutes":120})"},
        expect{"dependency_down", R"({"dependency":"postgres"})"},
        expect{"queue_depth", R"({"threshold":100,"for_minutes":10})"},
        expect{"projection_lag", R"({"max_events":10000,"for_minutes":5})"},
        expect{"execution_stuck", R"({"threshold":1})"}}) {
    json::object config;
    CHECK_MESSAGE(!check_trigger(e.kind, config), e.kind);
    CHECK_MESSAGE(config == obj(e.filled), e.kind);
    CHECK(is_periodic_trigger(e.kind) == (std::string_view(e.kind) != "execution_terminal"));
  }
  CHECK(!is_periodic_trigger("nope"));

  auto config = obj(R"({"threshold":7,"for_minutes":0})");
  CHECK(!check_trigger("queue_depth", config));
  CHECK(config == obj(R"({"threshold":7,"for_minutes":0})"));
  config = obj(R"({"threshold":7.0})");
  CHECK(!check_trigger("pending_backlog", config));
  CHECK(config.at("threshold").is_int64());
  config = obj(R"({"dependency":"redis_2"})");
  CHECK(!check_trigger("dependency_down", config));
  CHECK(config.at("dependency") == "redis_2");

  auto field = [](std::string_view kind, std::string_view text) -> std::string {
    auto c = obj(text);
    auto err = check_trigger(kind, c);
    if (!err) return "(accepted)";
    CHECK(err->kind == error_kind::invalid);
    return err->field;
  };
  CHECK(field("cpu_high", "{}") == "trigger_kind");
  CHECK(field("execution_terminal", R"({"threshold":1})") == "trigger_config.threshold");
  CHECK(field("pending_backlog", R"({"treshold":1})") == "trigger_config.treshold");
  CHECK(field("pending_backlog", R"({"threshold":0})") == "trigger_config.threshold");
  CHECK(field("pending_backlog", R"({"threshold":-3})") == "trigger_config.threshold");
  CHECK(field("pending_backlog", R"({"threshold":1000000001})") == "trigger_config.threshold");
  CHECK(field("pending_backlog", R"({"threshold":1000000000})") == "(accepted)");
  CHECK(field("pending_backlog", R"({"threshold":18446744073709551615})") ==
        "trigger_config.threshold");
  CHECK(field("pending_backlog", R"({"threshold":"50"})") == "trigger_config.threshold");
  CHECK(field("pending_backlog", R"({"threshold":2.5})") == "trigger_config.threshold");
  CHECK(field("pending_backlog", R"({"threshold":true})") == "trigger_config.threshold");
  CHECK(field("queue_depth", R"({"for_minutes":-1})") == "trigger_config.for_minutes");
  CHECK(field("pending_stale", R"({"max_age_seconds":0})") == "trigger_config.max_age_seconds");
  CHECK(field("discovery_stall", R"({"window_minutes":{}})") == "trigger_config.window_minutes");
  CHECK(field("dependency_down", R"({"dependency":""})") == "trigger_config.dependency");
  CHECK(field("dependency_down", R"({"dependency":"Postgres"})") == "trigger_config.dependency");
  CHECK(field("dependency_down", R"({"dependency":"pg-1"})") == "trigger_config.dependency");
  CHECK(field("dependency_down", R"({"dependency":3})") == "trigger_config.dependency");
  auto long_dep = json::object{{"dependency", std::string(65, 'a')}};
  CHECK(check_trigger("dependency_down", long_dep)->field == "trigger_config.dependency");
  long_dep = json::object{{"dependency", std::string(64, 'a')}};
  CHECK(!check_trigger("dependency_down", long_dep));
}

TEST_CASE("alerting: severities") {
  for (const char* s : {"info", "warning", "error", "critical"}) CHECK(valid_severity(s));
  for (const char* s : {"", "Warning", "fatal", "warn"}) CHECK(!valid_severity(s));
}

TEST_CASE("alerting: evaluate_condition on both sides of the bound") {
  measurements m;
  auto below_at = [&](std::string_view kind, std::string_view config_text, auto set,
                      int64_t bound) {
    auto config = obj(config_text);
    REQUIRE(!check_trigger(kind, config));
    set(bound - 1);
    auto below = evaluate_condition(kind, config, m);
    CHECK_MESSAGE(!below.firing, kind);
    CHECK(below.details.at("bound") == bound);
    CHECK(below.details.at("value") == bound - 1);
    set(bound);
    auto at = evaluate_condition(kind, config, m);
    CHECK_MESSAGE(at.firing, kind);
    CHECK(at.details.at("value") == bound);
    CHECK(at.summary.find(std::to_string(bound)) != std::string::npos);
    return at.summary;
  };

  CHECK(below_at(
            "pending_backlog", R"({"threshold":10})", [&](int64_t v) { m.pending_sources = v; },
            10) == "10 sources pending ≥ 10");
  CHECK(below_at(
            "pending_backlog", "{}", [&](int64_t v) { m.pending_sources = v; }, 50) ==
        "50 sources pending ≥ 50");
  CHECK(below_at(
            "pending_stale", R"({"max_age_seconds":600})",
            [&](int64_t v) { m.oldest_pending_age_seconds = static_cast<double>(v); },
            600) == "oldest pending source is 600 s old ≥ 600 s");
  CHECK(below_at(
            "queue_depth", R"({"threshold":100})", [&](int64_t v) { m.queue_depth = v; }, 100) ==
        "100 jobs queued ≥ 100");
  CHECK(below_at(
            "projection_lag", R"({"max_events":10000})", [&](int64_t v) { m.projection_lag = v; },
            10000) == "a read model is 10000 events behind ≥ 10000");
  CHECK(below_at(
            "execution_stuck", R"({"threshold":2})", [&](int64_t v) { m.stuck_executions = v; },
            2) == "2 runs past their liveness bound ≥ 2");

  // A fraction of a second short of the bound does not fire.
  m.oldest_pending_age_seconds = 599.5;
  auto stale = evaluate_condition("pending_stale", obj(R"({"max_age_seconds":600})"), m);
  CHECK(!stale.firing);
  CHECK(stale.summary == "oldest pending source is 599 s old < 600 s");
  // Nothing pending: age 0, never fires.
  m.oldest_pending_age_seconds = 0;
  CHECK(!evaluate_condition("pending_stale", obj(R"({"max_age_seconds":1})"), m).firing);

  auto one = obj(R"({"threshold":2})");
  m.pending_sources = 1;
  auto single = evaluate_condition("pending_backlog", one, m);
  CHECK(!single.firing);
  CHECK(single.summary == "1 source pending < 2");

  auto window = obj(R"({"window_minutes":120})");
  m.discovery_changes = 0;
  auto stall = evaluate_condition("discovery_stall", window, m);
  CHECK(stall.firing);
  CHECK(stall.summary == "no discovery changes in the last 120 min");
  CHECK(stall.details.at("value") == 0);
  CHECK(stall.details.at("bound") == 120);
  m.discovery_changes = 1;
  stall = evaluate_condition("discovery_stall", window, m);
  CHECK(!stall.firing);
  CHECK(stall.summary == "1 discovery change in the last 120 min");

  auto dep = obj(R"({"dependency":"postgres"})");
  auto down = evaluate_condition("dependency_down", dep, m);
  CHECK(!down.firing);  // absent counts as up
  CHECK(down.details == obj(R"({"dependency":"postgres"})"));
  m.dependencies_up["postgres"] = true;
  CHECK(!evaluate_condition("dependency_down", dep, m).firing);
  m.dependencies_up["postgres"] = false;
  down = evaluate_condition("dependency_down", dep, m);
  CHECK(down.firing);
  CHECK(down.summary == "dependency postgres is down");
  CHECK(!evaluate_condition("dependency_down", obj(R"({"dependency":"redis"})"), m).firing);

  CHECK(!evaluate_condition("execution_terminal", {}, m).firing);
  CHECK(!evaluate_condition("nope", {}, m).firing);
}

TEST_CASE("alerting: hold_for") {
  CHECK(hold_for("queue_depth", obj(R"({"threshold":1,"for_minutes":10})")) == 600s);
  CHECK(hold_for("projection_lag", obj(R"({"max_events":1,"for_minutes":0})")) == 0s);
  CHECK(hold_for("projection_lag", obj(R"({"max_events":1,"for_minutes":3})")) == 180s);
  CHECK(hold_for("pending_backlog", obj(R"({"threshold":1})")) == 0s);
  CHECK(hold_for("pending_backlog", obj(R"({"threshold":1,"for_minutes":2})")) == 120s);
  CHECK(hold_for("execution_terminal", obj(R"({"for_minutes":2})")) == 0s);
  // for_minutes is accepted on every periodic kind, checked, and not filled in when absent.
  auto backlog = obj(R"({"threshold":3})");
  CHECK_FALSE(check_trigger("pending_backlog", backlog));
  CHECK(backlog == obj(R"({"threshold":3})"));
  auto held = obj(R"({"dependency":"tap_casda","for_minutes":-1})");
  CHECK(check_trigger("dependency_down", held)->field == "trigger_config.for_minutes");
  auto term = obj(R"({"for_minutes":1})");
  CHECK(check_trigger("execution_terminal", term)->field == "trigger_config.for_minutes");
  CHECK(hold_for("execution_terminal", {}) == 0s);
  json::object filled;
  REQUIRE(!check_trigger("queue_depth", filled));
  CHECK(hold_for("queue_depth", filled) == 600s);
}

TEST_CASE("alerting: in_cooldown boundaries") {
  using clock = std::chrono::system_clock;
  auto last = clock::time_point(std::chrono::seconds(1'700'000'000));
  CHECK(!in_cooldown(std::nullopt, last, 60));
  CHECK(in_cooldown(last, last, 60));
  CHECK(in_cooldown(last, last + 60min - 1us, 60));
  CHECK(!in_cooldown(last, last + 60min, 60));
  CHECK(!in_cooldown(last, last + 61min, 60));
  CHECK(!in_cooldown(last, last, 0));
  CHECK(!in_cooldown(last, last + 1s, -5));
  CHECK(in_cooldown(last, last - 1min, 60));  // clock went back
  CHECK(in_cooldown(last, last + 24h * 365 * 100, std::numeric_limits<int64_t>::max()));
  CHECK(in_cooldown(clock::time_point::min(), clock::time_point::max(),
                    std::numeric_limits<int64_t>::max()));
}

TEST_CASE("alerting: webhook bodies") {
  auto payload = obj(R"({"alert":"backlog","severity":"warning","project_module":"wallaby",
                        "summary":"12 sources pending ≥ 10","fired_at":"2026-01-01T00:00:00Z"})");
  CHECK(webhook_body("generic", payload, "", "d1") == payload);

  auto slack = webhook_body("slack", payload, "", "d1");
  CHECK(slack.size() == 1);
  CHECK(slack.at("text") == "*warning* [wallaby]\n12 sources pending ≥ 10");
  auto global = payload;
  global.erase("project_module");
  CHECK(webhook_body("slack", global, "", "d1").at("text") ==
        "*warning* [global]\n12 sources pending ≥ 10");
  global["project_module"] = nullptr;
  CHECK(webhook_body("slack", global, "", "d1").at("text") ==
        "*warning* [global]\n12 sources pending ≥ 10");

  auto pd = webhook_body("pagerduty", payload, "rk-123", "delivery-9");
  CHECK(pd.at("routing_key") == "rk-123");
  CHECK(pd.at("event_action") == "trigger");
  CHECK(pd.at("dedup_key") == "delivery-9");
  const auto& inner = pd.at("payload").as_object();
  CHECK(inner.at("summary") == "12 sources pending ≥ 10");
  CHECK(inner.at("severity") == "warning");
  CHECK(inner.at("source") == "beampipe-v2");
  CHECK(inner.at("custom_details") == payload);

  // 1023 ASCII bytes then a 3-byte "≥": the cut may not split it.
  auto long_payload = payload;
  long_payload["summary"] = std::string(1023, 'a') + "≥ tail";
  auto cut = webhook_body("pagerduty", long_payload, "rk", "d").at("payload").at("summary");
  CHECK(cut.as_string() == std::string(1023, 'a'));
  long_payload["summary"] = std::string(1021, 'a') + "≥ tail";
  cut = webhook_body("pagerduty", long_payload, "rk", "d").at("payload").at("summary");
  CHECK(cut.as_string() == std::string(1021, 'a') + "≥");
  CHECK(cut.as_string().size() == 1024);
  long_payload["summary"] = std::string(2000, 'b');
  cut = webhook_body("pagerduty", long_payload, "rk", "d").at("payload").at("summary");
  CHECK(cut.as_string().size() == 1024);
  // custom_details keep the whole payload.
  CHECK(webhook_body("pagerduty", long_payload, "rk", "d").at("payload").at("custom_details") ==
        long_payload);

  auto bare = webhook_body("slack", json::object{}, "", "d");
  CHECK(bare.at("text") == "** [global]\n");
}

TEST_CASE("alerting: delivery backoff doubles up to the cap") {
  CHECK(delivery_backoff(1, 30s, 3600s) == 30s);
  CHECK(delivery_backoff(2, 30s, 3600s) == 60s);
  CHECK(delivery_backoff(3, 30s, 3600s) == 120s);
  CHECK(delivery_backoff(7, 30s, 3600s) == 1920s);
  CHECK(delivery_backoff(8, 30s, 3600s) == 3600s);
  CHECK(delivery_backoff(0, 30s, 3600s) == 30s);
  CHECK(delivery_backoff(-4, 30s, 3600s) == 30s);
  CHECK(delivery_backoff(64, 30s, 3600s) == 3600s);
  CHECK(delivery_backoff(1000, 30s, 3600s) == 3600s);
  CHECK(delivery_backoff(std::numeric_limits<int>::max(), 30s, 3600s) == 3600s);
  CHECK(delivery_backoff(62, 1s, std::chrono::seconds::max()) ==
        std::chrono::seconds(int64_t{1} << 61));
  CHECK(delivery_backoff(3, 100s, 50s) == 50s);
}

TEST_CASE("alerting: email channels keep the password secret and default the port by TLS mode") {
  auto r = parse("email", R"({"smtp_host":"mail.example.org","to":["ops@example.org"],
                             "user":"alerts","password":"pw-SECRET"})");
  REQUIRE(std::holds_alternative<channel_config>(r));
  auto c = std::get<channel_config>(r);
  CHECK(c.shown.at("port") == 465);  // implicit TLS (⚠ §1.8: not 587)
  CHECK(c.shown.at("security") == "tls");
  CHECK(c.shown.at("from") == "beampipe@localhost");
  CHECK(c.shown.at("password") == "***");
  CHECK(json::serialize(c.shown).find("pw-SECRET") == std::string::npos);
  CHECK(c.secret.at("password") == "pw-SECRET");
  auto st = std::get<channel_config>(
      parse("email", R"({"smtp_host":"mail","security":"starttls","to":["a@b.c"]})"));
  CHECK(st.shown.at("port") == 587);
  CHECK(st.secret.empty());
  auto field = [](std::string_view text) { return refused("email", text).field; };
  CHECK(field(R"({"to":["a@b.c"]})") == "config.smtp_host");
  CHECK(field(R"({"smtp_host":"mail","to":[]})") == "config.to");
  CHECK(field(R"({"smtp_host":"mail","to":["a@b.c","not an address"]})") == "config.to[1]");
  CHECK(field(R"({"smtp_host":"mail","to":["a@b.c"],"security":"none"})") == "config.security");
  CHECK(field(R"({"smtp_host":"mail","to":["a@b.c"],"port":70000})") == "config.port");
  CHECK(field(R"({"smtp_host":"mail","to":["a@b.c"],"password":"x"})") == "config.user");
  CHECK(field(R"({"smtp_host":"mail","to":["a@b.c"],"from":"x>@y"})") == "config.from");
  CHECK(field(R"({"smtp_host":"mail","to":["a@b.c"],"url":"https://x"})") == "config.url");
  CHECK(field(R"({"smtp_host":"mail x","to":["a@b.c"]})") == "config.smtp_host");
  // A PATCH sending the shown config back keeps the stored password.
  auto back = std::get<json::value>(restore_masked(json::value(c.shown), c.shown, c.secret));
  auto again = std::get<channel_config>(parse_channel_config("email", back));
  CHECK(again.secret == c.secret);
  // ... but not for another SMTP server.
  auto moved = c.shown;
  moved["smtp_host"] = "mail.attacker.example";
  auto refused_move = restore_masked(json::value(moved), c.shown, c.secret);
  REQUIRE(std::holds_alternative<command_error>(refused_move));
  CHECK(std::get<command_error>(refused_move).field == "config.password");
  moved = c.shown;
  moved["port"] = 2525;
  CHECK(
      std::holds_alternative<command_error>(restore_masked(json::value(moved), c.shown, c.secret)));
}

TEST_CASE("alerting: the email an alert becomes") {
  auto payload = obj(R"({"alert":"execution.failed","severity":"critical",
                         "summary":"Execution 42 failed: graph sha256 mismatch"})");
  auto m = email_message(payload, "beampipe@localhost", {"ops@example.org", "sci@example.org"},
                         "0190a000-0000-7000-8000-000000000001",
                         std::chrono::system_clock::time_point(std::chrono::seconds(1795000000)));
  CHECK(m.find("From: beampipe@localhost\r\n") != std::string::npos);
  CHECK(m.find("To: ops@example.org, sci@example.org\r\n") != std::string::npos);
  CHECK(m.find("Message-ID: <0190a000-0000-7000-8000-000000000001@beampipe>\r\n") !=
        std::string::npos);
  CHECK(m.find("Date: Wed, 18 Nov 2026 11:06:40 +0000\r\n") != std::string::npos);
  // The subject is RFC 2047 (the em dash is not ASCII): "[beampipe] critical — Execution ..."
  auto subject = m.substr(m.find("Subject: "), m.find("\r\nMessage-ID") - m.find("Subject: "));
  CHECK(subject.find("=?UTF-8?B?") != std::string::npos);
  for (size_t at = 0; (at = subject.find("\r\n", at)) != std::string::npos; at += 2)
    CHECK(subject[at + 2] == ' ');  // folded lines continue with a space
  CHECK(m.find("\r\n\r\n") != std::string::npos);
  CHECK(pretty_json(json::parse(R"({"a":[1,{"b":null}],"c":{}})")) ==
        "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {}\n}");
}

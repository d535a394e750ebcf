// The alerting aggregates: channel names unique in the registry; a rule fires once per trigger
// and respects its cooldown (recording a suppression for a trigger it met in the cooldown);
// a delivery's attempts are numbered and nothing is recorded after it was sent or given up.
#include <doctest/doctest.h>

#include "decided.hpp"
#include "domain/aggregates.hpp"
#include "events/types.hpp"

namespace json = boost::json;
using namespace beampipe::domain;
namespace et = beampipe::events::type;

namespace {

struct harness {
  const aggregate_kind& k;
  std::string stream;
  json::object state = k.initial();
  decision run(std::string name, json::object body) {
    auto d = k.decide(state, stream,
                      {std::move(name), std::move(body), "test", beampipe::testing::next_id()});
    beampipe::testing::check_decided(d);
    for (auto& e : d.events) k.apply(state, e.type, e.data, "2026-11-29T00:00:00Z");
    return d;
  }
};

const char* kRule = "0190a000-0000-7000-8000-0000000000a1";
const char* kChannel = "0190a000-0000-7000-8000-0000000000c1";
const char* kOther = "0190a000-0000-7000-8000-0000000000c2";

json::object webhook_config() {
  return {{"url", "https://hooks.example.org/***"}, {"template", "generic"}};
}

}  // namespace

TEST_CASE("alerting: channel names are unique; updates record only changes") {
  harness h{channel_registry_aggregate(), kChannelRegistryStream};
  auto create = [&](const char* id, const char* name) {
    return h.run("create",
                 {{"uuid", id}, {"name", name}, {"kind", "webhook"}, {"config", webhook_config()}});
  };
  REQUIRE_FALSE(create(kChannel, "ops").error);
  CHECK(create(kOther, "ops").error->code == "channel_name_taken");
  CHECK(create(kOther, "  ").error->field == "name");
  REQUIRE_FALSE(create(kOther, "science").error);
  CHECK(h.run("update", {{"uuid", kOther}, {"name", "ops"}}).error->code == "channel_name_taken");
  CHECK(h.run("update", {{"uuid", kChannel}, {"enabled", true}}).events.empty());
  auto secret_only = h.run("update", {{"uuid", kChannel}, {"secret_changed", true}});
  REQUIRE(secret_only.events.size() == 1);
  CHECK(secret_only.events[0].data.at("changed") == json::array{"secret"});
  REQUIRE_FALSE(h.run("delete", {{"uuid", kChannel}}).error);
  CHECK(h.run("delete", {{"uuid", kChannel}}).error->kind == error_kind::not_found);
  CHECK_FALSE(create(kChannel, "ops").error);  // the name is free again
}

TEST_CASE("alerting: a rule fires once per trigger and keeps its cooldown") {
  harness h{alert_rule_aggregate(), alert_rule_stream_id(kRule)};
  auto created = h.run("create", {{"uuid", kRule},
                                  {"name", "failed runs"},
                                  {"trigger_kind", "execution_terminal"},
                                  {"trigger_config", json::object{}},
                                  {"channel_ids", json::array{kChannel}}});
  REQUIRE_FALSE(created.error);
  CHECK(created.events[0].data.at("cooldown_minutes") == 60);
  CHECK(created.events[0].data.at("severity") == "warning");
  auto fire = [&](const char* trigger, const char* now) {
    json::object b{{"firing_id", alert_firing_id(kRule, trigger)},
                   {"trigger_id", trigger},
                   {"payload", json::object{{"alert", "execution.failed"}}},
                   {"channel_ids", json::array{kChannel}},
                   {"now", now}};
    return h.run("fire", std::move(b));
  };
  const char* t1 = "0190a000-0000-7000-8000-0000000000e1";
  const char* t2 = "0190a000-0000-7000-8000-0000000000e2";
  const char* t3 = "0190a000-0000-7000-8000-0000000000e3";
  auto first = fire(t1, "2026-11-29T10:00:00Z");
  REQUIRE(first.events.size() == 1);
  CHECK(first.events[0].type == et::alert_fired);
  const auto& deliveries = first.events[0].data.at("deliveries").as_array();
  REQUIRE(deliveries.size() == 1);
  CHECK(deliveries[0].at("delivery_id") ==
        json::value(alert_delivery_id(alert_firing_id(kRule, t1), kChannel)));
  // The same trigger offered again (a lagging evaluator, a second node): nothing.
  CHECK(fire(t1, "2026-11-29T12:00:00Z").events.empty());
  // Another trigger inside the cooldown: suppressed, so it is handled too.
  auto second = fire(t2, "2026-11-29T10:59:59Z");
  REQUIRE(second.events.size() == 1);
  CHECK(second.events[0].type == et::alert_suppressed);
  CHECK(fire(t2, "2026-11-29T11:30:00Z").events.empty());
  // After the cooldown a new trigger fires.
  auto third = fire(t3, "2026-11-29T11:00:00Z");
  REQUIRE(third.events.size() == 1);
  CHECK(third.events[0].type == et::alert_fired);
  // A periodic firing (no trigger) in the cooldown is refused, not recorded.
  json::object periodic{{"firing_id", alert_firing_id(kRule, "round/1")},
                        {"payload", json::object{}},
                        {"channel_ids", json::array{}},
                        {"now", "2026-11-29T11:10:00Z"}};
  CHECK(h.run("fire", periodic).error->code == "cooldown");
  // Disabled rules do not fire; unknown fields are refused by name.
  CHECK(h.run("update", {{"colour", "red"}}).error->field == "colour");
  REQUIRE_FALSE(h.run("update", {{"enabled", false}}).error);
  CHECK(fire("0190a000-0000-7000-8000-0000000000e4", "2026-11-30T00:00:00Z").error->code ==
        "rule_disabled");
  REQUIRE_FALSE(h.run("delete", {}).error);
  CHECK(h.run("update", {{"enabled", true}}).error->kind == error_kind::not_found);
}

TEST_CASE("alerting: rule fields are checked and named") {
  harness h{alert_rule_aggregate(), alert_rule_stream_id(kRule)};
  json::object base{{"uuid", kRule},
                    {"name", "backlog"},
                    {"trigger_kind", "pending_backlog"},
                    {"trigger_config", json::object{}},
                    {"channel_ids", json::array{}}};
  auto with = [&](const char* k, json::value v) {
    auto b = base;
    b[k] = std::move(v);
    return h.run("create", b);
  };
  CHECK(with("trigger_kind", "moon").error->field == "trigger_kind");
  CHECK(with("trigger_config", json::object{{"threshold", -1}}).error->field ==
        "trigger_config.threshold");
  CHECK(with("channel_ids", json::array{kChannel, kChannel}).error->field == "channel_ids");
  CHECK(with("channel_ids", json::array{"x"}).error->field == "channel_ids");
  CHECK(with("cooldown_minutes", 20000).error->field == "cooldown_minutes");
  CHECK(with("severity", "panic").error->field == "severity");
  CHECK(with("uuid", "0190a000-0000-7000-8000-0000000000ff").error->code == "wrong_stream");
  auto ok = h.run("create", base);
  REQUIRE_FALSE(ok.error);
  CHECK(ok.events[0].data.at("trigger_config") == json::object{{"threshold", 50}});
  CHECK(h.run("create", base).error->code == "rule_exists");
}

TEST_CASE("alerting: delivery attempts are numbered and end with sent or failed") {
  harness h{alert_delivery_aggregate(), alert_delivery_stream_id(kOther)};
  auto attempt = [&](int n, const char* outcome, json::object extra = {}) {
    json::object b{{"attempt", n}, {"outcome", outcome}, {"error", "connection refused"}};
    for (auto& kv : extra) b[kv.key()] = kv.value();
    return h.run("attempt", std::move(b));
  };
  CHECK(attempt(1, "retry").error->field == "next_attempt_at");
  REQUIRE_FALSE(attempt(1, "retry", {{"next_attempt_at", "2026-11-29T10:00:01Z"}}).error);
  // The same attempt recorded twice (two workers, a lost lease): the second is stale.
  CHECK(attempt(1, "sent").error->code == "stale_attempt");
  CHECK(attempt(3, "sent").error->code == "stale_attempt");
  auto sent = attempt(2, "sent");
  REQUIRE(sent.events.size() == 1);
  CHECK(sent.events[0].data.at("delivery_id") == kOther);
  CHECK(attempt(3, "retry", {{"next_attempt_at", "2026-11-29T10:00:09Z"}}).error->code ==
        "delivery_closed");
  harness test{alert_delivery_aggregate(), alert_delivery_stream_id(kChannel)};
  CHECK(test.run("attempt", {{"attempt", 1},
                             {"outcome", "retry"},
                             {"next_attempt_at", "2026-11-29T10:00:01Z"},
                             {"test", true}})
            .error->field == "test");
}

// The worker aggregate: drain and resume record an event only when the state changes, on the
// worker's own stream, with a bounded reason.
#include <doctest/doctest.h>

#include "decided.hpp"
#include "domain/aggregates.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

TEST_CASE("workers: drain and resume change state once each, on the worker's stream") {
  const auto& k = worker_aggregate();
  auto state = k.initial();
  auto stream = worker_stream_id("host-42");
  CHECK(stream != worker_stream_id("host-43"));
  auto run = [&](const char* name, json::object body) {
    auto d = k.decide(state, stream, {name, std::move(body), "test", beampipe::testing::next_id()});
    beampipe::testing::check_decided(d);
    for (auto& e : d.events) k.apply(state, e.type, e.data, "2026-12-06T00:00:00Z");
    return d;
  };
  CHECK(run("drain", {{"worker_id", "host-43"}}).error->code == "wrong_stream");
  CHECK(run("drain", {}).error->field == "worker_id");
  CHECK(run("drain", {{"worker_id", "host-42"}, {"reason", std::string(1001, 'x')}}).error->field ==
        "reason");
  CHECK(run("resume", {{"worker_id", "host-42"}}).events.empty());  // not drained: nothing to do
  auto drained = run("drain", {{"worker_id", "host-42"}, {"reason", "kernel upgrade"}});
  REQUIRE_FALSE(drained.error);
  REQUIRE(drained.events.size() == 1);
  CHECK(drained.events[0].type == "WorkerDrained");
  CHECK(drained.events[0].data.at("reason") == "kernel upgrade");
  CHECK(run("drain", {{"worker_id", "host-42"}}).events.empty());  // already drained
  auto resumed = run("resume", {{"worker_id", "host-42"}});
  REQUIRE(resumed.events.size() == 1);
  CHECK(resumed.events[0].type == "WorkerResumed");
  CHECK(run("drain", {{"worker_id", "host-42"}}).events.size() == 1);  // drained again
}

TEST_CASE("maintenance: a provenance purge is recorded with its time, never one in the future") {
  const auto& k = maintenance_aggregate();
  auto state = k.initial();
  auto run = [&](json::object body) {
    auto d = k.decide(state, kMaintenanceStream,
                      {"purge_provenance", std::move(body), "test", beampipe::testing::next_id()});
    beampipe::testing::check_decided(d);
    return d;
  };
  const char* now = "2026-12-06T12:00:00Z";
  CHECK(run({{"before", "yesterday"}, {"requested_at", now}}).error->field == "before");
  CHECK(run({{"before", "2026-12-07T00:00:00Z"}, {"requested_at", now}}).error->field == "before");
  CHECK(run({{"before", "2026-12-01T00:00:00Z"}}).error->field == "requested_at");
  auto d = run({{"before", "2026-12-01T00:00:00+02:00"},
                {"requested_at", now},
                {"project_module", "wallaby_hires"},
                {"reason", "one month"}});
  REQUIRE_FALSE(d.error);
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].type == "ProvenancePurged");
  CHECK(d.events[0].data.at("before") == "2026-11-30T22:00:00.000000Z");  // normalised to UTC
  CHECK(d.events[0].data.at("project_module") == "wallaby_hires");
  auto wrong = k.decide(state, "maintenance-other",
                        {"purge_provenance",
                         {{"before", "2026-12-01T00:00:00Z"}, {"requested_at", now}},
                         "test",
                         beampipe::testing::next_id()});
  CHECK(wrong.error->code == "wrong_stream");
}

// Issue #18: read models advance in groups, each under its own runner, so one slow or failing
// read model delays no other; a read waits only for the read models it names.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "domain/aggregates.hpp"
#include "events/types.hpp"
#include "pg_fixture.hpp"
#include "projections/engine.hpp"
#include "projections/read_model_names.hpp"
#include "projections/runner.hpp"
#include "store/event_store.hpp"
#include "util/ids.hpp"

using namespace beampipe;
using store::expected_version;
using wait_result = projections::projection_watch::wait_result;
namespace json = boost::json;
namespace et = beampipe::events::type;
namespace pm = beampipe::projections::model;

namespace {

events::new_event event(const std::string& type, const json::object& data) {
  return {util::uuid_v7(), type, 1, json::serialize(data), "{\"actor\":\"test\"}"};
}

events::read_position append(pqxx::connection& c, const std::string& stream,
                             const events::new_event& e) {
  auto r = store::append(c, {stream, expected_version::any_version(), {e}});
  REQUIRE(r.status == store::append_status::ok);
  return *store::read_position_of(c, r.last_position);
}

std::chrono::steady_clock::time_point in(int seconds) {
  return std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
}

}  // namespace

TEST_CASE("the read model names are the projections', and every projection has a group") {
  std::set<std::string> names;
  for (const auto& p : projections::standard_projections()) {
    names.insert(p->name());
    CHECK_FALSE(p->group().empty());
  }
  for (const char* n :
       {pm::source_registry, pm::archive_metadata, pm::execution_ledger, pm::execution_details,
        pm::provenance, pm::jobs, pm::project_configs, pm::project_wasm, pm::deployment_profiles,
        pm::users, pm::auth_sessions, pm::notification_channels, pm::alert_rules,
        pm::alert_deliveries, pm::alert_triggers, pm::worker_drains})
    CHECK_MESSAGE(names.count(n), n << " is no projection");
  CHECK(names.size() == 16);
  // The engines by group hold every projection exactly once.
  size_t held = 0;
  std::set<std::string> groups;
  for (const auto& e : projections::standard_engines_by_group()) {
    held += e->projections().size();
    groups.insert(e->group_name());
  }
  CHECK(held == names.size());
  CHECK(groups.size() > 1);
}

TEST_CASE("a read model held by a lock delays only the reads that need it") {
  auto ci = test::fresh_database();
  store::database db(ci);
  projections::projection_watch watch;
  std::vector<std::unique_ptr<projections::runner>> runners;
  for (auto& eng : projections::standard_engines_by_group())
    runners.push_back(std::make_unique<projections::runner>(db, eng, watch));
  for (auto& r : runners) r->start();
  auto c = store::connect(ci);

  auto source = [&](const std::string& ident) {
    auto uuid = domain::source_uuid("m", ident);
    return append(*c, domain::source_stream_id(uuid),
                  event(et::source_registered, {{"uuid", uuid},
                                                {"project_module", "m"},
                                                {"source_identifier", ident},
                                                {"enabled", true}}));
  };
  auto first = source("G1");
  REQUIRE(watch.wait_for(first, in(30)) == wait_result::reached);

  // Another session holds the channels table against writers: the alerting group cannot write
  // its rows. (SHARE mode takes no transaction id, so the read fence holds nothing back.)
  auto holder = store::connect(ci);
  pqxx::work held{*holder};
  held.exec("LOCK TABLE notification_channels IN SHARE MODE");
  auto channel_id = util::uuid_v7();
  append(*c, domain::kChannelRegistryStream,
         event(et::channel_created, {{"uuid", channel_id},
                                     {"name", "ops"},
                                     {"kind", "webhook"},
                                     {"config", json::object{}},
                                     {"enabled", true}}));
  auto last = source("G2");  // after the channel event

  // The sources group goes past the channel event; a read of source_registry is served.
  CHECK(watch.wait_for(last, in(30), {pm::source_registry}) == wait_result::reached);
  {
    pqxx::read_transaction tx{*c};
    CHECK(tx.exec("SELECT 1 FROM source_registry WHERE source_identifier = 'G2'").size() == 1);
  }
  // A read of the channels waits, and is told once the alerting runner reports the lock.
  CHECK(watch.wait_for(last, in(60), {pm::notification_channels}) == wait_result::stalled);
  CHECK_FALSE(watch.alive());
  CHECK(watch.failure({pm::notification_channels}).find("alerting") != std::string::npos);
  CHECK(watch.failure({pm::source_registry}).empty());
  auto behind = watch.behind(last);
  CHECK(std::find(behind.begin(), behind.end(), pm::notification_channels) != behind.end());
  CHECK(std::find(behind.begin(), behind.end(), pm::source_registry) == behind.end());
  // A read of everything is held too.
  CHECK(watch.wait_for(last, in(60)) == wait_result::stalled);
  // A name no runner reports is never reached.
  CHECK(watch.wait_for(last, std::chrono::steady_clock::now() + std::chrono::milliseconds(50),
                       {"no_such_model"}) != wait_result::reached);

  held.commit();
  // The runner retries after its failure and catches up; waits then succeed again.
  auto deadline = in(60);
  while (!watch.reached(last, {pm::notification_channels}) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(watch.wait_for(last, in(60), {pm::notification_channels}) == wait_result::reached);
  CHECK(watch.wait_for(last, in(60)) == wait_result::reached);
  CHECK(watch.failure().empty());
  {
    pqxx::read_transaction tx{*c};
    CHECK(tx.exec_params("SELECT 1 FROM notification_channels WHERE uuid = $1::uuid", channel_id)
              .size() == 1);
  }
  watch.shutdown();
  for (auto& r : runners) r->stop();
}

TEST_CASE("a registered wait wakes once: when its read models move, fail, or on shutdown") {
  projections::projection_watch watch;
  watch.add_group("sources", {pm::source_registry});
  watch.add_group("executions", {pm::execution_ledger});
  auto at = [](int64_t p) { return events::read_position{p, p}; };
  auto cps = [&](const std::string& name, int64_t p) {
    return std::vector<projections::checkpoint>{{name, at(p)}};
  };
  watch.publish("sources", cps(pm::source_registry, 5), 5);
  watch.publish("executions", cps(pm::execution_ledger, 5), 5);
  int woken = 0;
  auto wake = [&woken] { ++woken; };

  // Reached already: woken at once, nothing registered.
  CHECK(watch.notify_when({at(5), 0, {pm::source_registry}}, wake) == 0);
  CHECK(woken == 1);
  CHECK(watch.waiting() == 0);

  // Only the read models it names count.
  watch.notify_when({at(7), 0, {pm::source_registry}}, wake);
  CHECK(watch.waiting() == 1);
  watch.publish("executions", cps(pm::execution_ledger, 9), 9);
  CHECK(woken == 1);
  watch.publish("sources", cps(pm::source_registry, 7), 9);
  CHECK(woken == 2);
  CHECK(watch.waiting() == 0);
  watch.publish("sources", cps(pm::source_registry, 8), 9);
  CHECK(woken == 2);  // once

  // A failing runner it needs ends it; a position not written yet waits for the head only.
  watch.notify_when({at(20), 0, {pm::execution_ledger}}, wake);
  auto future = watch.notify_when({std::nullopt, 30, {pm::execution_ledger}}, wake);
  watch.report_failure("executions", "lock held");
  CHECK(woken == 3);
  CHECK(watch.waiting() == 1);
  watch.publish("sources", cps(pm::source_registry, 30), 30);
  CHECK(woken == 4);

  // A forgotten registration (its deadline passed) never wakes; shutdown wakes the rest.
  auto forgotten = watch.notify_when({at(50), 0, {pm::source_registry}}, wake);
  CHECK(forgotten != future);
  watch.notify_when({at(60), 0, {pm::source_registry}}, wake);
  watch.forget(forgotten);
  CHECK(watch.waiting() == 1);
  watch.shutdown();
  CHECK(woken == 5);
  CHECK(watch.waiting() == 0);
  CHECK(watch.notify_when({at(70), 0, {}}, wake) == 0);  // stopping: at once
  CHECK(woken == 6);
}

TEST_CASE("a runner spacing its steps is told at once when a read starts waiting") {
  projections::projection_watch watch;
  watch.add_group("sources", {pm::source_registry});
  auto at = [](int64_t p) { return events::read_position{p, p}; };
  watch.publish("sources", {{pm::source_registry, at(5)}}, 5);
  auto now = [] { return std::chrono::steady_clock::now(); };
  // Nobody waits: the deadline ends it (a reached target is no wait).
  CHECK_FALSE(watch.until_awaited(now()));
  CHECK(watch.wait_for(at(5), now() + std::chrono::hours(1)) == wait_result::reached);
  CHECK_FALSE(watch.until_awaited(now()));

  // A blocked wait_for: the runner's wait (an hour) ends as soon as the read waits.
  auto runner = std::async(std::launch::async,
                           [&] { return watch.until_awaited(now() + std::chrono::hours(1)); });
  auto read = std::async(std::launch::async, [&] {
    return watch.wait_for(at(6), now() + std::chrono::hours(1), {pm::source_registry});
  });
  REQUIRE(runner.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(runner.get());
  watch.publish("sources", {{pm::source_registry, at(6)}}, 6);
  REQUIRE(read.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(read.get() == wait_result::reached);
  CHECK_FALSE(watch.until_awaited(now()));  // the read is over

  // A registered (deferred) wait counts while it is registered; shutdown ends every wait.
  auto id = watch.notify_when({at(9), 0, {}}, [] {});
  CHECK(watch.until_awaited(now() + std::chrono::hours(1)));
  watch.forget(id);
  CHECK_FALSE(watch.until_awaited(now()));
  auto stopping = std::async(std::launch::async,
                             [&] { return watch.until_awaited(now() + std::chrono::hours(1)); });
  watch.shutdown();
  REQUIRE(stopping.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(stopping.get());
}

TEST_CASE("a read's position covers batches committed but not yet published") {
  projections::projection_watch watch;
  watch.add_group("sources", {pm::source_registry});
  watch.add_group("executions", {pm::execution_ledger});
  auto at = [](int64_t p) { return events::read_position{p, p}; };
  watch.publish("sources", {{pm::source_registry, at(5)}}, 5);
  watch.publish("executions", {{pm::execution_ledger, at(5)}}, 5);
  watch.committing("sources", {{pm::source_registry, at(7)}});
  // A reader may already see rows of the batch at 7; waits still count only what is published.
  CHECK(watch.applied({pm::source_registry}) == 5);
  CHECK(watch.visible({pm::source_registry}) == 7);
  CHECK(watch.visible() == 5);  // the ledger is at 5
  CHECK_FALSE(watch.reached(at(7), {pm::source_registry}));
  watch.committing("sources", {{pm::source_registry, at(6)}});  // never moves back
  CHECK(watch.visible({pm::source_registry}) == 7);
  watch.publish("sources", {{pm::source_registry, at(9)}}, 9);
  CHECK(watch.visible({pm::source_registry}) == 9);
  CHECK(watch.applied({pm::source_registry}) == 9);
}

TEST_CASE("a runner tells the watch of a batch before the batch commits") {
  auto ci = test::fresh_database();
  projections::projection_watch watch;
  std::shared_ptr<projections::engine> sources;
  for (auto& eng : projections::standard_engines_by_group())
    for (const auto& p : eng->projections())
      if (p->name() == pm::source_registry) sources = eng;
  REQUIRE(sources);
  store::database db(ci);
  projections::runner run(db, sources, watch);
  std::atomic<int64_t> seen_at_commit{-1}, applied_at_commit{-1};
  auto tell_watch = sources->committing;
  REQUIRE(tell_watch);
  sources->committing = [&](const auto& advancing) {
    tell_watch(advancing);
    seen_at_commit = watch.visible({pm::source_registry});
    applied_at_commit = watch.applied({pm::source_registry});
  };
  auto c = store::connect(ci);
  auto uuid = domain::source_uuid("m", "V1");
  auto pos = append(*c, domain::source_stream_id(uuid),
                    event(et::source_registered, {{"uuid", uuid},
                                                  {"project_module", "m"},
                                                  {"source_identifier", "V1"},
                                                  {"enabled", true}}));
  run.start();
  REQUIRE(watch.wait_for(pos, in(30), {pm::source_registry}) == wait_result::reached);
  CHECK(seen_at_commit.load() == pos.position);
  CHECK(applied_at_commit.load() < pos.position);
  watch.shutdown();
  run.stop();
}

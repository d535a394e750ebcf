// Event store benchmark, measured side by side with raw PostgreSQL in one run on a private
// cluster (synchronous_commit on, fsync on):
//   1. durable appends, 1 event per command, 16 concurrent commands over 1,000 streams, through
//      the whole actor path (registry -> aggregate -> group commit), against raw INSERTs with the
//      same concurrency (1 row per transaction, and 100 rows per transaction);
//   2. p50/p99 latency of one command under that load;
//   3. full rebuild of every projection (best of --rebuilds) against a raw ordered read of the same
//   events;
//   4. heap bytes per live source aggregate.
// Usage: beampipe_bench [--seconds N] [--dir DIR] [--rebuilds N]
#include <malloc.h>
#ifdef BEAMPIPE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "actors/runtime.hpp"
#include "domain/aggregates.hpp"
#include "projections/catch_up.hpp"
#include "projections/engine.hpp"
#include "store/db.hpp"
#include "store/embedded_pg.hpp"
#include "store/event_store.hpp"
#include "store/migrations.hpp"

using namespace beampipe;
using clk = std::chrono::steady_clock;
namespace json = boost::json;

namespace {

constexpr int kClients = 16;
constexpr int kStreams = 1000;

void result(const std::string& name, const std::string& metric, double v, const std::string& unit) {
  std::printf("RESULT\t%s\t%s\t%.3f\t%s\n", name.c_str(), metric.c_str(), v, unit.c_str());
  std::fflush(stdout);
}

std::string payload() {
  // ~500 bytes, like the shared baselines' event payload.
  json::object o{
      {"source_identifier", "HIPASSJ1313-15"}, {"sbid", "66866"}, {"note", std::string(400, 'x')}};
  return json::serialize(o);
}

double raw_appends(const std::string& ci, int batch, double seconds) {
  {
    auto c = store::connect(ci);
    pqxx::work tx{*c};
    tx.exec("DROP TABLE IF EXISTS raw_events");
    tx.exec(
        "CREATE TABLE raw_events (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "stream_id text NOT NULL, "
        "stream_version bigint NOT NULL, event_type text NOT NULL, data json NOT NULL, metadata "
        "json NOT NULL, "
        "recorded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, stream_version))");
    tx.commit();
  }
  std::atomic<long> total{0};
  auto deadline = clk::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> ts;
  auto body = payload();
  for (int t = 0; t < kClients; ++t)
    ts.emplace_back([&, t] {
      auto c = store::connect(ci);
      long v = 0;
      while (clk::now() < deadline) {
        json::array rows;
        for (int i = 0; i < batch; ++i, ++v)
          rows.push_back(
              json::object{{"s", "stream-" + std::to_string(t * 1000 + v % (kStreams / kClients))},
                           {"v", v / (kStreams / kClients) + 1}});
        pqxx::work tx{*c};
        tx.exec_params(
            "INSERT INTO raw_events (stream_id, stream_version, event_type, data, metadata) "
            "SELECT x.s, x.v, 'BenchEvent', $2::json, '{}'::json FROM json_to_recordset($1::json) "
            "AS x(s text, v bigint)",
            json::serialize(rows), body);
        tx.commit();
        total += batch;
      }
    });
  for (auto& t : ts) t.join();
  return total / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int rebuilds = 1;  // the best of this many full rebuilds is reported (and a profiler has time)
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "beampipe-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds")
      seconds = std::stod(argv[i + 1]);
    else if (a == "--dir")
      dir = argv[i + 1];
    else if (a == "--rebuilds")
      rebuilds = std::stoi(argv[i + 1]);
  }
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::remove_all(dir);
  store::embedded_pg_options eo;
  eo.data_dir = dir;
  eo.port = 5447;
  store::embedded_pg pg(eo);
  pg.start();
  auto ci = pg.conninfo();
  {
    auto c = store::connect(ci);
    store::migrate(*c);
  }
  result("ctx.clients", "count", kClients, "clients");
  result("ctx.streams", "count", kStreams, "streams");

  // 1. raw PostgreSQL, same concurrency.
  double raw_b1 = raw_appends(ci, 1, seconds);
  result("pg append b1 c16", "throughput", raw_b1, "events/s");
  double raw_b100 = raw_appends(ci, 100, seconds);
  result("pg append b100 c16", "throughput", raw_b100, "events/s");

  // 1+2. beampipe commands through the actor runtime, with one and with two group-commit writers.
  double ours = 0;
  double p99 = 0;
  for (size_t writers : {size_t(1), size_t(2)}) {
    store::database db(ci, store::db_budgets{}.set(store::db_role::appender, writers));
    actors::runtime_options ro;
    ro.node_id = "bench";
    ro.snapshot_every = 1'000'000;  // measure appends, not snapshots
    ro.append_writers = writers;
    actors::runtime rt(db, ro);
    std::vector<std::string> streams;
    for (int i = 0; i < kStreams; ++i) {
      auto ident = "HIPASSJ" + std::to_string(100000 + i);
      auto sid = domain::source_stream_id(domain::source_uuid("bench", ident));
      streams.push_back(sid);
      actors::command_request r{
          sid,
          {"register", {{"project_module", "bench"}, {"source_identifier", ident}}, "bench"},
          ""};
      if (!rt.send_sync(r).ok()) throw std::runtime_error("register failed");
    }
    std::atomic<long> done{0}, failed{0};
    std::vector<std::vector<double>> lat(kClients);
    auto deadline = clk::now() + std::chrono::duration<double>(seconds);
    std::vector<std::thread> ts;
    for (int t = 0; t < kClients; ++t)
      ts.emplace_back([&, t] {
        long i = 0;
        while (clk::now() < deadline) {
          // Each client owns its slice of the streams; every command toggles `enabled`: 1 event.
          const auto& sid =
              streams[static_cast<size_t>(t + kClients * (i % (kStreams / kClients)))];
          bool on = (i / (kStreams / kClients)) % 2 == 0;
          actors::command_request r{sid, {"update", {{"enabled", on}}, "bench"}, ""};
          auto t0 = clk::now();
          auto rep = rt.send_sync(r);
          lat[t].push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
          if (rep.result == actors::outcome::done && rep.events_appended == 1)
            ++done;
          else
            ++failed;
          ++i;
        }
      });
    for (auto& t : ts) t.join();
    std::vector<double> all;
    for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return all.empty() ? 0 : all[std::min(all.size() - 1, size_t(p * all.size()))];
    };
    auto name = "beampipe command append b1 c16 writers=" + std::to_string(writers);
    result(name, "throughput", done / seconds, "events/s");
    result(name, "failed", static_cast<double>(failed), "commands");
    result(name, "latency p50", pct(0.50), "ms");
    result(name, "latency p99", pct(0.99), "ms");
    const auto& st = rt.appender().stats();
    result(name, "events per transaction", double(st.events) / std::max<uint64_t>(1, st.batches),
           "events");
    if (done / seconds > ours) {
      ours = done / seconds;
      p99 = pct(0.99);
    }
    rt.shutdown();
  }

  // 4. memory of a live source aggregate: heap bytes in use (jemalloc's allocated bytes; in the
  // sanitizer build glibc's mallinfo2 after malloc_trim, so freed arena memory does not count)
  // per registered source, against its state's JSON size.
  double live_bytes = 0, state_bytes = 0;
  {
    constexpr int kLive = 20000;
    store::database db(ci, store::db_budgets{});
    actors::runtime_options ro;
    ro.node_id = "bench";
    actors::runtime rt(db, ro);
    auto in_use = [] {
#ifdef BEAMPIPE_JEMALLOC
      uint64_t epoch = 1;
      size_t size = sizeof(epoch);
      ::mallctl("epoch", &epoch, &size, &epoch, size);  // refreshes the statistics
      size_t allocated = 0;
      size = sizeof(allocated);
      ::mallctl("stats.allocated", &allocated, &size, nullptr, 0);
      return static_cast<double>(allocated);
#else
      ::malloc_trim(0);
      auto mi = ::mallinfo2();
      return static_cast<double>(mi.uordblks + mi.hblkhd);
#endif
    };
    // One warm-up chunk, so pools and caches that grow once are not counted per aggregate.
    auto reg = [&](int from, int to) {
      std::vector<actors::command_request> reqs;
      for (int i = from; i < to; ++i) {
        auto ident = "LIVEJ" + std::to_string(100000 + i);
        reqs.push_back(
            {domain::source_stream_id(domain::source_uuid("bench", ident)),
             {"register",
              {{"project_module", "bench"}, {"source_identifier", ident}, {"enabled", true}},
              "bench"},
             ""});
      }
      for (const auto& r : rt.send_all(std::move(reqs)))
        if (!r.ok()) throw std::runtime_error("register failed: " + r.message);
    };
    reg(0, 1000);
    auto before = in_use();
    auto live0 = rt.stats().live_aggregates;
    for (int from = 1000; from < kLive; from += 1000) reg(from, from + 1000);
    auto added = static_cast<double>(rt.stats().live_aggregates - live0);
    live_bytes = (in_use() - before) / added;
    auto c = store::connect(ci);
    pqxx::read_transaction tx{*c};
    state_bytes = tx.exec(
                        "SELECT avg(octet_length(data::text)) FROM events WHERE event_type = "
                        "'SourceRegistered' AND stream_id IN (SELECT stream_id FROM events WHERE "
                        "data->>'source_identifier' LIKE 'LIVEJ%')")[0][0]
                      .as<double>();
    result("ctx.live aggregates", "count", added, "aggregates");
    result("beampipe live source aggregate", "heap", live_bytes, "bytes");
    result("source registered event data", "size", state_bytes, "bytes");
    rt.shutdown();
  }

  // 3. rebuild vs raw ordered read.
  auto c = store::connect(ci);
  auto head = store::head_position(*c);
  result("ctx.events in store", "count", double(head), "events");
  auto t0 = clk::now();
  long rows = 0;
  {
    pqxx::read_transaction tx{*c};
    pqxx::icursorstream cur(
        tx,
        "SELECT position, tx_id::text, event_id::text, stream_id, stream_type, stream_version, "
        "event_type, schema_version, data::text, metadata::text, recorded_at FROM events "
        "ORDER BY events.tx_id, events.position",
        "rd", 2000);
    pqxx::result r;
    while (cur >> r) rows += static_cast<long>(r.size());
  }
  double raw_read = rows / std::chrono::duration<double>(clk::now() - t0).count();
  result("pg ordered read", "throughput", raw_read, "rows/s");
  // A second baseline: read in order and write one row per event (what any per-event read
  // model such as provenance must at least do), entirely inside PostgreSQL.
  {
    pqxx::work tx{*c};
    tx.exec("CREATE TABLE raw_copy (LIKE events INCLUDING DEFAULTS)");
    tx.commit();
  }
  t0 = clk::now();
  {
    pqxx::work tx{*c};
    tx.exec("SET LOCAL synchronous_commit = off");
    tx.exec(
        "INSERT INTO raw_copy OVERRIDING SYSTEM VALUE SELECT * FROM events ORDER BY events.tx_id, "
        "events.position");
    tx.commit();
  }
  double raw_copy = rows / std::chrono::duration<double>(clk::now() - t0).count();
  result("pg ordered read + insert one row per event", "throughput", raw_copy, "rows/s");
  // As `beampipe projections rebuild` does it: reset, then every group at once.
  projections::engine eng(projections::standard_projections());
  double rebuild = 0;
  for (int i = 0; i < rebuilds; ++i) {
    eng.reset(*c);
    t0 = clk::now();
    auto n = projections::catch_up_together(ci, projections::standard_engines_by_group());
    rebuild = std::max(rebuild, n / std::chrono::duration<double>(clk::now() - t0).count());
  }
  result("beampipe rebuild every projection", "throughput", rebuild, "events/s");

  std::printf(
      "\nRATIO beampipe commands / pg b1 c16      %.2fx  (goal >= 0.8x; Emmett b1 c16 was 0.23x)\n",
      ours / raw_b1);
  std::printf("RATIO beampipe commands / pg b100 c16    %.2fx\n", ours / raw_b100);
  std::printf("RATIO beampipe rebuild / pg ordered read  %.2fx  (goal >= 0.5x)\n",
              rebuild / raw_read);
  std::printf("RATIO beampipe rebuild / pg read+insert    %.2fx\n", rebuild / raw_copy);
  std::printf("command latency p99 %.1f ms (Emmett b1 c16 p99 was 34.8 ms)\n", p99);
  std::printf(
      "RATIO live source aggregate heap / its registration event's JSON  %.1fx  (%.0f bytes)\n",
      live_bytes / state_bytes, live_bytes);
  c.reset();
  pg.stop();
  std::filesystem::remove_all(dir);
  return 0;
}

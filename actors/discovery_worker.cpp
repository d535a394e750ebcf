#include "actors/discovery_worker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <mutex>
#include <set>

#include "domain/aggregates.hpp"
#include "domain/readiness.hpp"
#include "util/json.hpp"

namespace beampipe::actors {
namespace json = boost::json;

struct discovery_worker::impl {
  runtime& rt;
  std::string conninfo;
  archive_provider archives;
  discovery_worker_options opts;
  store::connection_pool pool;
  boost::asio::thread_pool workers;
  std::atomic<bool> stopping{false};
  std::thread poller;
  std::mutex mu;
  std::set<std::string> in_flight;   // request ids being run here
  std::deque<std::string> answered;  // recently answered ids, until the read model shows it
  discovery_worker* owner;

  impl(runtime& r, std::string ci, archive_provider a, discovery_worker_options o,
       discovery_worker* w)
      : rt(r),
        conninfo(std::move(ci)),
        archives(std::move(a)),
        opts(o),
        pool(conninfo, o.concurrency + 1, "beampipe-discovery"),
        workers(o.concurrency),
        owner(w) {}

  struct request {
    std::string source_uuid, project_module, source_identifier, request_id;
    bool enabled;
    std::string signature, last_executed;
  };

  void poll_loop() {
    while (!stopping) {
      try {
        std::vector<request> due;
        store::with_connection(pool, [&](pqxx::connection& c) {
          pqxx::read_transaction tx{c};
          auto r = tx.exec_params(
              "SELECT uuid::text, project_module, source_identifier, discovery_request_id::text, "
              "enabled, "
              "coalesce(discovery_signature, ''), coalesce(last_executed_discovery_signature, '') "
              "FROM source_registry WHERE discovery_request_id IS NOT NULL AND NOT deleted "
              "ORDER BY discovery_requested_at LIMIT $1",
              static_cast<int64_t>(opts.concurrency * 4));
          for (const auto& row : r)
            due.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                           row[2].as<std::string>(), row[3].as<std::string>(), row[4].as<bool>(),
                           row[5].as<std::string>(), row[6].as<std::string>()});
        });
        for (auto& q : due) {
          {
            std::lock_guard lk(mu);
            if (in_flight.size() >= opts.concurrency) break;
            if (in_flight.count(q.request_id) ||
                std::find(answered.begin(), answered.end(), q.request_id) != answered.end())
              continue;
            in_flight.insert(q.request_id);
          }
          boost::asio::post(workers, [this, q] { run_one(q); });
        }
      } catch (const std::exception& e) {
        spdlog::warn("discovery poll failed: {}", e.what());
      }
      std::this_thread::sleep_for(opts.poll);
    }
  }

  // True when the request is settled: answered, or already answered by someone else.
  bool answer(const request& q, const std::string& command, json::object body) {
    body["request_id"] = q.request_id;
    command_request cr;
    cr.stream_id = domain::source_stream_id(q.source_uuid);
    cr.cmd.name = command;
    cr.cmd.body = std::move(body);
    cr.cmd.actor = "system:discovery";
    cr.correlation_id = q.request_id;
    auto r = rt.send_sync(std::move(cr));
    if (r.status >= 400 && r.code != "stale_discovery") {
      spdlog::warn("discovery answer for {} refused: {} {}", q.source_identifier, r.status,
                   r.message);
      return false;
    }
    return true;
  }

  void run_one(const request& q) {
    bool settled = false;
    try {
      settled = run_discovery_for(q);
    } catch (const std::exception& e) {
      // Whatever went wrong stays with this source.
      spdlog::error("discovery of {} failed: {}", q.source_identifier, e.what());
      try {
        settled =
            answer(q, "fail_discovery",
                   {{"error", std::string("internal error: ") + e.what()}, {"retryable", true}});
        owner->failed_++;
      } catch (...) {
      }
    }
    std::lock_guard lk(mu);
    in_flight.erase(q.request_id);
    // An unsettled request (the store refused the answer) is picked up again next poll.
    if (settled) answered.push_back(q.request_id);
    if (answered.size() > 4096) answered.pop_front();
  }

  bool run_discovery_for(const request& q) {
    std::optional<domain::ProjectConfig> config;
    std::map<std::string, json::value> stored;
    store::with_connection(pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      auto r =
          tx.exec_params("SELECT spec::text FROM project_configs WHERE project_id = $1 AND active",
                         q.project_module);
      if (!r.empty()) config = domain::parse_project_config(json::parse(r[0][0].c_str())).config;
      auto m = tx.exec_params(
          "SELECT sbid, metadata_json::text FROM archive_metadata WHERE source_uuid = $1::uuid",
          q.source_uuid);
      for (const auto& row : m) stored[row[0].as<std::string>()] = json::parse(row[1].c_str());
    });
    if (!config) {
      owner->failed_++;
      return answer(q, "fail_discovery",
                    {{"error", "project '" + q.project_module + "' has no active config"},
                     {"retryable", false}});
    }
    auto binding = archives(*config);
    auto t0 = std::chrono::steady_clock::now();
    auto result =
        domain::run_discovery(*config, q.source_identifier, q.signature, stored, binding.query);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    for (const auto& w : result.warnings)
      spdlog::warn("discovery of {}: {}", q.source_identifier, w);
    if (result.outcome == domain::discovery_run_result::kind::failed) {
      owner->failed_++;
      return answer(q, "fail_discovery",
                    {{"error", result.failure->message},
                     {"retryable", result.failure->retryable},
                     {"duration_ms", ms}});
    }
    const char* outcome = result.outcome == domain::discovery_run_result::kind::changed ? "changed"
                          : result.outcome == domain::discovery_run_result::kind::unchanged
                              ? "unchanged"
                              : "no_datasets";
    // Readiness of the source as it will be once this result is recorded.
    domain::SourceReadinessState st;
    st.enabled = q.enabled;
    st.last_checked_at_set = true;
    st.discovery_signature = result.signature;
    st.last_executed_discovery_signature = q.last_executed;
    st.metadata_rows = result.rows.empty() ? stored : result.rows;
    bool ready = !domain::source_readiness_error(q.source_identifier, st).has_value();
    json::object rows;
    for (auto& [sbid, v] : result.rows) rows[sbid] = v;
    json::array deletes;
    for (auto& s : result.delete_sbids) deletes.push_back(json::value(s));
    json::array warnings;
    for (auto& w : result.warnings) warnings.push_back(json::value(w));
    bool settled = answer(q, "complete_discovery",
                          {{"outcome", outcome},
                           {"signature", result.signature},
                           {"rows", std::move(rows)},
                           {"delete_sbids", std::move(deletes)},
                           {"flags", result.flags},
                           {"datasets", result.datasets},
                           {"truncated", result.truncated},
                           {"warnings", std::move(warnings)},
                           {"ready", ready}});
    owner->completed_++;
    spdlog::info("discovered {} ({}, {} datasets, {} ms, archive {})", q.source_identifier, outcome,
                 result.datasets, ms, binding.description);
    return settled;
  }
};

discovery_worker::discovery_worker(runtime& rt, std::string conninfo, archive_provider archives,
                                   discovery_worker_options opts)
    : impl_(std::make_unique<impl>(rt, std::move(conninfo), std::move(archives), opts, this)) {}

discovery_worker::~discovery_worker() { stop(); }

void discovery_worker::start() {
  impl_->poller = std::thread([this] { impl_->poll_loop(); });
}

void discovery_worker::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  if (impl_->poller.joinable()) impl_->poller.join();
  impl_->workers.join();
}

}  // namespace beampipe::actors

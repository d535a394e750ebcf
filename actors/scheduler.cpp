#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "domain/aggregates.hpp"
#include "store/database.hpp"
#include "store/leases.hpp"

namespace beampipe::actors {
namespace json = boost::json;
using clock = std::chrono::steady_clock;

namespace {
constexpr const char* kLeaseName = "scheduler";
}

struct scheduler::impl {
  runtime& rt;
  store::database& db;
  scheduler_options opts;
  tick_function tick;
  std::thread loop;
  std::atomic<bool> stopping{false}, is_leader{false};
  std::mutex mu;
  std::condition_variable cv;

  impl(runtime& r, store::database& d, scheduler_options o, tick_function t)
      : rt(r), db(d), opts(o), tick(std::move(t)) {}

  void run() {
    store::database::dedicated conn;
    int64_t token = 0;
    auto next_tick = clock::now();
    // Renew well inside the TTL so a healthy leader never lapses.
    auto beat = std::max(std::chrono::milliseconds(50), opts.lease_ttl / 3);
    while (!stopping) {
      try {
        if (!conn) conn = db.connect(store::db_role::scheduler);
        auto lease = store::acquire_lease(*conn, kLeaseName, rt.node_id(), opts.lease_ttl);
        if (lease && !is_leader) {
          spdlog::info("scheduler: {} leads (lease token {})", rt.node_id(), lease->token);
          next_tick = clock::now();  // first tick right away
        } else if (!lease && is_leader) {
          spdlog::warn("scheduler: {} lost the lease", rt.node_id());
        }
        is_leader = lease.has_value();
        token = lease ? lease->token : 0;
        if (is_leader && clock::now() >= next_tick) {
          next_tick = clock::now() + opts.interval;
          run_tick(token);
        }
      } catch (const std::exception& e) {
        spdlog::warn("scheduler: {}", e.what());
        conn.reset();
        is_leader = false;
      }
      // Wake for the next renewal, or the next tick when that comes first.
      auto wait = beat;
      if (is_leader) {
        auto until_tick =
            std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - clock::now());
        wait = std::clamp(until_tick, std::chrono::milliseconds(10), beat);
      }
      std::unique_lock lk(mu);
      cv.wait_for(lk, wait, [&] { return stopping.load(); });
    }
    if (conn && is_leader) {
      try {
        store::release_lease(*conn, kLeaseName, rt.node_id(),
                             token);  // a clean stop hands over at once
      } catch (...) {
      }
    }
  }

  void run_tick(int64_t token) {
    json::object summary = tick ? tick(token) : json::object{};
    command_request cr;
    cr.stream_id = domain::kSchedulerStream;
    cr.cmd = {"tick", std::move(summary), "system:scheduler"};
    cr.cmd.body["lease_token"] = token;
    cr.cmd.body["node"] = rt.node_id();
    auto r = rt.send_sync(std::move(cr));
    if (r.code == "fenced") {
      spdlog::warn("scheduler: tick refused, {}", r.message);
      is_leader = false;
    } else if (!r.ok()) {
      spdlog::warn("scheduler: tick not recorded: {}", r.message);
    }
  }
};

scheduler::scheduler(runtime& rt, store::database& db, scheduler_options opts, tick_function tick)
    : impl_(std::make_unique<impl>(rt, db, opts, std::move(tick))) {}

scheduler::~scheduler() { stop(); }

void scheduler::start() {
  impl_->loop = std::thread([this] { impl_->run(); });
}

void scheduler::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  impl_->cv.notify_all();
  if (impl_->loop.joinable()) impl_->loop.join();
}

bool scheduler::leading() const { return impl_->is_leader; }

}  // namespace beampipe::actors

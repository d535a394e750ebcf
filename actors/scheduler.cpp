// The scheduler façade: production ports (a dedicated lease connection, the admission tick)
// for the actor of scheduler_actor.cpp, spawned in the runtime's actor system.
#include "actors/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>

#include "actors/protocol.hpp"
#include "projections/workers/queries.hpp"
#include "store/database.hpp"
#include "store/leases.hpp"

namespace beampipe::actors {

namespace {
constexpr const char* kLeaseName = "scheduler";
}  // namespace

struct scheduler::impl {
  runtime& rt;
  store::database& db;
  scheduler_options opts;
  tick_function tick;
  store::database::dedicated conn;  // only the one lease call out touches it
  std::shared_ptr<std::atomic<bool>> leading = std::make_shared<std::atomic<bool>>(false);
  std::promise<void> ended;
  scheduler_actor actor;
  // One lease call and one tick at a time, on their own threads: a long tick never holds up
  // a renewal nor an aggregate's recovery. Declared last: joined before `conn` goes.
  boost::asio::thread_pool work{2};

  impl(runtime& r, store::database& d, scheduler_options o, tick_function t)
      : rt(r), db(d), opts(o), tick(std::move(t)) {}

  // A drained node neither takes nor keeps the lead: it lets the lease go at once, so a
  // standby leads on its next beat instead of after the lease's expiry.
  bool drained() {
    bool yes = [&] {
      pqxx::nontransaction tx{*conn};
      return projections::workers::draining(tx, rt.node_id());
    }();
    if (yes)
      if (auto held = store::read_lease(*conn, kLeaseName); held && held->owner == rt.node_id())
        store::release_lease(*conn, kLeaseName, rt.node_id(), held->token);
    return yes;
  }

  scheduler_ports ports() {
    scheduler_ports p;
    p.hold_lease = [this]() -> int64_t {
      try {
        if (!conn) conn = db.connect(store::db_role::scheduler);
        // Clustered: the holder of the scheduler stream's shard leads (issue #23).
        if (drained() || !rt.holds(domain::kSchedulerStream)) return 0;
        auto lease = store::acquire_lease(*conn, kLeaseName, rt.node_id(), opts.lease_ttl);
        return lease ? lease->token : 0;
      } catch (...) {
        conn.reset();  // a broken connection is opened afresh on the next beat
        throw;
      }
    };
    p.release_lease = [this](int64_t token) {
      if (conn) store::release_lease(*conn, kLeaseName, rt.node_id(), token);
    };
    p.tick = tick;
    p.run_blocking = [this](std::function<void()> job) { boost::asio::post(work, std::move(job)); };
    return p;
  }
};

scheduler::scheduler(runtime& rt, store::database& db, scheduler_options opts, tick_function tick)
    : impl_(std::make_unique<impl>(rt, db, opts, std::move(tick))) {}

scheduler::~scheduler() { stop(); }

void scheduler::start() {
  auto& sys = runtime_access::system(impl_->rt);
  impl_->actor = spawn_scheduler(sys, runtime_access::registry(impl_->rt), impl_->rt.node_id(),
                                 impl_->opts, impl_->ports(), impl_->leading);
  impl_->actor->attach_functor([i = impl_.get()] { i->ended.set_value(); });
}

void scheduler::stop() {
  if (!impl_ || !impl_->actor) return;
  stop_within(std::exchange(impl_->actor, nullptr), impl_->ended.get_future(), kStopGrace,
              "scheduler");
  impl_->work.join();
}

bool scheduler::leading() const { return impl_->leading->load(); }

}  // namespace beampipe::actors

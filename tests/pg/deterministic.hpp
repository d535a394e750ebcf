#pragma once
// The actors under CAF's test coordinator (scheduler.policy = testing): messages run one at a
// time in an order the test chooses, so interleavings that real threads only hit by chance
// are pinned. Recovery and appends still go to a real PostgreSQL off CAF's threads; their
// answers are ordinary messages the test runs.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <thread>

#include "actors/protocol.hpp"
#include "pg_fixture.hpp"
#include "test_commands.hpp"

namespace beampipe::test {

inline caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.add_error_category(actors::kCommandErrorCategory, actors::render_command_error);
  return cfg;
}

struct deterministic {
  std::string ci = test::fresh_database();
  store::database db{ci};
  store::connection_pool& pool{db.pool(store::db_role::aggregates)};
  store::group_appender appender{db, 64, 1};
  boost::asio::thread_pool blocking{1};
  actors::shared_ctx ctx;
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched{
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())};
  caf::scoped_actor self{sys, true};
  actors::registry_actor registry;

  deterministic() {
    ctx.opts.node_id = "test-node";
    ctx.opts.idle_after = std::chrono::minutes(5);
    ctx.append = [this](store::append_request req, store::group_appender::callback cb) {
      appender.submit(std::move(req), std::move(cb));
    };
    ctx.pool = &pool;
    ctx.blocking = &blocking;
    registry = actors::spawn_registry(sys, &ctx);
    sched.run();
  }
  ~deterministic() {
    self->send(registry, actors::stop_atom::value);
    sched.run();
    blocking.join();
    appender.stop();
  }

  // Runs messages until `done()`; recovery and appends answer from other threads, so this
  // also waits (bounded) for their messages to arrive.
  template <class Done>
  bool run_until(Done done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (!sched.run()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
};

// A request whose answer is collected when the test runs the messages.
struct asked {
  std::optional<actors::command_reply> reply;
};

inline std::shared_ptr<asked> ask(deterministic& d, actors::command_request req) {
  auto out = std::make_shared<asked>();
  d.sys.spawn(
      [out, req = std::move(req)](caf::event_based_actor* self,
                                  actors::registry_actor registry) mutable {
        self->request(registry, caf::infinite, actors::cmd_atom::value, std::move(req))
            .then([out](actors::command_reply& r) { out->reply = std::move(r); },
                  [out](caf::error& e) { out->reply = actors::reply_of(e); });
      },
      d.registry);
  return out;
}

}  // namespace beampipe::test

// The registry and aggregate protocol under CAF's test coordinator (scheduler.policy =
// testing): messages run one at a time in an order the test chooses, so interleavings that
// real threads only hit by chance are pinned. Recovery and appends still go to a real
// PostgreSQL off CAF's threads; their answers are ordinary messages the test runs.
#include <doctest/doctest.h>

#include <thread>

#include "actors/protocol.hpp"
#include "domain/aggregates.hpp"
#include "pg_fixture.hpp"
#include "store/event_store.hpp"
#include "test_commands.hpp"

using namespace beampipe;
using actors::outcome;
namespace json = boost::json;

namespace {

caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
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
    ctx.appender = &appender;
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

std::shared_ptr<asked> ask(deterministic& d, actors::command_request req) {
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

json::object reg(const std::string& ident) {
  return {{"project_module", "wallaby_hires"}, {"source_identifier", ident}, {"enabled", true}};
}

// Registers source `ident` and runs until it is recorded; returns its stream.
std::string registered(deterministic& d, const std::string& ident) {
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", ident));
  auto first = ask(d, test::command(sid, "register", reg(ident)));
  REQUIRE(d.run_until([&] { return first->reply.has_value(); }));
  REQUIRE(first->reply->result == outcome::created);
  return sid;
}

}  // namespace

TEST_CASE_FIXTURE(deterministic,
                  "passivation never drops a command: an idle report after a routed command") {
  auto sid = registered(*this, "DET1");
  REQUIRE(ctx.live.load() == 1);

  // The command reaches the registry first, the aggregate's idle report right after: the
  // registry counts the command in flight and keeps the actor.
  auto second = ask(*this, test::command(sid, "update", {{"stale_after_hours", 12}}));
  sched.run_once();  // the requester sends
  self->send(registry, actors::idle_atom::value, sid);
  REQUIRE(run_until([&] { return second->reply.has_value(); }));
  CHECK(second->reply->result == outcome::done);
  CHECK(second->reply->events_appended == 1);
  CHECK(ctx.live.load() == 1);
  CHECK(ctx.recoveries.load() == 1);  // the same actor, never reloaded
}

TEST_CASE_FIXTURE(deterministic,
                  "passivation never drops a command: an idle report before a routed command") {
  auto sid = registered(*this, "DET2");

  // The idle report first: the actor is stopped; the command after it gets a fresh actor that
  // recovers from the store and decides on the recovered state.
  self->send(registry, actors::idle_atom::value, sid);
  auto second = ask(*this, test::command(sid, "update", {{"stale_after_hours", 12}}));
  REQUIRE(run_until([&] { return second->reply.has_value(); }));
  CHECK(second->reply->result == outcome::done);
  CHECK(second->reply->events_appended == 1);
  CHECK(second->reply->version == 2);
  CHECK(ctx.recoveries.load() == 2);
  auto c = store::connect(ci);
  CHECK(store::read_stream(*c, sid).size() == 2);
}

TEST_CASE_FIXTURE(deterministic, "commands to one stream are decided one at a time, in order") {
  auto sid = domain::source_stream_id(domain::source_uuid("wallaby_hires", "DET3"));
  // Three commands queued before the actor has even loaded: each is decided on the state the
  // one before it left (the second register changes nothing; delete then deletes).
  auto a = ask(*this, test::command(sid, "register", reg("DET3")));
  auto b = ask(*this, test::command(sid, "register", reg("DET3")));
  auto c = ask(*this, test::command(sid, "delete", {}));
  REQUIRE(run_until([&] { return a->reply && b->reply && c->reply; }));
  CHECK(a->reply->result == outcome::created);
  CHECK(b->reply->events_appended == 0);
  CHECK(c->reply->events_appended == 1);
  CHECK(c->reply->version == 2);
}

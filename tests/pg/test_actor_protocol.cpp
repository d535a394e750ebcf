// The registry and aggregate protocol under CAF's test coordinator (deterministic.hpp).
#include <doctest/doctest.h>

#include "deterministic.hpp"
#include "domain/aggregates.hpp"
#include "store/event_store.hpp"

using namespace beampipe;
using actors::outcome;
using test::ask;
using test::deterministic;
namespace json = boost::json;

namespace {

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

TEST_CASE_FIXTURE(deterministic,
                  "a commit whose answer was lost is sent again with the same event ids, and "
                  "the store answers it once") {
  auto sid = registered(*this, "DET4");
  // The next append commits, but its answer is lost (as when the connection drops after the
  // COMMIT): the actor hears commit_unknown.
  std::vector<store::append_request> sent;  // (on the test's thread: the actor calls it)
  std::atomic<bool> lose_answer{true}, lost{false};
  auto real_append = ctx.append;
  ctx.append = [&](store::append_request req, store::group_appender::callback cb) {
    sent.push_back(req);
    appender.submit(std::move(req), [&lose_answer, &lost, cb](store::append_result r) {
      bool lose = lose_answer.exchange(false);
      if (lose) {
        r = {};
        r.status = store::append_status::error;
        r.error_code = store::store_errc::commit_unknown;
        r.message = "connection lost during COMMIT";
      }
      cb(std::move(r));
      if (lose) lost = true;
    });
  };
  auto update = ask(*this, test::command(sid, "update", {{"stale_after_hours", 12}}));
  REQUIRE(run_until([&] { return lost.load() && !sched.has_job(); }));
  CHECK(sent.size() == 1);
  CHECK_FALSE(update->reply.has_value());  // not answered: the outcome is unknown yet

  sched.advance_time(std::chrono::milliseconds(100));  // the backoff before sending again
  REQUIRE(run_until([&] { return update->reply.has_value(); }));
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].events == sent[0].events);  // the same ids, the same content
  CHECK(update->reply->result == outcome::done);
  CHECK(update->reply->version == 2);
  auto c = store::connect(ci);
  CHECK(store::read_stream(*c, sid).size() == 2);  // stored once
  ctx.append = real_append;                        // nothing of this test's is used past it
}

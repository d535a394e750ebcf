// The registry: one aggregate actor per stream, spawned on the first command and passivated
// when idle with nothing in flight.
#include <unordered_map>

#include "actors/protocol.hpp"
#include "events/catalog.hpp"

namespace beampipe::actors {
namespace {

struct route {
  aggregate_actor actor;
  size_t in_flight = 0;
  uint64_t touched = 0;  // the sweep epoch of its last command or answer
};

// Idle aggregates are found by one sweep over the routes every half idle period, not by a
// timer in each aggregate (a pending timer message per live aggregate is memory, and waking
// every one of them is work). A route untouched for three sweeps has been idle at least one
// full period.
constexpr uint64_t kIdleSweeps = 3;
std::chrono::milliseconds sweep_interval(const shared_ctx* ctx) {
  return std::max(std::chrono::milliseconds(10), ctx->opts.idle_after / 2);
}

struct registry_state {
  static inline const char* name = "registry";
  // Not an aggregate: CAF constructs a state from the actor pointer when it can, and C++20
  // would let that pointer initialise the first member.
  registry_state() = default;
  std::unordered_map<std::string, route> routes;
  uint64_t epoch = 0;  // idle sweeps so far
};

void stop_route(registry_actor::stateful_pointer<registry_state> self,
                std::unordered_map<std::string, route>::iterator it) {
  // No down message for an actor stopped on purpose: the down handler looks for its route by
  // scanning them all, which mass passivation of many live aggregates must not pay per actor.
  self->demonitor(it->second.actor.address());
  self->send_exit(it->second.actor, caf::exit_reason::user_shutdown);
  self->state.routes.erase(it);
}

registry_actor::behavior_type registry(registry_actor::stateful_pointer<registry_state> self,
                                       shared_ctx* ctx) {
  // An aggregate that dies (e.g. an exception in a handler) is forgotten, so the next
  // command spawns a fresh one that recovers from the store.
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& routes = self->state.routes;
    for (auto it = routes.begin(); it != routes.end(); ++it)
      if (it->second.actor.address() == dm.source) return void(routes.erase(it));
  });
  self->delayed_send(self, sweep_interval(ctx), idle_atom::value);
  return {
      [self, ctx](cmd_atom, command_request& req) -> caf::result<command_reply> {
        auto kind = domain::aggregate_for_stream_type(events::stream_type_of(req.stream_id));
        if (!kind) {
          command_reply r;
          r.result = outcome::invalid;
          r.code = "unknown_stream_type";
          r.message = "no aggregate for stream " + req.stream_id;
          return command_error_of(r);
        }
        auto& rt = self->state.routes[req.stream_id];
        rt.touched = self->state.epoch;
        if (!rt.actor) {
          rt.actor = spawn_aggregate(self, ctx, kind, req.stream_id,
                                     caf::actor_cast<registry_actor>(self));
          self->monitor(rt.actor);
        }
        rt.in_flight++;
        // The aggregate answers the caller itself.
        return self->delegate(rt.actor, cmd_atom::value, std::move(req));
      },
      [self](done_atom, const std::string& sid) {
        auto it = self->state.routes.find(sid);
        if (it == self->state.routes.end()) return;
        if (it->second.in_flight > 0) it->second.in_flight--;
        it->second.touched = self->state.epoch;
      },
      [self, ctx](idle_atom) {
        auto& st = self->state;
        ++st.epoch;
        for (auto it = st.routes.begin(); it != st.routes.end();) {
          auto next = std::next(it);
          if (it->second.in_flight == 0 && st.epoch - it->second.touched >= kIdleSweeps)
            stop_route(self, it);
          it = next;
        }
        self->delayed_send(self, sweep_interval(ctx), idle_atom::value);
      },
      // Passivation: only when nothing is routed to the actor, so no command is lost in its
      // mailbox.
      [self](idle_atom, const std::string& sid) {
        auto it = self->state.routes.find(sid);
        if (it != self->state.routes.end() && it->second.in_flight == 0) stop_route(self, it);
      },
      [self](stop_atom, const std::string& sid) {
        auto it = self->state.routes.find(sid);
        if (it == self->state.routes.end()) return;
        if (it->second.in_flight == 0)
          stop_route(self, it);
        else
          self->delayed_send(self, std::chrono::milliseconds(5), stop_atom::value, sid);
      },
      [ctx](hello_atom, const std::string& node, const std::string& addr,
            caf::strong_actor_ptr peer) {
        if (ctx->peer_hello && peer) ctx->peer_hello(node, addr, std::move(peer));
      },
      [self](stop_atom) {
        for (auto& [sid, rt] : self->state.routes)
          self->send_exit(rt.actor, caf::exit_reason::user_shutdown);
        self->state.routes.clear();
        self->quit();
      },
  };
}

}  // namespace

registry_actor spawn_registry(caf::actor_system& sys, shared_ctx* ctx) {
  return sys.spawn(registry, ctx);
}

}  // namespace beampipe::actors

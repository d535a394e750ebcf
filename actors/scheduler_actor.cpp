// The scheduler's behaviour. All its timing is delayed messages (the renewal beat, the tick
// interval), so the test coordinator can run it step by step; everything that blocks goes
// through the ports' run_blocking and answers as a message.
#include <spdlog/spdlog.h>

#include <chrono>

#include "actors/protocol.hpp"
#include "domain/aggregates.hpp"

namespace beampipe::actors {
namespace json = boost::json;
namespace {

struct scheduler_state {
  static inline const char* name = "scheduler";
  // Not an aggregate: CAF constructs a state from the actor pointer when it can, and C++20
  // would let that pointer initialise the first member.
  scheduler_state() = default;
  int64_t token = 0;        // the lease token held; 0 while standing by
  uint64_t term = 0;        // leaderships won; a tick timer belongs to one
  bool lease_busy = false;  // a lease call is out
  bool tick_busy = false;   // a tick, or its record, is out
  bool tick_due = false;    // the interval ended while a tick was out
  bool stopping = false;
};

using self_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

scheduler_actor::behavior_type scheduling(self_ptr self, registry_actor registry, std::string node,
                                          scheduler_options opts, scheduler_ports ports_in,
                                          std::shared_ptr<std::atomic<bool>> leading) {
  auto ports = std::make_shared<scheduler_ports>(std::move(ports_in));
  self->attach_functor([leading] { leading->store(false); });
  auto me = [self] { return caf::actor_cast<scheduler_actor>(self); };
  auto set_token = [self, leading](int64_t t) {
    self->state.token = t;
    leading->store(t != 0);
  };

  // Ends the actor once nothing is out; a held lease is released first, so a standby takes
  // over at once instead of after the TTL.
  auto finish = [self, ports, me] {
    auto& s = self->state;
    if (!s.stopping || s.lease_busy || s.tick_busy) return;
    if (s.token == 0) return self->quit();
    s.lease_busy = true;
    ports->run_blocking([ports, h = me(), token = s.token] {
      try {
        ports->release_lease(token);
      } catch (const std::exception& e) {
        spdlog::warn("scheduler: releasing the lease: {}", e.what());
      }
      caf::anon_send(h, released_atom::value);
    });
  };

  // A tick is over (recorded, refused or failed): the next one, or the end of a stop.
  auto tick_over = [self, finish] {
    auto& s = self->state;
    s.tick_busy = false;
    if (s.stopping) return finish();
    if (s.tick_due) {
      s.tick_due = false;
      self->send(self, tick_atom::value, s.term);
    }
  };

  self->send(self, beat_atom::value);
  return {
      [self, ports, me](beat_atom) {
        auto& s = self->state;
        if (s.stopping || s.lease_busy) return;
        s.lease_busy = true;
        ports->run_blocking([ports, h = me()] {
          int64_t token = 0;
          std::string error;
          try {
            token = ports->hold_lease();
          } catch (const std::exception& e) {
            error = *e.what() ? e.what() : "the lease call failed";
          }
          caf::anon_send(h, lease_atom::value, token, std::move(error));
        });
      },
      [self, node, opts, set_token, finish](lease_atom, int64_t token, std::string& error) {
        auto& s = self->state;
        s.lease_busy = false;
        if (!error.empty()) {
          // Unknown whether the lease still holds: stand by rather than tick twice.
          spdlog::warn("scheduler: {}", error);
          token = 0;
        }
        bool won = token != 0 && token != s.token;
        if (won) {
          s.term++;
          spdlog::info("scheduler: {} leads (lease token {})", node, token);
        } else if (token == 0 && s.token != 0) {
          spdlog::warn("scheduler: {} lost the lease", node);
        }
        set_token(token);
        if (s.stopping) return finish();
        if (won) self->send(self, tick_atom::value, s.term);
        self->delayed_send(self, opts.renew_every(), beat_atom::value);
      },
      [self, ports, opts, me](tick_atom, uint64_t term) {
        auto& s = self->state;
        if (s.stopping || s.token == 0 || term != s.term) return;  // an earlier term's timer
        if (s.tick_busy) {
          s.tick_due = true;  // overran the interval: the next starts when this one ends
          return;
        }
        s.tick_busy = true;
        self->delayed_send(self, opts.interval, tick_atom::value, term);
        ports->run_blocking([ports, h = me(), term, token = s.token] {
          tick_done d{term, token, {}, {}};
          auto started = std::chrono::steady_clock::now();
          try {
            if (ports->tick) d.summary = ports->tick(token);
          } catch (const std::exception& e) {
            d.error = *e.what() ? e.what() : "the tick failed";
          }
          d.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
          caf::anon_send(h, std::move(d));
        });
      },
      [self, registry, node, opts, set_token, tick_over](tick_done& d) {
        if (!d.error.empty()) {
          spdlog::warn("scheduler: tick failed: {}", d.error);
          return tick_over();
        }
        command_request cr;
        cr.stream_id = domain::kSchedulerStream;
        cr.cmd = {"tick", std::move(d.summary), "system:scheduler"};
        cr.cmd.body["lease_token"] = d.token;
        cr.cmd.body["node"] = node;
        cr.cmd.body["duration_ms"] = d.duration_ms;
        self->request(registry, opts.record_timeout, cmd_atom::value, std::move(cr))
            .then([tick_over](command_reply&) { tick_over(); },
                  [self, set_token, tick_over, term = d.term](caf::error& e) {
                    auto r = reply_of(e);
                    if (r.code == "fenced") {
                      // Another node recorded a newer token: this leadership is over, even if
                      // the lease table has not said so yet.
                      spdlog::warn("scheduler: tick refused, {}", r.message);
                      if (self->state.term == term) set_token(0);
                    } else {
                      spdlog::warn("scheduler: tick not recorded: {}", r.message);
                    }
                    tick_over();
                  });
      },
      [self, set_token](released_atom) {
        set_token(0);
        self->quit();
      },
      [self, finish](stop_atom) {
        self->state.stopping = true;
        finish();
      },
  };
}

}  // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, registry_actor registry, std::string node,
                                scheduler_options opts, scheduler_ports ports,
                                std::shared_ptr<std::atomic<bool>> leading) {
  return sys.spawn(scheduling, std::move(registry), std::move(node), opts, std::move(ports),
                   std::move(leading));
}

}  // namespace beampipe::actors

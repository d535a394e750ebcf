#include "actors/execution_run.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <set>
#include <unordered_map>

#include "actors/work_loop.hpp"
#include "domain/aggregates.hpp"

namespace beampipe::actors {
namespace {

// ------------------------------------------------------------------ one run

struct run_state {
  // Not an aggregate: CAF constructs a state from the actor pointer when it can.
  run_state() = default;
  static inline const char* name = "execution_run";
  run_memory memory;
  bool busy = false;  // a step is out (the coordinator sends nothing meanwhile)
  caf::actor_clock::time_point next_lookup{}, next_cancel{};
};

using run_ptr = execution_run_actor::stateful_pointer<run_state>;

execution_run_actor::behavior_type execution_run(run_ptr self, run_steps* steps, std::string id,
                                                 int64_t seen_version,
                                                 executions_actor coordinator) {
  self->state.memory.id = std::move(id);
  self->state.memory.seen_version = seen_version;
  auto idle = [self, coordinator] {
    const auto& m = self->state.memory;
    self->send(coordinator, idle_atom::value, m.id, m.finished, m.seen_version);
  };
  // Runs `step` on the steps' threads with a copy of the memory, which comes back with the
  // step's end.
  auto start = [self, steps](std::function<void(run_steps&, run_memory&)> step) {
    self->state.busy = true;
    steps->run_blocking([steps, h = caf::actor_cast<execution_run_actor>(self),
                         m = self->state.memory, step = std::move(step)]() mutable {
      try {
        step(*steps, m);
      } catch (const std::exception& e) {
        spdlog::error("execution {}: {}", m.id, e.what());
      }
      caf::anon_send(h, step_atom::value, std::move(m));
    });
  };
  return {
      [self, steps, idle, start](work_atom, work_row& row) {
        auto& s = self->state;
        if (s.busy) return;  // one step at a time; the next scan asks again
        if (!row.correlation_id.empty()) s.memory.correlation = row.correlation_id;
        // The read model has not caught up with what this process last wrote: wait.
        if (row.version < s.memory.seen_version) return idle();
        auto now = self->clock().now();
        switch (step_for(row)) {
          case run_step::finalize:
            return start([](run_steps& st, run_memory& m) { st.finalize(m); });
          case run_step::execute:
            return start([job = row.job_id](run_steps& st, run_memory& m) { st.execute(job, m); });
          case run_step::orphaned:
            return start([](run_steps& st, run_memory& m) { st.orphaned(m); });
          case run_step::lookup:
            if (now < s.next_lookup) return idle();
            return start([](run_steps& st, run_memory& m) { st.lookup(m); });
          case run_step::cancel:
            if (now < s.next_cancel) return idle();
            s.next_cancel = now + steps->cancel_backoff(s.memory);
            return start([](run_steps& st, run_memory& m) { st.cancel(m); });
          case run_step::poll:  // the target's round asks, not a row
          case run_step::none:
            return idle();
        }
      },
      [self, start](polled_atom, poll_answer& a) {
        if (self->state.busy) return;
        start([a = std::move(a)](run_steps& st, run_memory& m) { st.polled(a, m); });
      },
      [self, idle](step_atom, run_memory& m) {
        auto& s = self->state;
        s.busy = false;
        s.memory = std::move(m);
        if (s.memory.lookup_wait.count() > 0) {
          // A lookup ended: the next waits its interval, longer while the answer repeats.
          s.next_lookup = self->clock().now() + s.memory.lookup_wait;
          s.memory.lookup_wait = {};
        }
        idle();
      },
  };
}

// ------------------------------------------------------------------ the coordinator

struct run_entry {
  execution_run_actor actor;
  bool busy = false;
  // The target whose round asked it, until it has recorded the answer: that target's next
  // round waits for it, so no round asks a subset of the target's runs.
  std::string polled_by;
  std::string correlation;
  int64_t seen_version = 0;  // as the run last reported it
};

// What the ended run actors had written, so that a run the ledger still lists while its read
// model catches up (a finalised run, or one back in a long list) is not stepped again from a
// stale row. Bounded: the oldest go first.
struct ended_runs {
  static constexpr size_t kKeep = 4096;
  std::unordered_map<std::string, int64_t> versions;
  std::deque<std::string> order;
  void remember(const std::string& id, int64_t version) {
    if (version <= 0) return;
    auto [it, fresh] = versions.insert_or_assign(id, version);
    if (!fresh) return;
    order.push_back(id);
    if (order.size() > kKeep) {
      versions.erase(order.front());
      order.pop_front();
    }
  }
  int64_t version_of(const std::string& id) const {
    auto it = versions.find(id);
    return it == versions.end() ? 0 : it->second;
  }
};

struct target_entry {
  caf::actor_clock::time_point next{};
  int failures = 0;  // rounds in a row that could not ask the target
};

struct executions_state {
  executions_state() = default;
  static inline const char* name = "executions";
  std::unordered_map<std::string, run_entry> runs;
  ended_runs ended;
  std::map<std::string, target_entry> targets;
  size_t busy = 0;
  scan_gate scans;
  bool stopping = false;
};

using coordinator_ptr = executions_actor::stateful_pointer<executions_state>;

void set_busy(executions_state& s, run_entry& e, bool busy) {
  if (e.busy == busy) return;
  e.busy = busy;
  if (busy)
    ++s.busy;
  else
    --s.busy;
}

// Ends a run's actor, remembering what it wrote.
void end_run(coordinator_ptr self, std::unordered_map<std::string, run_entry>::iterator it) {
  self->state.ended.remember(it->first, it->second.seen_version);
  self->demonitor(it->second.actor.address());
  self->send_exit(it->second.actor, caf::exit_reason::user_shutdown);
  self->state.runs.erase(it);
}

// Once stopping with nothing out: the runs end, then the coordinator.
void quit_when_done(coordinator_ptr self) {
  auto& s = self->state;
  if (!s.stopping || s.scans.scanning || s.busy > 0) return;
  for (auto& [id, e] : s.runs) self->send_exit(e.actor, caf::exit_reason::user_shutdown);
  s.runs.clear();
  self->quit();
}

executions_actor::behavior_type executions(coordinator_ptr self, run_steps* steps,
                                           executions_options opts) {
  auto me = [self] { return caf::actor_cast<executions_actor>(self); };
  // A run actor that dies (an exception in a handler) is forgotten: the next scan makes anew.
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& s = self->state;
    for (auto it = s.runs.begin(); it != s.runs.end(); ++it)
      if (it->second.actor.address() == dm.source) {
        set_busy(s, it->second, false);
        s.runs.erase(it);
        return quit_when_done(self);
      }
  });
  auto arm_timer = [self, opts] {
    auto& s = self->state;
    if (s.stopping || !s.scans.arm()) return;
    self->delayed_send(self, opts.scan_every, scan_atom::value, true);
  };
  auto run_of = [self, steps, me](const std::string& id) -> run_entry& {
    auto& s = self->state;
    auto& e = s.runs[id];
    if (!e.actor) {
      e.seen_version = s.ended.version_of(id);
      e.actor = spawn_execution_run(self, steps, id, e.seen_version, me());
      self->monitor(e.actor);
    }
    return e;
  };
  self->send(self, scan_atom::value, false);
  return {
      [self, steps, me](scan_atom, bool timer) {
        auto& s = self->state;
        if (s.stopping || !s.scans.start(timer)) return;
        steps->run_blocking([steps, h = me()] {
          std::vector<work_row> rows;
          try {
            rows = steps->needing_work();
          } catch (const std::exception& e) {
            spdlog::warn("execution scan failed: {}", e.what());
          }
          caf::anon_send(h, scanned_atom::value, std::move(rows));
        });
      },
      [self, steps, opts, me, arm_timer, run_of](scanned_atom, std::vector<work_row>& rows) {
        auto& s = self->state;
        bool again = s.scans.finish();
        if (s.stopping) return quit_when_done(self);
        if (opts.owns)
          rows.erase(std::remove_if(rows.begin(), rows.end(),
                                    [&](const work_row& r) { return !opts.owns(r.id); }),
                     rows.end());
        std::set<std::string> listed;
        // Runs to poll, by backend target: a round asks every run of its target (issue #17:
        // a round used to poll only the runs due at that instant, starving the others).
        std::map<std::string, std::vector<std::string>> pollable;
        std::set<std::string> recording;  // targets with a run still recording a poll answer
        for (auto& row : rows) {
          listed.insert(row.id);
          auto& e = run_of(row.id);
          if (!row.correlation_id.empty()) e.correlation = row.correlation_id;
          if (e.busy) {
            // A run of a target still recording its last answer, or busy while its row asks
            // for polls, holds the target's next round: a round never asks a subset of them.
            if (!e.polled_by.empty())
              recording.insert(e.polled_by);
            else if (step_for(row) == run_step::poll)
              recording.insert(row.backend_kind + "|" + row.target);
            continue;
          }
          auto step = step_for(row);
          if (step == run_step::poll) {
            pollable[row.backend_kind + "|" + row.target].push_back(row.id);
          } else if (step != run_step::none && s.busy < opts.max_busy) {
            set_busy(s, e, true);
            self->send(e.actor, work_atom::value, std::move(row));
          }
        }
        // A run the ledger no longer lists is over (or another process ended it).
        for (auto it = s.runs.begin(); it != s.runs.end();) {
          if (!listed.count(it->first) && !it->second.busy) {
            auto gone = it++;
            end_run(self, gone);
          } else {
            ++it;
          }
        }
        auto now = self->clock().now();
        for (auto& [target, ids] : pollable) {
          auto& t = s.targets[target];
          if (now < t.next || recording.count(target)) continue;
          t.next = now + steps->poll_interval(target, t.failures);
          for (const auto& id : ids) {
            auto& e = s.runs[id];
            set_busy(s, e, true);
            e.polled_by = target;
          }
          steps->run_blocking(
              [steps, h = me(), target = target, ids = std::move(ids), failures = t.failures] {
                poll_round round;
                try {
                  round = steps->poll(target, ids, failures);
                } catch (const std::exception& e) {
                  spdlog::warn("poll round of {} failed: {}", target, e.what());
                  round.target = target;
                  round.ids = ids;
                }
                caf::anon_send(h, round_atom::value, std::move(round));
              });
        }
        if (again) self->send(self, scan_atom::value, false);
        arm_timer();
      },
      [self](round_atom, poll_round& round) {
        auto& s = self->state;
        auto& t = s.targets[round.target];
        t.failures = round.asked ? 0 : t.failures + 1;
        std::set<std::string> handed;
        for (auto& a : round.answers) {
          auto id = a.ref.execution_id;
          auto it = s.runs.find(id);
          if (it == s.runs.end() || !it->second.busy || handed.count(id)) continue;
          handed.insert(id);
          a.correlation = it->second.correlation;
          self->send(it->second.actor, polled_atom::value, std::move(a));
        }
        // Runs the round did not ask (another process polls their target this round).
        for (const auto& id : round.ids)
          if (!handed.count(id))
            if (auto it = s.runs.find(id); it != s.runs.end()) {
              set_busy(s, it->second, false);
              it->second.polled_by.clear();
            }
        quit_when_done(self);
      },
      [self](idle_atom, std::string& id, bool finished, int64_t seen_version) {
        auto& s = self->state;
        auto it = s.runs.find(id);
        if (it == s.runs.end()) return;
        set_busy(s, it->second, false);
        it->second.polled_by.clear();
        it->second.seen_version = seen_version;
        if (finished) end_run(self, it);
        quit_when_done(self);
      },
      [self](stop_atom) {
        self->state.stopping = true;
        quit_when_done(self);
      },
  };
}

}  // namespace

executions_actor spawn_executions(caf::actor_system& sys, run_steps* steps,
                                  executions_options opts) {
  return sys.spawn(executions, steps, opts);
}

execution_run_actor spawn_execution_run(caf::local_actor* parent, run_steps* steps, std::string id,
                                        int64_t seen_version, executions_actor coordinator) {
  return parent->spawn(execution_run, steps, std::move(id), seen_version, std::move(coordinator));
}

// ------------------------------------------------------------------ the façade

struct execution_worker::impl {
  runtime& rt;
  execution_worker_options opts;
  execution_steps steps;
  std::promise<void> ended;
  executions_actor actor;

  impl(runtime& r, store::database& db, adapters::backend_factory b, stager s,
       execution_worker_options o)
      : rt(r), opts(o), steps(r, db, std::move(b), std::move(s), std::move(o)) {}
};

execution_worker::execution_worker(runtime& rt, store::database& db,
                                   adapters::backend_factory backends, stager stage,
                                   execution_worker_options opts)
    : impl_(
          std::make_unique<impl>(rt, db, std::move(backends), std::move(stage), std::move(opts))) {}

execution_worker::~execution_worker() { stop(); }

void execution_worker::start() {
  executions_options eo;
  eo.scan_every = impl_->opts.scan_every;
  eo.max_busy = impl_->opts.concurrency * 4;
  eo.owns = [rt = &impl_->rt](const std::string& id) {
    return rt->holds(domain::execution_stream_id(id));
  };
  impl_->actor = spawn_executions(runtime_access::system(impl_->rt), &impl_->steps, eo);
  impl_->actor->attach_functor([i = impl_.get()] { i->ended.set_value(); });
}

void execution_worker::stop() {
  if (!impl_ || !impl_->actor) return;
  stop_within(std::exchange(impl_->actor, nullptr), impl_->ended.get_future(), kStopGrace,
              "executions");
  impl_->steps.join();
}

}  // namespace beampipe::actors

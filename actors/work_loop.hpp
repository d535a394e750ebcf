#pragma once
// A worker as an actor: it scans for due work every `scan_every`, and runs each item off CAF's
// threads, at most `concurrency` at a time and never one that is out already or that ended
// settled (a read model may still list it for a moment). When an item ends, the next one the
// last scan listed starts; once none is left, a scan runs at once. (A scan lists several times
// the concurrency: one scan per ended item was most of what a discovery burst cost PostgreSQL.)
// An item listed is claimed when it runs, so one that went stale meanwhile is a refused claim.
// Scans and runs are blocking calls through the ports; their results come back as messages,
// so the actor's state needs no lock. Discovery and alert delivery are work loops.
// Only the actors' own translation units include this (it includes CAF).
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <future>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "actors/protocol.hpp"

namespace beampipe::actors {

using ran_atom = caf::atom_constant<caf::atom("ran")>;

struct work_loop_options {
  std::string name;  // for logs
  size_t concurrency = 4;
  std::chrono::milliseconds scan_every{1000};
  size_t remember = 4096;  // settled keys kept, newest first
};

template <class Item>
struct work_loop_ports {
  // The items due now (blocking). Throwing skips this scan; the next comes on the timer.
  std::function<std::vector<Item>()> scan;
  // The item's identity for "out already" and "settled" (include its attempt: a retry is a
  // new item).
  std::function<std::string(const Item&)> key;
  // Runs the item (blocking); true when it is settled, false to run it again on a later scan.
  std::function<bool(const Item&)> run;
  std::function<void(std::function<void()>)> run_blocking;
};

// When a periodic scan runs: one at a time (one asked for meanwhile runs once after it), and
// one timer pending at most (`scan, bool timer`: a scan asked for otherwise arms none).
struct scan_gate {
  bool scanning = false, again = false, timer_pending = false;
  // A scan is asked for: true when it may start now.
  bool start(bool timer) {
    if (timer) timer_pending = false;
    if (scanning) {
      again = true;
      return false;
    }
    scanning = true;
    return true;
  }
  // The scan ended: true when another was asked for meanwhile.
  bool finish() {
    scanning = false;
    return std::exchange(again, false);
  }
  // True when the caller should arm the timer (none is pending).
  bool arm() { return !std::exchange(timer_pending, true); }
};

// `scan, bool timer`: timer scans keep one timer pending; a scan after an ended item does not.
template <class Item>
using work_loop_actor =
    caf::typed_actor<caf::reacts_to<scan_atom, bool>,
                     caf::reacts_to<scanned_atom, std::vector<Item>>,
                     caf::reacts_to<ran_atom, std::string, bool>, caf::reacts_to<stop_atom>>;

template <class Item>
struct work_loop_state {
  static inline const char* name = "work_loop";
  // Not an aggregate: CAF constructs a state from the actor pointer when it can, and C++20
  // would let that pointer initialise the first member.
  work_loop_state() = default;
  scan_gate scans;
  bool stopping = false;
  std::deque<Item> listed;        // due in the last scan, not started yet
  std::set<std::string> out;      // items running now
  std::set<std::string> settled;  // with `order`: recently settled, bounded
  std::deque<std::string> order;
};

template <class Item>
typename work_loop_actor<Item>::behavior_type work_loop(
    typename work_loop_actor<Item>::template stateful_pointer<work_loop_state<Item>> self,
    work_loop_options opts, work_loop_ports<Item> ports_in) {
  using actor_t = work_loop_actor<Item>;
  auto ports = std::make_shared<work_loop_ports<Item>>(std::move(ports_in));
  auto me = [self] { return caf::actor_cast<actor_t>(self); };
  auto done_if_stopping = [self] {
    auto& s = self->state;
    if (s.stopping && !s.scans.scanning && s.out.empty()) self->quit();
  };
  auto arm_timer = [self, opts] {
    if (self->state.stopping || !self->state.scans.arm()) return;
    self->delayed_send(self, opts.scan_every, scan_atom::value, true);
  };
  // Starts listed items while a slot is free.
  auto fill = [self, ports, opts, me] {
    auto& s = self->state;
    while (s.out.size() < opts.concurrency && !s.listed.empty()) {
      auto item = std::move(s.listed.front());
      s.listed.pop_front();
      auto key = ports->key(item);
      if (s.out.count(key) || s.settled.count(key)) continue;
      s.out.insert(key);
      ports->run_blocking([ports, h = me(), key, item = std::move(item), name = opts.name] {
        bool settled = false;
        try {
          settled = ports->run(item);
        } catch (const std::exception& e) {
          spdlog::error("{}: {} failed: {}", name, key, e.what());
        }
        caf::anon_send(h, ran_atom::value, key, settled);
      });
    }
  };
  self->send(self, scan_atom::value, false);
  return {
      [self, ports, opts, me](scan_atom, bool timer) {
        auto& s = self->state;
        if (s.stopping || !s.scans.start(timer)) return;
        ports->run_blocking([ports, h = me(), name = opts.name] {
          std::vector<Item> due;
          try {
            due = ports->scan();
          } catch (const std::exception& e) {
            spdlog::warn("{}: scan failed: {}", name, e.what());
          }
          caf::anon_send(h, scanned_atom::value, std::move(due));
        });
      },
      [self, fill, arm_timer, done_if_stopping](scanned_atom, std::vector<Item>& due) {
        auto& s = self->state;
        bool again = s.scans.finish();
        if (s.stopping) return done_if_stopping();
        s.listed.assign(std::make_move_iterator(due.begin()), std::make_move_iterator(due.end()));
        fill();
        if (again) self->send(self, scan_atom::value, false);
        arm_timer();
      },
      [self, opts, fill, done_if_stopping](ran_atom, std::string& key, bool settled) {
        auto& s = self->state;
        s.out.erase(key);
        if (settled && s.settled.insert(key).second) {
          s.order.push_back(key);
          if (s.order.size() > opts.remember) {
            s.settled.erase(s.order.front());
            s.order.pop_front();
          }
        }
        if (s.stopping) return done_if_stopping();
        fill();
        // A slot is still free and nothing listed is left: look for more now.
        if (s.listed.empty() && s.out.size() < opts.concurrency)
          self->send(self, scan_atom::value, false);
      },
      [self, done_if_stopping](stop_atom) {
        self->state.stopping = true;
        done_if_stopping();
      },
  };
}

// Runs a work loop in `sys` until stop(): the loop's items run on `threads` threads of its own
// (one more than the concurrency, for the scan).
template <class Item>
class work_loop_runner {
 public:
  work_loop_runner(work_loop_options opts, work_loop_ports<Item> ports)
      : opts_(std::move(opts)), ports_(std::move(ports)), pool_(opts_.concurrency + 1) {
    ports_.run_blocking = [this](std::function<void()> job) {
      boost::asio::post(pool_, std::move(job));
    };
  }
  ~work_loop_runner() { stop(); }
  work_loop_runner(const work_loop_runner&) = delete;
  work_loop_runner& operator=(const work_loop_runner&) = delete;

  void start(caf::actor_system& sys) {
    actor_ = sys.spawn(work_loop<Item>, opts_, ports_);
    actor_->attach_functor([this] { ended_.set_value(); });
  }

  // Waits for the items out (each bounded by its own deadlines) up to `grace`.
  void stop(std::chrono::milliseconds grace = kStopGrace) {
    if (!actor_) return;
    stop_within(std::exchange(actor_, nullptr), ended_.get_future(), grace, opts_.name);
    pool_.join();
  }

 private:
  work_loop_options opts_;
  work_loop_ports<Item> ports_;
  boost::asio::thread_pool pool_;
  std::promise<void> ended_;
  work_loop_actor<Item> actor_;
};

}  // namespace beampipe::actors

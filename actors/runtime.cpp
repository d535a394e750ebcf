#include "actors/runtime.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <caf/all.hpp>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "events/catalog.hpp"
#include "events/envelope.hpp"
#include "events/validity.hpp"
#include "store/event_store.hpp"
#include "util/ids.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"

namespace beampipe::actors {
namespace json = boost::json;

// Invokes its callback exactly once: with the real reply, or with a 500 if the message
// carrying it is dropped (an actor died mid-command), so no caller waits forever.
struct reply_slot {
  std::function<void(command_reply)> fn;
  bool done = false;
  void deliver(command_reply r) {
    if (done) return;
    done = true;
    fn(std::move(r));
  }
  ~reply_slot() {
    if (!done && fn) {
      command_reply r;
      r.result = outcome::failed;
      r.code = "command_dropped";
      r.message = "the command was dropped before completion";
      fn(std::move(r));
    }
  }
};

struct command_envelope {
  std::shared_ptr<command_request> req;
  std::shared_ptr<reply_slot> reply;
};

struct load_result {
  json::object state;
  int64_t version = 0;
  int64_t last_position = 0;
  int64_t snapshot_version = 0;
  std::string error;
};

struct appended_msg {
  store::append_result result;
  uint64_t attempt_id = 0;
};

}  // namespace beampipe::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::command_envelope)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::load_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::appended_msg)

namespace beampipe::actors {
namespace {

using cmd_atom = caf::atom_constant<caf::atom("cmd")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using appended_atom = caf::atom_constant<caf::atom("appended")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using resubmit_atom = caf::atom_constant<caf::atom("resubmit")>;

struct shared_ctx {
  runtime_options opts;
  store::group_appender* appender;
  store::connection_pool* pool;
  boost::asio::thread_pool* blocking;
  std::atomic<size_t> live{0};
  std::atomic<size_t> recoveries{0};
  std::mutex kinds_mu;  // actor start/stop only: far from hot
  std::map<std::string, size_t> live_by_kind;
};

// Loads snapshot + tail; runs on the blocking pool, never on a CAF thread. A snapshot this
// build cannot read (another state version, or a state its apply() refuses) is ignored and the
// state rebuilt from the events alone.
load_result load_aggregate(shared_ctx& ctx, const domain::aggregate_kind& kind,
                           const std::string& stream_id) {
  load_result out;
  try {
    store::with_connection(*ctx.pool, [&](pqxx::connection& c) {
      auto fold = [&](bool use_snapshot) {
        out.state = kind.initial();
        out.version = out.last_position = out.snapshot_version = 0;
        int64_t from = 1;
        if (auto snap = use_snapshot ? store::load_snapshot(c, stream_id) : std::nullopt;
            snap && snap->schema_version == kind.state_version) {
          out.snapshot_version = snap->version;
          auto v = util::parse_stored(snap->state).as_object();
          out.state = v.at("state").as_object();
          if (kind.check_state) kind.check_state(out.state);
          out.last_position = v.at("last_position").as_int64();
          out.version = snap->version;
          from = snap->version + 1;
        }
        for (const auto& e : store::read_stream(c, stream_id, from)) {
          kind.apply(out.state, e.type, events::decode(e), e.recorded_at);
          out.version = e.stream_version;
          out.last_position = e.position;
        }
      };
      try {
        fold(true);
      } catch (const pqxx::failure&) {
        throw;  // the store, not the snapshot
      } catch (const std::exception& e) {
        if (out.snapshot_version == 0) throw;
        spdlog::warn("{}: snapshot at version {} is unreadable ({}); rebuilding from events",
                     stream_id, out.snapshot_version, e.what());
        fold(false);
      }
    });
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

struct pending_command {
  command_envelope env;
  int conflicts = 0;
};

struct aggregate_state {
  static inline const char* name = "aggregate";
  const domain::aggregate_kind* kind = nullptr;
  std::string stream_id;
  json::object state;
  int64_t version = 0;
  int64_t last_position = 0;
  int64_t snapshot_version = 0;
  bool loaded = false;
  bool busy = false;
  bool active_since_tick = false;
  std::deque<pending_command> queue;
  // The append in flight: kept so that a transient failure retries with the same event ids.
  std::optional<pending_command> current;
  std::optional<store::append_request> current_request;
  std::vector<domain::pending_event> current_events;
  int append_attempts = 0;
  uint64_t attempt_seq = 0;
};

caf::behavior aggregate_actor(caf::stateful_actor<aggregate_state>* self, shared_ctx* ctx,
                              const domain::aggregate_kind* kind, std::string stream_id,
                              caf::actor registry) {
  auto& st = self->state;
  st.kind = kind;
  st.stream_id = std::move(stream_id);
  st.state = kind->initial();
  ctx->live++;
  {
    std::lock_guard lock(ctx->kinds_mu);
    ++ctx->live_by_kind[kind->stream_type];
  }
  self->attach_functor([ctx, kind] {
    ctx->live--;
    std::lock_guard lock(ctx->kinds_mu);
    --ctx->live_by_kind[kind->stream_type];
  });

  auto start_load = [self, ctx] {
    self->state.loaded = false;
    auto handle = caf::actor_cast<caf::actor>(self);
    auto k = self->state.kind;
    auto sid = self->state.stream_id;
    boost::asio::post(*ctx->blocking, [ctx, handle, k, sid] {
      caf::anon_send(handle, loaded_atom::value, load_aggregate(*ctx, *k, sid));
    });
  };

  auto submit_append = [self, ctx] {
    auto& s = self->state;
    auto handle = caf::actor_cast<caf::actor>(self);
    auto id = ++s.attempt_seq;
    ctx->appender->submit(*s.current_request, [handle, id](store::append_result r) {
      caf::anon_send(handle, appended_atom::value, appended_msg{std::move(r), id});
    });
  };

  // Decides the next queued command; appends its events or answers at once.
  std::function<void()> process_next;
  process_next = [self, ctx, submit_append, registry]() {
    auto& s = self->state;
    while (s.loaded && !s.busy && !s.queue.empty()) {
      auto pc = std::move(s.queue.front());
      s.queue.pop_front();
      // The id a created thing gets: once per command, the same if it is decided again.
      if (pc.env.req->cmd.new_id.empty()) pc.env.req->cmd.new_id = util::uuid_v7();
      const auto& req = *pc.env.req;
      domain::decision d;
      try {
        d = s.kind->decide(s.state, s.stream_id, req.cmd);
      } catch (const std::exception& e) {
        // A decider that throws has a bug or a state it cannot read: the command fails, the
        // actor (and every other command of the stream) goes on.
        spdlog::error("{}: deciding {} failed: {}", s.stream_id, req.cmd.name, e.what());
        d.error =
            domain::command_error{domain::error_kind::internal, "decide_failed", e.what(), ""};
      }
      for (auto& pe : d.events) {
        // Texts from archives and backends may carry NUL or broken UTF-8; the state applied
        // after the append and the stored event are the same cleaned data.
        util::make_storable(pe.data);
        // What is appended is forever: a payload its own type cannot read is a bug in the
        // decider, refused here rather than stored.
        if (auto why = events::prepare_append(pe); !why.empty()) {
          spdlog::error("{}: decided an event its schema refuses: {}", s.stream_id, why);
          d.error =
              domain::command_error{domain::error_kind::internal, "event_schema_violation",
                                    "the decided event does not match its schema: " + why, ""};
          d.events.clear();
          break;
        }
      }
      if (d.error || d.events.empty()) {
        command_reply r;
        if (d.error) {
          r.result = refused_as(d.error->kind);
          r.code = d.error->code;
          r.message = d.error->message;
          r.field = d.error->field;
          if (!d.error->details.is_null()) r.details_json = json::serialize(d.error->details);
        } else {
          r.result = outcome::done;
        }
        r.stream_id = s.stream_id;
        r.version = s.version;
        r.position = s.last_position;
        pc.env.reply->deliver(std::move(r));
        self->send(registry, done_atom::value, s.stream_id);
        continue;
      }
      events::event_metadata meta;
      meta.correlation_id = req.correlation_id;
      meta.actor = req.cmd.actor;
      meta.node = ctx->opts.node_id;
      auto meta_json = meta.to_json();
      store::append_request ar;
      ar.stream_id = s.stream_id;
      ar.expected = store::expected_version::at(s.version);
      for (auto& pe : d.events)
        ar.events.push_back(
            {util::uuid_v7(), pe.type, pe.schema_version, json::serialize(pe.data), meta_json});
      s.busy = true;
      s.append_attempts = 0;
      s.current = std::move(pc);
      s.current_request = std::move(ar);
      s.current_events = std::move(d.events);
      submit_append();
      return;
    }
  };

  start_load();
  self->send(self, idle_atom::value);  // arms the idle check loop below via delayed re-sends

  return {
      [self, process_next](cmd_atom, command_envelope& env) {
        self->state.queue.push_back({std::move(env), 0});
        self->state.active_since_tick = true;
        process_next();
      },
      [self, ctx, process_next, start_load](loaded_atom, load_result& r) {
        auto& s = self->state;
        if (!r.error.empty()) {
          // The store is unreachable: refuse what is queued rather than decide on stale state.
          spdlog::warn("cannot load {}: {}", s.stream_id, r.error);
          while (!s.queue.empty()) {
            command_reply rep;
            rep.result = outcome::unavailable;
            rep.code = "store_unavailable";
            rep.message = "event store unavailable: " + r.error;
            s.queue.front().env.reply->deliver(std::move(rep));
            s.queue.pop_front();
          }
          self->delayed_send(self, std::chrono::seconds(1), retry_atom::value);
          return;
        }
        s.state = std::move(r.state);
        s.version = r.version;
        s.last_position = r.last_position;
        s.snapshot_version = r.snapshot_version;
        s.loaded = true;
        ctx->recoveries++;
        process_next();
      },
      [self, start_load](retry_atom) {
        if (!self->state.loaded && !self->state.busy) start_load();
      },
      [self, submit_append](resubmit_atom) {
        if (self->state.busy && self->state.current_request) submit_append();
      },
      [self, ctx, registry, process_next, submit_append, start_load](appended_atom,
                                                                     appended_msg& m) {
        auto& s = self->state;
        if (!s.busy || m.attempt_id != s.attempt_seq) return;  // stale reply
        auto& res = m.result;
        if (res.status == store::append_status::ok) {
          for (size_t i = 0; i < s.current_events.size(); ++i)
            s.kind->apply(s.state, s.current_events[i].type, s.current_events[i].data, "");
          s.version = res.last_version;
          s.last_position = res.last_position;
          command_reply r;
          r.result = s.version == static_cast<int64_t>(s.current_events.size()) ? outcome::created
                                                                                : outcome::done;
          r.stream_id = s.stream_id;
          r.version = s.version;
          r.position = s.last_position;
          r.events_appended = s.current_events.size();
          s.current->env.reply->deliver(std::move(r));
          s.busy = false;
          s.current.reset();
          s.current_request.reset();
          s.current_events.clear();
          self->send(registry, done_atom::value, s.stream_id);
          if (s.version - s.snapshot_version >= ctx->opts.snapshot_every) {
            store::snapshot snap{s.stream_id, s.version, s.kind->state_version,
                                 json::serialize(json::object{{"state", s.state},
                                                              {"last_position", s.last_position}})};
            s.snapshot_version = s.version;
            boost::asio::post(*ctx->blocking, [ctx, snap] {
              try {
                store::with_connection(*ctx->pool,
                                       [&](pqxx::connection& c) { store::save_snapshot(c, snap); });
              } catch (const std::exception& e) {
                spdlog::warn("snapshot of {} failed: {}", snap.stream_id, e.what());
              }
            });
          }
          process_next();
          return;
        }
        if (res.status == store::append_status::conflict && s.current->conflicts < 3) {
          // Someone else wrote this stream: reload and decide again.
          auto pc = std::move(*s.current);
          pc.conflicts++;
          s.current.reset();
          s.current_request.reset();
          s.current_events.clear();
          s.busy = false;
          s.queue.push_front(std::move(pc));
          start_load();
          return;
        }
        bool transient = res.status == store::append_status::error &&
                         (res.error_code == store::store_errc::unavailable ||
                          res.error_code == store::store_errc::commit_unknown);
        if (transient && ++s.append_attempts < 5) {
          // Same event ids: if the earlier commit did happen, the store answers idempotently.
          self->delayed_send(self, std::chrono::milliseconds(50 << s.append_attempts),
                             resubmit_atom::value);
          return;
        }
        command_reply r;
        bool refused = res.error_code == store::store_errc::invalid;  // no reader could read it
        r.result = res.status == store::append_status::conflict ? outcome::conflict
                   : transient                                  ? outcome::unavailable
                   : refused                                    ? outcome::invalid_document
                                                                : outcome::failed;
        r.code = res.status == store::append_status::conflict ? "conflict"
                 : refused                                    ? "event_refused"
                                                              : "store_error";
        r.message = res.message;
        r.stream_id = s.stream_id;
        s.current->env.reply->deliver(std::move(r));
        s.current.reset();
        s.current_request.reset();
        s.current_events.clear();
        s.busy = false;
        self->send(registry, done_atom::value, s.stream_id);
        // The outcome of an in-doubt commit is unknown: reload before deciding anything else.
        start_load();
      },
      [self, ctx, registry](idle_atom) {
        auto& s = self->state;
        if (!s.active_since_tick && !s.busy && s.queue.empty() && s.loaded)
          self->send(registry, idle_atom::value, s.stream_id);
        s.active_since_tick = false;
        self->delayed_send(self, ctx->opts.idle_after, idle_atom::value);
      },
  };
}

struct route {
  caf::actor actor;
  size_t in_flight = 0;
};

struct registry_state {
  static inline const char* name = "registry";
  std::unordered_map<std::string, route> routes;
};

caf::behavior registry_actor(caf::stateful_actor<registry_state>* self, shared_ctx* ctx) {
  // An aggregate that dies (e.g. an exception in a handler) is forgotten, so the next
  // command spawns a fresh one that recovers from the store.
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto it = self->state.routes.begin(); it != self->state.routes.end(); ++it)
      if (it->second.actor.address() == dm.source) {
        self->state.routes.erase(it);
        return;
      }
  });
  return {
      [self, ctx](cmd_atom, command_envelope& env) {
        const auto& sid = env.req->stream_id;
        auto kind = domain::aggregate_for_stream_type(events::stream_type_of(sid));
        if (!kind) {
          command_reply r;
          r.result = outcome::invalid;
          r.code = "unknown_stream_type";
          r.message = "no aggregate for stream " + sid;
          env.reply->deliver(std::move(r));
          return;
        }
        auto& rt = self->state.routes[sid];
        if (!rt.actor) {
          rt.actor =
              self->spawn(aggregate_actor, ctx, kind, sid, caf::actor_cast<caf::actor>(self));
          self->monitor(rt.actor);
        }
        rt.in_flight++;
        self->send(rt.actor, cmd_atom::value, std::move(env));
      },
      [self](done_atom, const std::string& sid) {
        auto it = self->state.routes.find(sid);
        if (it != self->state.routes.end() && it->second.in_flight > 0) it->second.in_flight--;
      },
      // Passivation: only when nothing is routed to the actor, so no command is lost in its
      // mailbox.
      [self](idle_atom, const std::string& sid) {
        auto it = self->state.routes.find(sid);
        if (it == self->state.routes.end() || it->second.in_flight > 0) return;
        self->send_exit(it->second.actor, caf::exit_reason::user_shutdown);
        self->state.routes.erase(it);
      },
      [self](stop_atom, const std::string& sid) {
        auto it = self->state.routes.find(sid);
        if (it == self->state.routes.end()) return;
        if (it->second.in_flight == 0) {
          self->send_exit(it->second.actor, caf::exit_reason::user_shutdown);
          self->state.routes.erase(it);
        } else {
          self->delayed_send(self, std::chrono::milliseconds(5), stop_atom::value, sid);
        }
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

struct runtime::impl {
  runtime_options opts;
  store::connection_pool pool;
  store::group_appender appender;
  boost::asio::thread_pool blocking;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  shared_ctx ctx;
  caf::actor registry;
  bool stopped = false;

  explicit impl(runtime_options o)
      : opts(o),
        pool(o.conninfo, o.blocking_threads + 1, "beampipe-actors"),
        appender(o.conninfo, 512, o.append_writers),
        blocking(o.blocking_threads) {
    cfg.set("scheduler.max-threads", o.caf_threads);
    sys = std::make_unique<caf::actor_system>(cfg);
    ctx.opts = o;
    ctx.appender = &appender;
    ctx.pool = &pool;
    ctx.blocking = &blocking;
    registry = sys->spawn(registry_actor, &ctx);
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    caf::anon_send(registry, stop_atom::value);
    sys->await_all_actors_done();
    blocking.join();
    appender.stop();
  }
};

runtime::runtime(runtime_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
runtime::~runtime() { shutdown(); }
void runtime::shutdown() {
  if (impl_) impl_->stop();
}

void runtime::send(command_request req, std::function<void(command_reply)> done) {
  auto slot = std::make_shared<reply_slot>();
  slot->fn = std::move(done);
  caf::anon_send(
      impl_->registry, cmd_atom::value,
      command_envelope{std::make_shared<command_request>(std::move(req)), std::move(slot)});
}

command_reply timed_out_reply() {
  command_reply r;
  r.result = outcome::timed_out;
  r.code = "timeout";
  r.message = "command timed out";
  return r;
}

command_reply runtime::send_sync(command_request req, std::chrono::milliseconds timeout) {
  auto p = std::make_shared<std::promise<command_reply>>();
  auto f = p->get_future();
  send(std::move(req), [p](command_reply r) { p->set_value(std::move(r)); });
  if (f.wait_for(timeout) != std::future_status::ready) return timed_out_reply();
  return f.get();
}

std::vector<command_reply> runtime::send_all(std::vector<command_request> reqs,
                                             std::chrono::milliseconds timeout) {
  // Shared with the callbacks, so a reply that arrives after the timeout writes nowhere bad.
  struct state {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::optional<command_reply>> replies;
    size_t left;
  };
  auto st = std::make_shared<state>();
  st->replies.resize(reqs.size());
  st->left = reqs.size();
  for (size_t i = 0; i < reqs.size(); ++i)
    send(std::move(reqs[i]), [st, i](command_reply r) {
      std::lock_guard lk(st->m);
      st->replies[i] = std::move(r);
      if (--st->left == 0) st->cv.notify_all();
    });
  std::unique_lock lk(st->m);
  st->cv.wait_for(lk, timeout, [&] { return st->left == 0; });
  std::vector<command_reply> out;
  out.reserve(st->replies.size());
  for (auto& r : st->replies) out.push_back(r ? std::move(*r) : timed_out_reply());
  return out;
}

void runtime::passivate(const std::string& stream_id) {
  caf::anon_send(impl_->registry, stop_atom::value, stream_id);
}

runtime_stats runtime::stats() const {
  runtime_stats s;
  s.live_aggregates = impl_->ctx.live.load();
  s.recoveries = impl_->ctx.recoveries.load();
  std::lock_guard lock(impl_->ctx.kinds_mu);
  s.live_by_kind = impl_->ctx.live_by_kind;
  return s;
}
store::group_appender& runtime::appender() { return impl_->appender; }
store::connection_pool& runtime::pool() { return impl_->pool; }
const std::string& runtime::node_id() const { return impl_->opts.node_id; }

}  // namespace beampipe::actors

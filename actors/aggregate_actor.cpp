// An aggregate actor: one stream's state, recovered from snapshot and events off CAF's
// threads, deciding its commands one at a time and appending through the group appender.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <list>
#include <optional>

#include "actors/protocol.hpp"
#include "events/catalog.hpp"
#include "events/envelope.hpp"
#include "events/validity.hpp"
#include "store/event_store.hpp"
#include "util/ids.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"

namespace beampipe::actors {
namespace json = boost::json;
namespace {

// Loads snapshot + tail; runs on the blocking pool, never on a CAF thread. A snapshot this
// build cannot read (another state version, or a state its apply() refuses) is ignored and the
// state rebuilt from the events alone.
load_result load_aggregate(shared_ctx& ctx, const domain::aggregate_kind& kind,
                           const std::string& stream_id) {
  load_result out;
  try {
    store::with_connection(*ctx.pool, [&](pqxx::connection& c) {
      auto fold = [&](bool use_snapshot) {
        out.state = kind.make_state(nullptr);
        out.version = out.last_position = out.snapshot_version = 0;
        int64_t from = 1;
        if (auto snap = use_snapshot ? store::load_snapshot(c, stream_id) : std::nullopt;
            snap && snap->schema_version == kind.state_version) {
          out.snapshot_version = snap->version;
          auto v = util::parse_stored(snap->state).as_object();
          out.state = kind.make_state(&v.at("state").as_object());
          out.last_position = v.at("last_position").as_int64();
          out.version = snap->version;
          from = snap->version + 1;
        }
        for (const auto& e : store::read_stream(c, stream_id, from)) {
          kind.fold(*out.state, e.type, events::decode(e), e.recorded_at);
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
  command_request req;
  caf::typed_response_promise<command_reply> rp;
  int conflicts = 0;
};

// An applied command answers its reply, any other its error.
void answer(pending_command& pc, command_reply r) {
  if (r.ok())
    pc.rp.deliver(std::move(r));
  else
    pc.rp.deliver(command_error_of(r));
}

struct aggregate_state {
  static inline const char* name = "aggregate";
  // Not an aggregate: CAF constructs a state from the actor pointer when it can, and C++20
  // would let that pointer initialise the first member.
  aggregate_state() = default;
  const domain::aggregate_kind* kind = nullptr;
  std::string stream_id;
  // The state between commands, as its typed struct: decided on and folded in place, with no
  // JSON per command (serialised for snapshots only).
  std::shared_ptr<domain::state_box> state;
  int64_t version = 0;
  int64_t last_position = 0;
  int64_t snapshot_version = 0;
  bool loaded = false;
  bool busy = false;
  // A list, not a deque: an empty std::deque already holds a 512-byte block, and most live
  // aggregates have nothing queued.
  std::list<pending_command> queue;
  // The append in flight: kept so that a transient failure retries with the same event ids.
  // Behind a pointer: most live aggregates have none, and it is a third of the state's size.
  struct in_flight {
    pending_command command;
    store::append_request request;
    std::vector<domain::pending_event> events;
    int append_attempts = 0;
  };
  std::unique_ptr<in_flight> current;
  uint64_t attempt_seq = 0;
  // Decides the next queued command. Kept here once rather than copied into every handler
  // that calls it (each copy of a std::function is a heap block per live aggregate).
  std::function<void()> process_next;
};

// The actor stops with commands on hand: each fails (500 command_dropped) now.
void drop_pending(aggregate_state& s) {
  auto drop = [](pending_command& pc) {
    command_reply r;
    r.result = outcome::failed;
    r.code = "command_dropped";
    r.message = "the command was dropped before completion";
    answer(pc, std::move(r));
  };
  if (s.current) drop(s.current->command);
  s.current.reset();
  for (auto& pc : s.queue) drop(pc);
  s.queue.clear();
}

aggregate_actor::behavior_type aggregate(aggregate_actor::stateful_pointer<aggregate_state> self,
                                         shared_ctx* ctx, const domain::aggregate_kind* kind,
                                         std::string stream_id, registry_actor registry) {
  auto& st = self->state;
  st.kind = kind;
  st.stream_id = std::move(stream_id);
  st.state = kind->make_state(nullptr);
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
    auto handle = caf::actor_cast<aggregate_actor>(self);
    auto k = self->state.kind;
    auto sid = self->state.stream_id;
    boost::asio::post(*ctx->blocking, [ctx, handle, k, sid] {
      caf::anon_send(handle, loaded_atom::value, load_aggregate(*ctx, *k, sid));
    });
  };

  auto submit_append = [self, ctx] {
    auto& s = self->state;
    auto handle = caf::actor_cast<aggregate_actor>(self);
    auto id = ++s.attempt_seq;
    ctx->append(s.current->request, [handle, id](store::append_result r) {
      caf::anon_send(handle, appended_atom::value, appended_msg{std::move(r), id});
    });
  };

  // Decides the next queued command; appends its events or answers at once.
  st.process_next = [self, ctx, submit_append, registry]() {
    auto& s = self->state;
    while (s.loaded && !s.busy && !s.queue.empty()) {
      auto pc = std::move(s.queue.front());
      s.queue.pop_front();
      // The id a created thing gets: once per command, the same if it is decided again.
      if (pc.req.cmd.new_id.empty()) pc.req.cmd.new_id = util::uuid_v7();
      const auto& req = pc.req;
      domain::decision d;
      try {
        d = s.kind->decide_on(*s.state, s.stream_id, req.cmd);
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
        answer(pc, std::move(r));
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
      s.current.reset(
          new aggregate_state::in_flight{std::move(pc), std::move(ar), std::move(d.events), 0});
      submit_append();
      return;
    }
  };

  // A handler that throws ends the actor; an exit (passivation, shutdown) too. Either way
  // every command it holds is answered first, so no caller waits for its deadline.
  self->set_exception_handler([self](std::exception_ptr& ep) -> caf::error {
    std::string why = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    spdlog::error("{}: aggregate stopped: {}", self->state.stream_id, why);
    drop_pending(self->state);
    return caf::make_error(caf::sec::runtime_error, why);
  });
  self->set_exit_handler([self](caf::exit_msg& em) {
    drop_pending(self->state);
    self->quit(em.reason);
  });
  start_load();

  return {
      [self](cmd_atom, command_request& req) {
        auto rp = self->make_response_promise<command_reply>();
        self->state.queue.push_back({std::move(req), rp, 0});
        self->state.process_next();
        return rp;
      },
      [self, ctx, registry](loaded_atom, load_result& r) {
        auto& s = self->state;
        if (!r.error.empty()) {
          // The store is unreachable: refuse what is queued rather than decide on stale state.
          spdlog::warn("cannot load {}: {}", s.stream_id, r.error);
          while (!s.queue.empty()) {
            command_reply rep;
            rep.result = outcome::unavailable;
            rep.code = "store_unavailable";
            rep.message = "event store unavailable: " + r.error;
            answer(s.queue.front(), std::move(rep));
            s.queue.pop_front();
            self->send(registry, done_atom::value, s.stream_id);
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
        self->state.process_next();
      },
      [self, start_load](retry_atom) {
        if (!self->state.loaded && !self->state.busy) start_load();
      },
      [self, submit_append](resubmit_atom) {
        if (self->state.busy && self->state.current) submit_append();
      },
      [self, ctx, registry, start_load](appended_atom, appended_msg& m) {
        auto& s = self->state;
        if (!s.busy || m.attempt_id != s.attempt_seq) return;  // stale reply
        auto& res = m.result;
        if (res.status == store::append_status::ok) {
          for (const auto& pe : s.current->events) s.kind->fold(*s.state, pe.type, pe.data, "");
          s.version = res.last_version;
          s.last_position = res.last_position;
          command_reply r;
          r.result = s.version == static_cast<int64_t>(s.current->events.size()) ? outcome::created
                                                                                 : outcome::done;
          r.stream_id = s.stream_id;
          r.version = s.version;
          r.position = s.last_position;
          r.events_appended = s.current->events.size();
          answer(s.current->command, std::move(r));
          s.busy = false;
          s.current.reset();
          self->send(registry, done_atom::value, s.stream_id);
          if (s.version - s.snapshot_version >= ctx->opts.snapshot_every) {
            store::snapshot snap{
                s.stream_id, s.version, s.kind->state_version,
                json::serialize(json::object{{"state", s.kind->state_json(*s.state)},
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
          self->state.process_next();
          return;
        }
        if (res.status == store::append_status::conflict && s.current->command.conflicts < 3) {
          // Someone else wrote this stream: reload and decide again.
          auto pc = std::move(s.current->command);
          pc.conflicts++;
          s.current.reset();
          s.busy = false;
          s.queue.push_front(std::move(pc));
          start_load();
          return;
        }
        bool transient = res.status == store::append_status::error &&
                         (res.error_code == store::store_errc::unavailable ||
                          res.error_code == store::store_errc::commit_unknown);
        if (transient && ++s.current->append_attempts < 5) {
          // Same event ids: if the earlier commit did happen, the store answers idempotently.
          self->delayed_send(self, std::chrono::milliseconds(50 << s.current->append_attempts),
                             resubmit_atom::value);
          return;
        }
        command_reply r;
        bool refused = res.error_code == store::store_errc::invalid;  // no reader could read it
        // Another node holds the stream's shard now (issue #23): worth trying again there.
        bool fenced = res.error_code == store::store_errc::fenced;
        r.result = res.status == store::append_status::conflict ? outcome::conflict
                   : transient || fenced                        ? outcome::unavailable
                   : refused                                    ? outcome::invalid_document
                                                                : outcome::failed;
        r.code = res.status == store::append_status::conflict ? "conflict"
                 : refused                                    ? "event_refused"
                 : fenced                                     ? "shard_moved"
                                                              : "store_error";
        r.message = res.message;
        r.stream_id = s.stream_id;
        // Fenced at the first try, nothing was written; after an in-doubt try it may have been.
        r.not_applied = fenced && s.current->append_attempts == 0;
        answer(s.current->command, std::move(r));
        s.current.reset();
        s.busy = false;
        self->send(registry, done_atom::value, s.stream_id);
        // Another node owns the stream now: this copy goes stale, so it stops once idle (the
        // stream is recovered from the store if its shard comes back).
        if (fenced) self->send(registry, stop_atom::value, s.stream_id);
        // The outcome of an in-doubt commit is unknown: reload before deciding anything else.
        start_load();
      },
  };
}

}  // namespace

aggregate_actor spawn_aggregate(caf::local_actor* parent, shared_ctx* ctx,
                                const domain::aggregate_kind* kind, const std::string& stream_id,
                                registry_actor registry) {
  return parent->spawn(aggregate, ctx, kind, stream_id, std::move(registry));
}

}  // namespace beampipe::actors

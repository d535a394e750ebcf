#pragma once
// The actors' typed protocols (CAF 0.17). Only the actors' own translation units include this:
// the runtime façade (runtime.hpp) stays free of CAF headers.
//
// A command is a request: `cmd_atom, command_request -> command_reply`. An applied command
// answers its reply; a refused or failed one answers a caf::error in the "command" category
// whose code is a command_errc and whose context carries the reply's fields. The registry
// delegates each command to its stream's aggregate, which answers the caller directly.
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <caf/all.hpp>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>

#include "actors/runtime.hpp"
#include "actors/scheduler.hpp"
#include "store/group_appender.hpp"

namespace beampipe::actors {

// What recovery read: the state folded from snapshot and events, or why it could not.
struct load_result {
  std::shared_ptr<domain::state_box> state;  // shared: CAF messages are copyable
  int64_t version = 0;
  int64_t last_position = 0;
  int64_t snapshot_version = 0;
  std::string error;
};

// A tick's result, back from the blocking thread it ran on (`error` set when it threw).
struct tick_done {
  uint64_t term = 0;
  int64_t token = 0;
  boost::json::object summary;
  std::string error;
  int64_t duration_ms = 0;  // how long the tick ran
};

// The group appender's answer to one append attempt (stale attempts are dropped by id).
struct appended_msg {
  store::append_result result;
  uint64_t attempt_id = 0;
};

// Why a command was not applied: the outcomes other than done and created, with their values
// (never 0, which CAF reads as no error).
enum class command_errc : uint8_t {
  invalid = static_cast<uint8_t>(outcome::invalid),
  unauthenticated = static_cast<uint8_t>(outcome::unauthenticated),
  not_found = static_cast<uint8_t>(outcome::not_found),
  conflict = static_cast<uint8_t>(outcome::conflict),
  invalid_document = static_cast<uint8_t>(outcome::invalid_document),
  unavailable = static_cast<uint8_t>(outcome::unavailable),
  timed_out = static_cast<uint8_t>(outcome::timed_out),
  failed = static_cast<uint8_t>(outcome::failed),
};
static_assert(static_cast<uint8_t>(outcome::done) == 0 &&
                  static_cast<uint8_t>(outcome::created) == 1,
              "the applied outcomes come first");

// A reply that is not ok() as the error that carries it, and back.
caf::error make_error(command_errc code, const command_reply& r);
caf::error command_error_of(const command_reply& r);
command_reply reply_of(const caf::error& e);
// The name CAF prints for the category (actor_system_config::add_error_category).
std::string render_command_error(uint8_t code, caf::atom_value, const caf::message& context);
inline constexpr caf::atom_value kCommandErrorCategory = caf::atom("command");

}  // namespace beampipe::actors

// Commands and replies cross the network between clustered nodes (issue #23): the body goes as
// its JSON text, the outcome as its number; both are checked when they arrive.
namespace beampipe::actors {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_request& x) {
  std::string body;
  if constexpr (!Inspector::writes_state) body = boost::json::serialize(x.cmd.body);
  auto loaded = caf::meta::load_callback([&]() -> caf::error {
    boost::json::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return caf::sec::invalid_argument;
    x.cmd.body = std::move(v.as_object());
    return caf::none;
  });
  return f(caf::meta::type_name("beampipe::command_request"), x.stream_id, x.cmd.name, body,
           x.cmd.actor, x.cmd.new_id, x.correlation_id, loaded);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_reply& x) {
  auto result = static_cast<uint8_t>(x.result);
  uint64_t appended = x.events_appended;
  auto loaded = caf::meta::load_callback([&]() -> caf::error {
    if (result > static_cast<uint8_t>(outcome::failed)) return caf::sec::invalid_argument;
    x.result = static_cast<outcome>(result);
    x.events_appended = static_cast<size_t>(appended);
    return caf::none;
  });
  return f(caf::meta::type_name("beampipe::command_reply"), result, x.code, x.message, x.field,
           x.details_json, x.stream_id, x.version, x.position, appended, x.not_applied, loaded);
}

}  // namespace beampipe::actors

// Local messages only (no std::function in any of them).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::load_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::appended_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(beampipe::actors::tick_done)

namespace beampipe::actors {

using cmd_atom = caf::atom_constant<caf::atom("cmd")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using appended_atom = caf::atom_constant<caf::atom("appended")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using resubmit_atom = caf::atom_constant<caf::atom("resubmit")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using released_atom = caf::atom_constant<caf::atom("released")>;
using scan_atom = caf::atom_constant<caf::atom("scan")>;
using scanned_atom = caf::atom_constant<caf::atom("scanned")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;

// One stream's aggregate: commands, and its own recovery and append messages.
using aggregate_actor =
    caf::typed_actor<caf::replies_to<cmd_atom, command_request>::with<command_reply>,
                     caf::reacts_to<loaded_atom, load_result>,
                     caf::reacts_to<appended_atom, appended_msg>, caf::reacts_to<retry_atom>,
                     caf::reacts_to<resubmit_atom>>;

// The node's registry: routes commands to aggregates it spawns on demand, counts what is in
// flight per stream (done), passivates idle ones (its own `idle` sweep, or `idle` naming a
// stream), and stops one stream (passivate) or all.
// `hello` is a cluster member (node, cluster address) introducing its own registry over the
// connection it opened here.
using registry_actor =
    caf::typed_actor<caf::replies_to<cmd_atom, command_request>::with<command_reply>,
                     caf::reacts_to<done_atom, std::string>, caf::reacts_to<idle_atom, std::string>,
                     caf::reacts_to<idle_atom>, caf::reacts_to<stop_atom, std::string>,
                     caf::reacts_to<stop_atom>,
                     caf::reacts_to<hello_atom, std::string, std::string, caf::strong_actor_ptr>>;

// The scheduler: `beat` holds the lease, `lease` brings its answer (token, 0 when another
// node holds it, error text when the database did not answer), `tick` starts a tick of a
// leadership term, `tick_done` brings its result, `released` ends a stop.
using scheduler_actor =
    caf::typed_actor<caf::reacts_to<beat_atom>, caf::reacts_to<lease_atom, int64_t, std::string>,
                     caf::reacts_to<tick_atom, uint64_t>, caf::reacts_to<tick_done>,
                     caf::reacts_to<released_atom>, caf::reacts_to<stop_atom>>;

// What every aggregate of a runtime shares: options, where appends go (the group appender's
// submit; tests wrap it), the pool and blocking threads for recovery and snapshots, and the
// live counts the runtime reports.
struct shared_ctx {
  runtime_options opts;
  std::function<void(store::append_request, store::group_appender::callback)> append;
  store::connection_pool* pool = nullptr;
  boost::asio::thread_pool* blocking = nullptr;
  std::atomic<size_t> live{0};
  std::atomic<size_t> recoveries{0};
  std::mutex kinds_mu;  // actor start/stop only: far from hot
  std::map<std::string, size_t> live_by_kind;
  // Clustered nodes: a member introduced its registry (hello).
  std::function<void(const std::string& node, const std::string& addr,
                     caf::strong_actor_ptr registry)>
      peer_hello;
};

registry_actor spawn_registry(caf::actor_system& sys, shared_ctx* ctx);
aggregate_actor spawn_aggregate(caf::local_actor* parent, shared_ctx* ctx,
                                const domain::aggregate_kind* kind, const std::string& stream_id,
                                registry_actor registry);

// `leading` mirrors whether the actor holds the lease (the façade's leading()).
scheduler_actor spawn_scheduler(caf::actor_system& sys, registry_actor registry, std::string node,
                                scheduler_options opts, scheduler_ports ports,
                                std::shared_ptr<std::atomic<bool>> leading);

// How long a stop waits for what an actor has out (ticks, steps, items: each bounded by its
// own deadlines) before it gives up on the actor.
inline constexpr std::chrono::milliseconds kStopGrace = std::chrono::minutes(3);

// Asks `actor` to stop (stop_atom) and waits up to `grace` for `ended` (set when it exits);
// past it, kills it. What it had out is then abandoned, its threads joined by the caller.
template <class Handle>
void stop_within(Handle actor, std::future<void> ended, std::chrono::milliseconds grace,
                 const std::string& what) {
  caf::anon_send(actor, stop_atom::value);
  if (ended.wait_for(grace) == std::future_status::ready) return;
  spdlog::warn("{}: still working after {} s; stopping it anyway", what,
               std::chrono::duration_cast<std::chrono::seconds>(grace).count());
  caf::anon_send_exit(actor, caf::exit_reason::kill);
}

// The runtime's actor system and registry, for actors spawned beside the aggregates.
struct runtime_access {
  static caf::actor_system& system(runtime& rt);
  static registry_actor registry(runtime& rt);
};

}  // namespace beampipe::actors

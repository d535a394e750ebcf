#pragma once
// The actor runtime seen from outside: a thread-safe facade, so that the API and the CLI
// never include CAF (only the actors' own translation units do, through actors/protocol.hpp,
// which keeps builds fast). Inside, a registry actor (registry_actor.cpp) spawns one aggregate
// actor (aggregate_actor.cpp) per stream on demand, delegates each command to it as a typed
// request, and passivates idle ones; aggregates recover from snapshot + events and append
// through the group appender. No blocking call runs on CAF's scheduler threads, and no caller
// blocks unless it asks to (send_sync, send_all).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/aggregates.hpp"
#include "store/database.hpp"
#include "store/db.hpp"
#include "store/group_appender.hpp"

namespace beampipe::actors {

struct runtime_access;

// How a command ended: applied, refused for a domain reason, or not decided at all.
enum class outcome {
  done,              // applied, or nothing was left to do
  created,           // applied, and its first events started the stream
  invalid,           // refused (domain::error_kind, same names)
  unauthenticated,   //
  not_found,         //
  conflict,          // (also: the stream kept changing under it)
  invalid_document,  // (also: the store refused an event no reader could read)
  unavailable,       // the store cannot be reached now: worth trying again
  timed_out,         // no answer within the caller's deadline
  failed,            // a broken rule or a store failure: a bug or an outage
};

inline outcome refused_as(domain::error_kind k) {
  switch (k) {
    case domain::error_kind::invalid:
      return outcome::invalid;
    case domain::error_kind::unauthenticated:
      return outcome::unauthenticated;
    case domain::error_kind::not_found:
      return outcome::not_found;
    case domain::error_kind::conflict:
      return outcome::conflict;
    case domain::error_kind::invalid_document:
      return outcome::invalid_document;
    case domain::error_kind::internal:
      break;
  }
  return outcome::failed;
}

struct command_reply {
  outcome result = outcome::failed;
  std::string code;  // error code when not applied
  std::string message;
  std::string field;
  std::string details_json;  // structured error details (e.g. validation diagnostics), JSON
  std::string stream_id;
  int64_t version = 0;         // stream version after the command
  int64_t position = 0;        // global position of the stream's last event (read-your-writes)
  size_t events_appended = 0;  // 0: the command changed nothing
  // Refused before anything was written (its shard is held elsewhere): safe to send again.
  bool not_applied = false;
  bool ok() const { return result == outcome::done || result == outcome::created; }
  // Not the caller's doing: the system could not decide (unavailable, timed out, failed).
  bool system_failure() const {
    return result == outcome::unavailable || result == outcome::timed_out ||
           result == outcome::failed;
  }
};

// The reply of a command whose aggregate did not answer in time.
command_reply timed_out_reply();

struct command_request {
  std::string stream_id;
  domain::command cmd;
  std::string correlation_id;
};

struct runtime_options {
  std::string node_id;
  size_t blocking_threads = 4;  // store reads for recovery, snapshots
  size_t caf_threads = 2;
  std::chrono::milliseconds idle_after{std::chrono::minutes(5)};
  int64_t snapshot_every = 50;  // events between aggregate snapshots
  size_t append_writers = 1;    // group-commit connections (streams are sharded over them)
  // Clustered nodes (issue #23): host:port the registry is published on for the other members
  // (CAF's middleman); empty: no network.
  std::string cluster_addr;
  // With all three PEM files, members talk over mutually authenticated TLS (caf::openssl): each
  // side's certificate must chain to the other's CA file.
  struct tls_files {
    std::string cert, key, ca;
    bool enabled() const { return !cert.empty(); }
  } cluster_tls;
  // How long a command whose shard is moving (or whose holder is not connected yet) waits for an
  // owner before it answers unavailable (503 shard_moved).
  std::chrono::milliseconds move_wait{std::chrono::seconds(10)};
};

struct runtime_stats {
  size_t live_aggregates = 0;
  std::map<std::string, size_t> live_by_kind;  // stream type -> live aggregates
  size_t recoveries = 0;
  size_t forwarded = 0;   // commands sent to another member's registry (clustered nodes)
  size_t move_waits = 0;  // commands that waited for their shard's owner
};

class runtime {
 public:
  // Aggregates load from the database's `aggregates` pool and append through `appender`
  // connections; `db` outlives the runtime.
  runtime(store::database& db, runtime_options opts);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Routes a command to its aggregate. `done` runs exactly once, on an actor thread, by
  // `deadline` at the latest (then with timed_out_reply()): keep it short (post the result
  // elsewhere).
  void send(command_request req, std::function<void(command_reply)> done,
            std::chrono::milliseconds deadline = std::chrono::minutes(5));
  // Sends every command at once, so commands to different streams share group commits;
  // `done` runs once with every reply in request order (a reply missing at `deadline` is
  // timed_out_reply()), on an actor thread.
  void send_each(std::vector<command_request> reqs,
                 std::function<void(std::vector<command_reply>)> done,
                 std::chrono::milliseconds deadline);
  // Blocking forms of send and send_each, for threads that may wait (workers, the CLI).
  command_reply send_sync(command_request req,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::vector<command_reply> send_all(std::vector<command_request> reqs,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Clustered nodes (issue #23): where a stream's appends may go. The function answers the
  // fence an append must carry (its shard's lease token), or none when this node does not hold
  // the shard, naming the holder in `holder` (empty while the shard moves); such an append is
  // refused at once as store_errc::fenced. Unset (a single node): every stream is local. Set it
  // before the first command.
  using placement_function = std::function<std::optional<store::shard_fence>(
      const std::string& stream_id, std::string& holder)>;
  void set_placement(placement_function f);
  // Whether this node holds the stream's shard now (always, on a single node): the workers and
  // the scheduler take only the work of streams placed here (issue #23).
  bool holds(const std::string& stream_id) const;
  bool clustered() const;  // a placement is set
  // Sees the round trip (seconds) of each forwarded command that was answered, on an actor
  // thread. Set it before the first command.
  void on_forwarded(std::function<void(double)> f);
  // The other members' registries, by node id and cluster address: starts connecting to new
  // ones (without blocking; each attempt ends by `timeout`) and forgets those no longer listed.
  // Of each pair of members, the smaller id connects and introduces itself, so a pair shares one
  // connection; `connect_all` (a joining node) connects to every member. A command whose shard
  // another member holds goes to that member's registry. Answers how many of the listed members
  // (other than this node) are connected now.
  size_t set_peers(const std::map<std::string, std::string>& members,
                   std::chrono::milliseconds timeout, bool connect_all = false);
  // Stops the stream's aggregate now (its state is rebuilt from the store on next use).
  void passivate(const std::string& stream_id);
  runtime_stats stats() const;
  store::group_appender& appender();
  store::connection_pool& pool();  // the database's `aggregates` pool
  const std::string& node_id() const;
  void shutdown();

 private:
  friend struct runtime_access;  // actors/protocol.hpp: the actor system, for other actors
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::actors

#pragma once
// Aggregate deciders: pure functions from (state, command) to events or a refusal, and
// from (state, event) to the next state. Actors host them; projections reuse the event
// shapes. State is a described struct; its JSON form is what snapshots store.
#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/catalog.hpp"
#include "events/codec.hpp"

namespace beampipe::domain {

struct command {
  std::string name;  // register | update | delete | create | cancel | transition
  boost::json::object body;
  std::string actor;  // "system:api", "user:<uuid>", ...
  // An id for whatever the command creates (a config revision, a profile, a discovery
  // request), given by the runtime once per command and kept across its retries: deciders make
  // up no ids, so they stay pure and a retried command names the same thing.
  std::string new_id{};
};

// Why a command was refused, in the domain's terms; the API answers each with one HTTP status
// (src/api/handler_support.cpp).
enum class error_kind {
  invalid,           // the command's input is wrong (a field, the body, an unknown command)
  unauthenticated,   // the credential it presents is not (or no longer) valid
  not_found,         // what it names does not exist
  conflict,          // the state does not allow it now
  invalid_document,  // a document it carries (a project config) does not validate
  internal,          // the caller broke a rule of the runtime (a bug, not the user's input)
};

struct command_error {
  error_kind kind = error_kind::invalid;
  std::string code;                      // stable snake_case code
  std::string message;                   // human text
  std::string field;                     // offending field, when one is to blame
  boost::json::value details = nullptr;  // e.g. validation diagnostics
};

using events::pending_event;

struct decision {
  std::vector<pending_event> events;
  std::optional<command_error> error;
};

// A live aggregate's state as its typed struct, behind a box the runtime holds without knowing
// the type: an actor decides and folds on it directly, and serialises it only for snapshots.
struct state_box {
  virtual ~state_box() = default;
};
template <class State>
struct typed_state_box final : state_box {
  State value;
};

struct aggregate_kind {
  const char* stream_type;
  // The state as its JSON form (tests, tools, snapshots): each call decodes and encodes.
  boost::json::object (*initial)();
  void (*apply)(boost::json::object& state, std::string_view type, const boost::json::object& data,
                std::string_view recorded_at);
  decision (*decide)(const boost::json::object& state, std::string_view stream_id,
                     const command& cmd);
  // The shape of `state`, stored with its snapshots. Raise it whenever apply() changes what it
  // keeps: snapshots of another version are ignored and the state is rebuilt from events.
  int state_version = 1;
  // The same operations on the boxed state, as the actors hold it (no JSON per command).
  // make_state(nullptr) is the initial state; from a snapshot's JSON it throws when that is
  // not a state this build can decide on.
  std::unique_ptr<state_box> (*make_state)(const boost::json::object* from) = nullptr;
  boost::json::object (*state_json)(const state_box& state) = nullptr;
  void (*fold)(state_box& state, std::string_view type, const boost::json::object& data,
               std::string_view recorded_at) = nullptr;
  decision (*decide_on)(const state_box& state, std::string_view stream_id,
                        const command& cmd) = nullptr;
};

// An aggregate whose state is a described struct (issue #18): snapshotted as the struct's
// JSON form, folded by `Evolve` (given the event's recorded_at when it takes one), decided by
// `Decide`; a snapshot that does not decode as `State` is refused.
template <class State, auto Evolve, auto Decide>
aggregate_kind typed_aggregate(const char* stream_type, int state_version) {
  using box = typed_state_box<State>;
  static constexpr auto evolve = [](State& s, std::string_view type, const boost::json::object& d,
                                    std::string_view recorded_at) {
    if constexpr (std::is_invocable_v<decltype(Evolve), State&, std::string_view,
                                      const boost::json::object&, std::string_view>)
      Evolve(s, type, d, recorded_at);
    else
      Evolve(s, type, d);
  };
  return {stream_type,
          [] { return events::encode(State{}); },
          [](boost::json::object& state, std::string_view type, const boost::json::object& d,
             std::string_view recorded_at) {
            // The state is replaced: its documents (a run's manifest, its lookups) move into
            // the struct and back rather than being copied twice per event.
            auto s = events::decode_taking<State>(state);
            evolve(s, type, d, recorded_at);
            state = events::encode_taking(s);
          },
          [](const boost::json::object& state, std::string_view stream_id, const command& c) {
            return Decide(events::decode_as<State>(state), stream_id, c);
          },
          state_version,
          [](const boost::json::object* from) -> std::unique_ptr<state_box> {
            auto b = std::make_unique<box>();
            if (from) b->value = events::decode_as<State>(*from);
            return b;
          },
          [](const state_box& b) { return events::encode(static_cast<const box&>(b).value); },
          [](state_box& b, std::string_view type, const boost::json::object& d,
             std::string_view recorded_at) {
            evolve(static_cast<box&>(b).value, type, d, recorded_at);
          },
          [](const state_box& b, std::string_view stream_id, const command& c) {
            return Decide(static_cast<const box&>(b).value, stream_id, c);
          }};
}

const aggregate_kind& source_aggregate();
const aggregate_kind& execution_aggregate();
const aggregate_kind& project_aggregate();           // stream "project-<metadata.id>"
const aggregate_kind& profile_registry_aggregate();  // stream "profiles-registry"
const aggregate_kind& scheduler_aggregate();         // stream "scheduler-<lease name>"
const aggregate_kind& user_aggregate();              // stream "user-<user_uuid(username)>"
const aggregate_kind& auth_session_aggregate();      // stream "session-<token family>"
const aggregate_kind& channel_registry_aggregate();  // stream "channels-registry"
const aggregate_kind& alert_rule_aggregate();        // stream "alertrule-<uuid>"
const aggregate_kind& alert_delivery_aggregate();    // stream "delivery-<uuid>"
const aggregate_kind& worker_aggregate();            // stream worker_stream_id(worker id)
const aggregate_kind& maintenance_aggregate();       // stream kMaintenanceStream
const aggregate_kind* aggregate_for_stream_type(std::string_view stream_type);

// Reads and checks the (project_module, source_identifier) pair of a source command:
// trimmed, non-empty, at most 50 / 100 bytes, no control characters.
std::optional<command_error> parse_source_key(const boost::json::object& body,
                                              std::string& project_module,
                                              std::string& source_identifier);

// A source's stream is derived from its (project module, identifier), so registering the
// same pair twice reaches the same aggregate: uniqueness without a cross-stream index.
std::string source_uuid(std::string_view project_module, std::string_view source_identifier);
std::string source_stream_id(std::string_view source_uuid);
// Users are keyed by their lower-cased username, so the stream itself makes it unique.
std::string user_uuid(std::string_view username);
std::string user_stream_id(std::string_view user_uuid);
std::string auth_session_stream_id(std::string_view family);
// A worker is named by its node id (BEAMPIPE_NODE_ID, else <host>-<pid>) or the id it
// registered with; its stream is keyed by a name-based uuid of it.
inline constexpr size_t kMaxWorkerIdBytes = 200;
std::string worker_stream_id(std::string_view worker_id);
std::string execution_stream_id(std::string_view execution_uuid);
std::string project_stream_id(std::string_view project_id);
// All deployment profiles live in one stream: names are unique and each scope has at most
// one default, and a single aggregate can check both atomically. Profiles are few.
inline constexpr const char* kProfileRegistryStream = "profiles-registry";
// The scheduler's stream: its ticks, each stamped with the lease token it ran under.
inline constexpr const char* kSchedulerStream = "scheduler-main";
// Notification channels share one stream for the same reason as profiles: unique names.
inline constexpr const char* kChannelRegistryStream = "channels-registry";
// Read-model retention an operator asked for (provenance purges).
inline constexpr const char* kMaintenanceStream = "maintenance-provenance";
std::string alert_rule_stream_id(std::string_view rule_uuid);
std::string alert_delivery_stream_id(std::string_view delivery_uuid);
// A firing's deliveries: one per channel, its id derived so a re-sent firing names the same.
std::string alert_delivery_id(std::string_view firing_id, std::string_view channel_id);
// A trigger-driven firing's id: the same (rule, trigger) always names the same firing.
std::string alert_firing_id(std::string_view rule_uuid, std::string_view trigger_id);

}  // namespace beampipe::domain

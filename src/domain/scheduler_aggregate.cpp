// The scheduler aggregate: records each tick of the elected scheduler and what it admitted.
// Fencing happens here: a tick carries the lease token it ran under, and a token older than
// the newest one seen is refused, so a former leader that resumes after losing its lease
// (a long GC pause, a frozen VM) cannot record anything. Typed like the source aggregate.
#include <algorithm>
#include <optional>
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/scheduler.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace ev = beampipe::events;
using namespace cmd;

namespace {

// 2: the typed state (issue #18). Version-1 snapshots are ignored and rebuilt from events.
constexpr int kStateVersion = 2;

struct scheduler_state {
  int64_t max_token = 0;  // the newest lease token a tick ran under
  int64_t ticks = 0;
  std::string leader;  // the node of the last tick
};
BOOST_DESCRIBE_STRUCT(scheduler_state, (), (max_token, ticks, leader))

// The one command: record a tick.
struct record_tick {
  int64_t lease_token = 0;
  std::string node;
  json::value discovery, execution;
  std::optional<int64_t> duration_ms;
};

std::variant<record_tick, command_error> decode(const command& c) {
  if (c.name != "tick")
    return command_error{error_kind::invalid, "unknown_command",
                         "unknown scheduler command " + c.name, ""};
  record_tick t;
  auto it = c.body.find("lease_token");
  if (it == c.body.end() || !it->value().is_int64() || it->value().as_int64() < 1)
    return bad("lease_token", "lease_token must be a positive integer");
  t.lease_token = it->value().as_int64();
  if (auto e = required_text(c.body, "node", 200, t.node)) return *e;
  if (auto d = c.body.find("duration_ms"); d != c.body.end() && !d->value().is_null()) {
    if (!d->value().is_int64() || d->value().as_int64() < 0)
      return bad("duration_ms", "duration_ms must be a non-negative integer");
    t.duration_ms = d->value().as_int64();
  }
  t.discovery = at_or_null(c.body, "discovery");
  t.execution = at_or_null(c.body, "execution");
  return t;
}

decision scheduler_decide(const scheduler_state& s, std::string_view, const command& c) {
  auto decoded = decode(c);
  if (auto* e = std::get_if<command_error>(&decoded)) return {{}, *e};
  auto& t = std::get<record_tick>(decoded);
  if (t.lease_token < s.max_token)
    return {
        {},
        conflict("fenced", "lease token " + std::to_string(t.lease_token) + " is older than " +
                               std::to_string(s.max_token) + "; another node leads the scheduler")};
  ev::scheduler_ticked e{t.lease_token,          t.node, s.ticks + 1, std::move(t.discovery),
                         std::move(t.execution), {}};
  if (t.duration_ms) e.duration_ms = *t.duration_ms;
  return {{ev::make(e)}, std::nullopt};
}

void evolve(scheduler_state& s, std::string_view type, const json::object& d) {
  if (type != ev::type::scheduler_ticked) return;
  auto e = ev::decode_as<ev::scheduler_ticked>(d);
  s.max_token = std::max(s.max_token, e.lease_token);
  s.ticks += 1;
  s.leader = e.node;
}

}  // namespace

const aggregate_kind& scheduler_aggregate() {
  static const aggregate_kind k = typed_aggregate<scheduler_state, evolve, scheduler_decide>(
      ev::stream::scheduler, kStateVersion);
  return k;
}

}  // namespace beampipe::domain

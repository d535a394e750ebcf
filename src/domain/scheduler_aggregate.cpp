// The scheduler aggregate: records each tick of the elected scheduler and what it admitted.
// Fencing happens here: a tick carries the lease token it ran under, and a token older than
// the newest one seen is refused, so a former leader that resumes after losing its lease
// (a long GC pause, a frozen VM) cannot record anything.
#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/types.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace et = beampipe::events::type;
using namespace cmd;

namespace {

json::object scheduler_initial() { return json::object{{"max_token", 0}, {"ticks", 0}}; }

void scheduler_apply(json::object& s, std::string_view type, const json::object& d,
                     std::string_view) {
  if (type != et::scheduler_ticked) return;
  auto token = d.at("lease_token").as_int64();
  if (token > s.at("max_token").as_int64()) s["max_token"] = token;
  s["ticks"] = s.at("ticks").as_int64() + 1;
  s["leader"] = d.at("node");
}

decision scheduler_decide(const json::object& s, std::string_view, const command& c) {
  if (c.name != "tick")
    return {{},
            command_error{error_kind::invalid, "unknown_command",
                          "unknown scheduler command " + c.name, ""}};
  auto it = c.body.find("lease_token");
  if (it == c.body.end() || !it->value().is_int64() || it->value().as_int64() < 1)
    return {{}, bad("lease_token", "lease_token must be a positive integer")};
  auto token = it->value().as_int64();
  if (token < s.at("max_token").as_int64())
    return {{},
            conflict("fenced", "lease token " + std::to_string(token) + " is older than " +
                                   std::to_string(s.at("max_token").as_int64()) +
                                   "; another node leads the scheduler")};
  std::string node;
  if (auto e = required_text(c.body, "node", 200, node)) return {{}, e};
  json::object data{{"lease_token", token},
                    {"node", node},
                    {"tick", s.at("ticks").as_int64() + 1},
                    {"discovery", at_or_null(c.body, "discovery")},
                    {"execution", at_or_null(c.body, "execution")}};
  decision d;
  d.events.push_back({et::scheduler_ticked, std::move(data)});
  return d;
}

}  // namespace

const aggregate_kind& scheduler_aggregate() {
  static const aggregate_kind k{events::stream::scheduler, scheduler_initial, scheduler_apply,
                                scheduler_decide};
  return k;
}

}  // namespace beampipe::domain

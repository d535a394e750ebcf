// The maintenance aggregate (issue #21): read-model retention an operator asks for. A purge of
// provenance rows older than a time is an event, so a rebuild drops the same rows again and
// the purge itself stays on record. The time must not be later than when it was asked.
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/maintenance.hpp"
#include "util/time.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace ev = beampipe::events;
using namespace cmd;

namespace {

constexpr int kStateVersion = 1;

struct maintenance_state {
  int64_t purges = 0;
};
BOOST_DESCRIBE_STRUCT(maintenance_state, (), (purges))

struct purge_provenance {
  std::string before, project_module, reason;
};

std::string rfc3339_field(const json::object& b, const char* field) {
  auto text = required(b, field, 64);
  auto t = util::parse_rfc3339(text);
  if (!t) throw refusal{bad(field, std::string(field) + " must be an RFC 3339 time")};
  return util::to_rfc3339(*t);
}

purge_provenance decode(const command& c) {
  if (c.name != "purge_provenance")
    throw refusal{
        {error_kind::invalid, "unknown_command", "unknown maintenance command " + c.name, ""}};
  purge_provenance p;
  p.before = rfc3339_field(c.body, "before");
  auto asked = rfc3339_field(c.body, "requested_at");
  if (*util::parse_rfc3339(p.before) > *util::parse_rfc3339(asked))
    throw refusal{bad("before", "before must not be in the future")};
  check(optional_text(c.body, "project_module", 50, p.project_module));
  check(optional_text(c.body, "reason", 1000, p.reason));
  return p;
}

decision maintenance_decide(const maintenance_state&, std::string_view stream_id,
                            const command& c) {
  try {
    if (stream_id != kMaintenanceStream)
      throw refusal{{error_kind::invalid, "wrong_stream",
                     "command routed to the wrong maintenance stream", ""}};
    auto p = decode(c);
    return {{ev::make(ev::provenance_purged{p.before, p.project_module, p.reason})}, std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void evolve(maintenance_state& s, std::string_view type, const json::object&) {
  if (type == ev::type::provenance_purged) ++s.purges;
}

}  // namespace

const aggregate_kind& maintenance_aggregate() {
  static const aggregate_kind k = typed_aggregate<maintenance_state, evolve, maintenance_decide>(
      ev::stream::maintenance, kStateVersion);
  return k;
}

}  // namespace beampipe::domain

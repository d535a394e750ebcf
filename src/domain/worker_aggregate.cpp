// The worker aggregate (issue #21, spec §9.5): an operator drains a worker (it claims no new
// job and finishes what it holds) and resumes it. One stream per worker id; draining a
// draining worker, or resuming an active one, records nothing.
#include <variant>

#include "domain/aggregates.hpp"
#include "domain/command_support.hpp"
#include "events/workers.hpp"
#include "util/ids.hpp"

namespace beampipe::domain {
namespace json = boost::json;
namespace ev = beampipe::events;
using namespace cmd;

namespace {

constexpr const char* kWorkerNamespace = "5b0d8e3a-91c4-4f27-b6e2-7a3c9d1f0e58";
constexpr int kStateVersion = 1;

struct worker_state {
  bool draining = false;
  std::string worker_id;
};
BOOST_DESCRIBE_STRUCT(worker_state, (), (draining, worker_id))

struct drain_worker {
  std::string worker_id, reason;
};
struct resume_worker {
  std::string worker_id;
};
using worker_command = std::variant<drain_worker, resume_worker>;

worker_command decode(const command& c) {
  const auto& b = c.body;
  auto id = required(b, "worker_id", kMaxWorkerIdBytes);
  if (c.name == "drain") {
    std::string reason;
    check(optional_text(b, "reason", 1000, reason));
    return drain_worker{id, reason};
  }
  if (c.name == "resume") return resume_worker{id};
  throw refusal{{error_kind::invalid, "unknown_command", "unknown worker command " + c.name, ""}};
}

using events_out = std::vector<pending_event>;

struct decider {
  const worker_state& s;
  std::string_view stream_id;

  void check_stream(const std::string& id) const {
    if (worker_stream_id(id) != stream_id)
      throw refusal{
          {error_kind::invalid, "wrong_stream", "command routed to the wrong worker stream", ""}};
  }
  events_out operator()(const drain_worker& c) const {
    check_stream(c.worker_id);
    if (s.draining) return {};
    return {ev::make(ev::worker_drained{c.worker_id, c.reason})};
  }
  events_out operator()(const resume_worker& c) const {
    check_stream(c.worker_id);
    if (!s.draining) return {};
    return {ev::make(ev::worker_resumed{c.worker_id})};
  }
};

decision worker_decide(const worker_state& s, std::string_view stream_id, const command& c) {
  try {
    return {std::visit(decider{s, stream_id}, decode(c)), std::nullopt};
  } catch (const refusal& r) {
    return {{}, r.error};
  }
}

void evolve(worker_state& s, std::string_view type, const json::object& d) {
  if (type == ev::type::worker_drained) {
    s.draining = true;
    s.worker_id = ev::decode_as<ev::worker_drained>(d).worker_id;
  } else if (type == ev::type::worker_resumed) {
    s.draining = false;
  }
}

}  // namespace

const aggregate_kind& worker_aggregate() {
  static const aggregate_kind k =
      typed_aggregate<worker_state, evolve, worker_decide>(ev::stream::worker, kStateVersion);
  return k;
}

std::string worker_stream_id(std::string_view worker_id) {
  return "worker-" + util::uuid_v5(kWorkerNamespace, worker_id);
}

}  // namespace beampipe::domain

#include "domain/aggregates.hpp"

#include "events/types.hpp"
#include "util/ids.hpp"

namespace beampipe::domain {
namespace {

// Namespace for name-based source ids (a fixed, random UUID: changing it re-keys every source).
constexpr const char* kSourceNamespace = "8f3c2b1e-5d4a-4e7b-9c6d-2a1b0e9f8d7c";

}  // namespace

const aggregate_kind* aggregate_for_stream_type(std::string_view t) {
  if (t == events::stream::source) return &source_aggregate();
  if (t == events::stream::execution) return &execution_aggregate();
  if (t == events::stream::project) return &project_aggregate();
  if (t == events::stream::profiles) return &profile_registry_aggregate();
  if (t == events::stream::scheduler) return &scheduler_aggregate();
  if (t == events::stream::user) return &user_aggregate();
  if (t == events::stream::session) return &auth_session_aggregate();
  if (t == events::stream::channels) return &channel_registry_aggregate();
  if (t == events::stream::alert_rule) return &alert_rule_aggregate();
  if (t == events::stream::delivery) return &alert_delivery_aggregate();
  if (t == events::stream::worker) return &worker_aggregate();
  if (t == events::stream::maintenance) return &maintenance_aggregate();
  return nullptr;
}

std::string source_uuid(std::string_view project_module, std::string_view source_identifier) {
  std::string name(project_module);
  name.push_back('\x1f');  // unit separator: cannot occur in either part (control chars refused)
  name.append(source_identifier);
  return util::uuid_v5(kSourceNamespace, name);
}

std::string source_stream_id(std::string_view uuid) { return "source-" + std::string(uuid); }
std::string execution_stream_id(std::string_view uuid) { return "execution-" + std::string(uuid); }
std::string project_stream_id(std::string_view project_id) {
  return "project-" + std::string(project_id);
}

}  // namespace beampipe::domain

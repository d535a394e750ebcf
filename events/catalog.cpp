#include "events/catalog.hpp"

#include <boost/mp11.hpp>
#include <map>
#include <utility>

#include "events/alerting.hpp"
#include "events/envelope.hpp"
#include "events/execution.hpp"
#include "events/execution_upcast.hpp"
#include "events/maintenance.hpp"
#include "events/project.hpp"
#include "events/scheduler.hpp"
#include "events/source.hpp"
#include "events/users.hpp"
#include "events/validity.hpp"
#include "events/workers.hpp"

namespace beampipe::events {
namespace json = boost::json;

namespace {

using all_events = boost::mp11::mp_list<
    // source
    source_registered, source_enabled_changed, source_stale_after_changed, source_deleted,
    discovery_requested, discovery_requeued, discovery_completed, discovery_failed,
    discovery_attempt_failed, source_pending_cleared, source_execution_finished,
    // execution
    execution_created, execution_execute_requested, execution_started, execution_manifest_prepared,
    execution_not_submitted, submission_intended, submission_recorded, submission_uncertain,
    execution_failed, execution_observed, execution_cancel_requested, execution_cancelled,
    execution_retry_requested, submission_abandoned, execution_outputs_verified,
    execution_sources_finalized, execution_cancel_unconfirmed, submission_redeploy_intended,
    // project and profiles
    project_config_uploaded, project_config_activated, project_wasm_uploaded, profile_created,
    profile_updated, profile_deleted,
    // scheduler
    scheduler_ticked,
    // users and sign-in sessions
    user_created, user_password_changed, user_disabled, session_started, session_refreshed,
    session_revoked,
    // alerting
    channel_created, channel_updated, channel_deleted, alert_rule_created, alert_rule_updated,
    alert_rule_deleted, alert_fired, alert_suppressed, alert_delivery_attempted,
    // workers
    worker_drained, worker_resumed,
    // maintenance
    provenance_purged>;

struct registry {
  std::vector<event_kind> kinds;
  std::map<std::string_view, std::size_t, std::less<>> by_type;
  std::map<std::pair<std::string, int>, upcaster, std::less<>> upcasters;

  registry() {
    boost::mp11::mp_for_each<boost::mp11::mp_transform<boost::mp11::mp_identity, all_events>>(
        [this](auto id) {
          using E = typename decltype(id)::type;
          kinds.push_back({E::kType, E::kVersion, [](const json::object& d) { check_as<E>(d); }});
        });
    for (std::size_t i = 0; i < kinds.size(); ++i) by_type.emplace(kinds[i].type, i);
    // Upcasters, one per (type, from_version).
    for (auto [type, up] : execution_v1_upcasters())
      upcasters.emplace(std::pair{std::string(type), 1}, up);
  }
};

const registry& reg() {
  static const registry r;
  return r;
}

}  // namespace

const event_kind* find_kind(std::string_view type) {
  const auto& r = reg();
  auto it = r.by_type.find(type);
  return it == r.by_type.end() ? nullptr : &r.kinds[it->second];
}

const std::vector<event_kind>& all_kinds() { return reg().kinds; }

json::object decode(std::string_view type, int schema_version, json::object data) {
  const auto* kind = find_kind(type);
  if (!kind) throw unreadable_event("unknown event type " + std::string(type));
  if (schema_version < 1 || schema_version > kind->version)
    throw unreadable_event(
        std::string(type) + " version " + std::to_string(schema_version) +
        " is not one this build reads (current: " + std::to_string(kind->version) + ")");
  const auto& ups = reg().upcasters;
  for (int v = schema_version; v < kind->version; ++v) {
    auto it = ups.find(std::pair<std::string, int>(std::string(type), v));
    if (it == ups.end())
      throw unreadable_event("no upcaster for " + std::string(type) + " version " +
                             std::to_string(v));
    it->second(data);
  }
  try {
    kind->check(data);
  } catch (const decode_error& e) {
    throw unreadable_event(std::string(type) + " v" + std::to_string(schema_version) + ": " +
                           e.what());
  }
  return data;
}

json::object decode(const recorded_event& e) {
  return decode(e.type, e.schema_version, parse_payload(e.data));
}

std::string append_problem(std::string_view type, int schema_version, const json::object& data) {
  const auto* kind = find_kind(type);
  if (!kind) return "unknown event type " + std::string(type);
  if (schema_version != kind->version)
    return std::string(type) + " is written at version " + std::to_string(kind->version) +
           ", not " + std::to_string(schema_version);
  try {
    kind->check(data);
  } catch (const decode_error& e) {
    return std::string(type) + ": " + e.what();
  }
  return {};
}

std::string prepare_append(pending_event& e) {
  if (e.schema_version == 0)
    if (const auto* kind = find_kind(e.type)) e.schema_version = kind->version;
  return append_problem(e.type, e.schema_version, e.data);
}

}  // namespace beampipe::events

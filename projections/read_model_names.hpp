#pragma once
// The names of the read models (projections), as checkpoints, dead letters and the API's
// read declarations use them. A route waits for `?min_position` only on the read models it
// names here, so a lagging model elsewhere does not delay it.
#include <string>
#include <vector>

namespace beampipe::projections::model {

inline constexpr const char* source_registry = "source_registry";
inline constexpr const char* archive_metadata = "archive_metadata";
inline constexpr const char* execution_ledger = "batch_execution_record";
inline constexpr const char* execution_details = "execution_details";
inline constexpr const char* provenance = "provenance_events";
inline constexpr const char* jobs = "jobs";
inline constexpr const char* project_configs = "project_configs";
inline constexpr const char* project_wasm = "project_config_wasm";
inline constexpr const char* deployment_profiles = "daliuge_deployment_profile";
inline constexpr const char* users = "users";
inline constexpr const char* auth_sessions = "auth_sessions";
inline constexpr const char* notification_channels = "notification_channels";
inline constexpr const char* alert_rules = "alert_rules";
inline constexpr const char* alert_deliveries = "alert_deliveries";
inline constexpr const char* alert_triggers = "alert_triggers";
inline constexpr const char* worker_drains = "worker_drains";

using set = std::vector<std::string>;

}  // namespace beampipe::projections::model

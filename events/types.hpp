#pragma once
// Stable event type names. A name never changes meaning; a changed shape gets a new
// schema_version and an upcaster (events/upcast.hpp).
namespace beampipe::events::type {

inline constexpr const char* source_registered = "SourceRegistered";
inline constexpr const char* source_enabled_changed = "SourceEnabledChanged";
inline constexpr const char* source_stale_after_changed = "SourceStaleAfterChanged";
inline constexpr const char* source_deleted = "SourceDeleted";
inline constexpr const char* discovery_requested = "DiscoveryRequested";
inline constexpr const char* discovery_completed = "DiscoveryCompleted";
inline constexpr const char* discovery_failed = "DiscoveryFailed";

inline constexpr const char* execution_created = "ExecutionCreated";
inline constexpr const char* execution_status_changed = "ExecutionStatusChanged";
inline constexpr const char* execution_cancelled = "ExecutionCancelled";

inline constexpr const char* project_config_uploaded = "ProjectConfigUploaded";
inline constexpr const char* project_config_activated = "ProjectConfigActivated";

inline constexpr const char* profile_created = "DeploymentProfileCreated";
inline constexpr const char* profile_updated = "DeploymentProfileUpdated";
inline constexpr const char* profile_deleted = "DeploymentProfileDeleted";

}  // namespace beampipe::events::type

namespace beampipe::events::stream {
inline constexpr const char* source = "source";
inline constexpr const char* execution = "execution";
inline constexpr const char* project = "project";
inline constexpr const char* profiles = "profiles";
}  // namespace beampipe::events::stream

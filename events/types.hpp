#pragma once
// Stable event type names. A name never changes meaning; a changed shape gets a new
// schema_version and an upcaster (events/upcast.hpp).
namespace beampipe::events::type {

inline constexpr const char* source_registered = "SourceRegistered";
inline constexpr const char* source_enabled_changed = "SourceEnabledChanged";
inline constexpr const char* source_stale_after_changed = "SourceStaleAfterChanged";
inline constexpr const char* source_deleted = "SourceDeleted";

inline constexpr const char* execution_created = "ExecutionCreated";
inline constexpr const char* execution_status_changed = "ExecutionStatusChanged";
inline constexpr const char* execution_cancelled = "ExecutionCancelled";

}  // namespace beampipe::events::type

namespace beampipe::events::stream {
inline constexpr const char* source = "source";
inline constexpr const char* execution = "execution";
}  // namespace beampipe::events::stream

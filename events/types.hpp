#pragma once
// Stable event type names. A name never changes meaning; a changed shape gets a new
// schema_version and an upcaster (events/catalog.cpp); each type's struct is in
// events/<aggregate>.hpp.
#include <string_view>

namespace beampipe::events::type {

inline constexpr const char* source_registered = "SourceRegistered";
inline constexpr const char* source_enabled_changed = "SourceEnabledChanged";
inline constexpr const char* source_stale_after_changed = "SourceStaleAfterChanged";
inline constexpr const char* source_deleted = "SourceDeleted";
inline constexpr const char* discovery_requested = "DiscoveryRequested";
inline constexpr const char* discovery_completed = "DiscoveryCompleted";
inline constexpr const char* discovery_failed = "DiscoveryFailed";
// A retryable failure of one attempt; the request stays open and runs again at retry_at.
inline constexpr const char* discovery_attempt_failed = "DiscoveryAttemptFailed";
// An operator reopened a failed or dead-lettered request.
inline constexpr const char* discovery_requeued = "DiscoveryRequeued";
inline constexpr const char* source_execution_finished = "SourceExecutionFinished";
inline constexpr const char* source_pending_cleared = "SourcePendingCleared";

inline constexpr const char* execution_created = "ExecutionCreated";
inline constexpr const char* execution_execute_requested = "ExecutionExecuteRequested";
inline constexpr const char* execution_started = "ExecutionStarted";
inline constexpr const char* execution_manifest_prepared = "ExecutionManifestPrepared";
inline constexpr const char* execution_not_submitted = "ExecutionNotSubmitted";
inline constexpr const char* submission_intended = "SubmissionIntended";
inline constexpr const char* submission_recorded = "SubmissionRecorded";
inline constexpr const char* submission_uncertain = "SubmissionUncertain";
inline constexpr const char* execution_failed = "ExecutionFailed";
inline constexpr const char* execution_observed = "ExecutionObserved";
inline constexpr const char* execution_cancel_requested = "ExecutionCancelRequested";
inline constexpr const char* execution_cancelled = "ExecutionCancelled";
inline constexpr const char* execution_retry_requested = "ExecutionRetryRequested";
inline constexpr const char* submission_abandoned = "SubmissionAbandoned";
inline constexpr const char* execution_outputs_verified = "ExecutionOutputsVerified";
inline constexpr const char* execution_sources_finalized = "ExecutionSourcesFinalized";
// Issue #17: a cancel the backend never confirmed is withdrawn after its last attempt.
inline constexpr const char* execution_cancel_unconfirmed = "ExecutionCancelUnconfirmed";
// Issue #17: a DALiuGE session found built but not deployed is deployed again, once.
inline constexpr const char* submission_redeploy_intended = "SubmissionRedeployIntended";

// The execution events: facts (events/execution.hpp) that domain/ledger.hpp folds into the
// ledger row, for the aggregate and the read model alike.
inline bool is_execution_event(std::string_view t) {
  for (const char* x :
       {execution_created, execution_execute_requested, execution_started,
        execution_manifest_prepared, execution_not_submitted, submission_intended,
        submission_recorded, submission_uncertain, execution_failed, execution_observed,
        execution_cancel_requested, execution_cancelled, execution_retry_requested,
        submission_abandoned, execution_outputs_verified, execution_sources_finalized,
        execution_cancel_unconfirmed, submission_redeploy_intended})
    if (t == x) return true;
  return false;
}

inline constexpr const char* project_config_uploaded = "ProjectConfigUploaded";
inline constexpr const char* project_config_activated = "ProjectConfigActivated";
// A WASM hook module stored for a project (its bytes are a content-addressed artifact).
inline constexpr const char* project_wasm_uploaded = "ProjectWasmUploaded";

inline constexpr const char* profile_created = "DeploymentProfileCreated";
inline constexpr const char* profile_updated = "DeploymentProfileUpdated";
inline constexpr const char* profile_deleted = "DeploymentProfileDeleted";

inline constexpr const char* scheduler_ticked = "SchedulerTicked";

// Users (issue #7). No event carries a password or its hash: credentials are operational
// state (user_credentials), never part of the replayable history.
inline constexpr const char* user_created = "UserCreated";
inline constexpr const char* user_password_changed = "UserPasswordChanged";
inline constexpr const char* user_disabled = "UserDisabled";

// Sign-in sessions (token families). Token ids only, never a token.
inline constexpr const char* session_started = "SessionStarted";
inline constexpr const char* session_refreshed = "SessionRefreshed";
inline constexpr const char* session_revoked = "SessionRevoked";

// Alerting (issue #8, spec §1.8, §3.9). A channel's secrets (webhook URL path, header
// values, routing keys) are operational state (notification_channel_secrets): events carry
// the masked config only.
inline constexpr const char* channel_created = "NotificationChannelCreated";
inline constexpr const char* channel_updated = "NotificationChannelUpdated";
inline constexpr const char* channel_deleted = "NotificationChannelDeleted";
inline constexpr const char* alert_rule_created = "AlertRuleCreated";
inline constexpr const char* alert_rule_updated = "AlertRuleUpdated";
inline constexpr const char* alert_rule_deleted = "AlertRuleDeleted";
// A rule fired: the alert payload and one delivery per channel (ids derived from the firing).
inline constexpr const char* alert_fired = "AlertFired";
// A trigger met the rule in its cooldown: recorded so the trigger counts as handled.
inline constexpr const char* alert_suppressed = "AlertSuppressed";
// One attempt to deliver an alert to a channel: sent, to be retried at a time, or failed.
inline constexpr const char* alert_delivery_attempted = "AlertDeliveryAttempted";

// Workers (issue #21): an operator drained a worker, or resumed it.
inline constexpr const char* worker_drained = "WorkerDrained";
inline constexpr const char* worker_resumed = "WorkerResumed";

// Read-model retention (issue #21): provenance rows older than a time are dropped from the
// read model; the events stay. Replaying it drops the same rows again.
inline constexpr const char* provenance_purged = "ProvenancePurged";

}  // namespace beampipe::events::type

namespace beampipe::events::stream {
inline constexpr const char* source = "source";
inline constexpr const char* execution = "execution";
inline constexpr const char* project = "project";
inline constexpr const char* profiles = "profiles";
inline constexpr const char* scheduler = "scheduler";
inline constexpr const char* user = "user";
inline constexpr const char* session = "session";
inline constexpr const char* channels = "channels";
inline constexpr const char* alert_rule = "alertrule";
inline constexpr const char* delivery = "delivery";
inline constexpr const char* worker = "worker";
inline constexpr const char* maintenance = "maintenance";
}  // namespace beampipe::events::stream

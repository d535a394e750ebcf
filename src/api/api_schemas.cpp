#include "api/api_schemas.hpp"

namespace beampipe::api {
namespace json = boost::json;

namespace {

// ------------------------------------------------------------------ schema building blocks

json::object typed(const char* type, const char* format = nullptr, bool nullable = false) {
  json::object o{{"type", type}};
  if (format) o["format"] = format;
  if (nullable) o["nullable"] = true;
  return o;
}
json::object str() { return typed("string"); }
json::object nstr() { return typed("string", nullptr, true); }
json::object uuid() { return typed("string", "uuid"); }
json::object nuuid() { return typed("string", "uuid", true); }
json::object ts() { return typed("string", "date-time"); }
json::object nts() { return typed("string", "date-time", true); }
json::object i64() { return typed("integer", "int64"); }
json::object ni64() { return typed("integer", "int64", true); }
json::object nnum() { return typed("number", "double", true); }
json::object boolean() { return typed("boolean"); }
json::object nboolean() { return typed("boolean", nullptr, true); }
json::object sha256() {
  auto o = str();
  o["description"] = "SHA-256, lower-case hex";
  return o;
}
json::object nsha256() {
  auto o = sha256();
  o["nullable"] = true;
  return o;
}
// A free-form JSON object (a config spec, an event payload...).
json::object free_object(bool nullable = false) {
  json::object o{{"type", "object"}, {"additionalProperties", true}};
  if (nullable) o["nullable"] = true;
  return o;
}
// Any JSON value, null included.
json::object any_value(const char* description) { return {{"description", description}}; }
json::object one_of_strings(std::initializer_list<const char*> values, bool nullable = false) {
  json::array e;
  for (const char* v : values) e.emplace_back(v);
  if (nullable) e.emplace_back(nullptr);
  auto o = typed("string", nullptr, nullable);
  o["enum"] = std::move(e);
  return o;
}
json::object ref(const std::string& name) {
  std::string target = "#/components/schemas/";
  target.append(name);
  return {{"$ref", target}};
}
// OpenAPI 3.0 ignores siblings of $ref, so a nullable reference wraps it in allOf.
json::object nref(const std::string& name) {
  return {{"allOf", json::array{ref(name)}}, {"nullable", true}};
}
json::object array_of(json::object items, bool nullable = false) {
  json::object o{{"type", "array"}, {"items", std::move(items)}};
  if (nullable) o["nullable"] = true;
  return o;
}
json::object nullable_of(json::object o) {
  o["nullable"] = true;
  return o;
}
json::object described(json::object o, const char* description) {
  o["description"] = description;
  return o;
}

struct field {
  std::string name;
  json::object schema;
  bool required = true;
};
field opt(std::string name, json::object schema) {
  return {std::move(name), std::move(schema), false};
}

json::object object_of(const std::vector<field>& fields, const char* description = nullptr) {
  json::object props;
  json::array required;
  for (const auto& f : fields) {
    props[f.name] = f.schema;
    if (f.required) required.emplace_back(f.name);
  }
  json::object o{{"type", "object"}, {"properties", std::move(props)}};
  if (!required.empty()) o["required"] = std::move(required);
  if (description) o["description"] = description;
  return o;
}

// A numbered page of `item` rows (api/paging.hpp's numbered_page_response).
json::object numbered_page_of(const char* item) {
  return object_of({{"items", array_of(ref(item))},
                    {"total", i64()},
                    {"page", i64()},
                    {"items_per_page", i64()}});
}

// ------------------------------------------------------------------ shared field lists

std::vector<field> source_row_fields() {
  return {{"uuid", uuid()},
          {"project_module", str()},
          {"source_identifier", str()},
          {"enabled", boolean()},
          {"created_at", ts()},
          {"updated_at", ts()},
          {"last_checked_at", nts()},
          {"last_attempted_at", nts()},
          {"stale_after_hours", typed("integer", "int32", true)},
          {"discovery_signature", nsha256()},
          {"last_executed_discovery_signature", nsha256()},
          {"discovery_claim_token", nstr()},
          {"discovery_claim_expires_at", nts()},
          {"workflow_run_pending", boolean()},
          {"workflow_run_pending_at", nts()},
          {"execution_failures_in_row",
           described(i64(), "Runs of this source that failed in a row (reset by any other end)")},
          {"automation_retry_at",
           described(nts(),
                     "Automated admission holds the source back until then (5 min doubling "
                     "per failure in a row, at most 6 h)")},
          {"workflow_claim_token", nstr()},
          {"workflow_claimed_at", nts()},
          {"workflow_claim_expires_at", nts()},
          {"discovery_request_id",
           described(nuuid(), "The outstanding discovery request (its job id), if any")},
          {"last_discovery_error", nstr()},
          {"discovery_truncated", boolean()}};
}

json::object execution_status_enum(bool nullable = false) {
  return one_of_strings({"pending", "running", "awaiting_scheduler", "not_submitted", "completed",
                         "failed", "retrying", "cancelled"},
                        nullable);
}

// The execution ledger row (batch_execution_record) as the API shows it.
std::vector<field> execution_row_fields() {
  return {
      {"uuid", uuid()},
      {"project_module", str()},
      {"sources",
       array_of(object_of({{"source_identifier", str()}, opt("sbids", array_of(str(), true))}))},
      {"archive_name", str()},
      {"deployment_profile_id", nuuid()},
      {"deployment_profile_revision", ni64()},
      {"deployment_profile_snapshot",
       described(free_object(true), "The deployment profile as pinned at creation")},
      {"project_config_id", nuuid()},
      {"project_config_version", ni64()},
      {"project_spec_sha256", nsha256()},
      {"discovery_signature", nsha256()},
      {"source_signatures", free_object(true)},
      {"workflow_manifest", free_object(true)},
      {"beampipe_run_record",
       described(free_object(true), "workflow_manifest.beampipe_run_record (spec §8.1)")},
      {"manifest_sha256", nsha256()},
      {"source_graph_sha256", nsha256()},
      {"patched_graph_sha256", nsha256()},
      {"wasm_hooks", described(array_of(ref("WasmHookRun"), true),
                               "The project's WebAssembly hooks that built this run's manifest "
                               "(spec §5.9), in the order they ran; null when none ran")},
      {"physical_graph_sha256", nsha256()},
      {"execution_phase", nstr()},
      {"status", execution_status_enum()},
      {"control_phase", str()},
      {"submission_state", str()},
      {"scheduler_state", str()},
      {"scheduler_raw_state", nstr()},
      {"scheduler_reason", nstr()},
      {"daliuge_state", str()},
      {"daliuge_raw_status", any_value("The last raw DIM status, if any")},
      {"output_state", str()},
      {"output_verification_required", boolean()},
      {"output_verification_policy", any_value("The output verification policy, if any")},
      {"terminal_outcome", nstr()},
      {"failure_class", nstr()},
      {"reconciliation_code", nstr()},
      {"phase_timestamps", free_object()},
      {"last_reconciled_at", nts()},
      {"scheduler_name", nstr()},
      {"scheduler_job_id", nstr()},
      {"daliuge_session_id", nstr()},
      {"daliuge_manager_url", nstr()},
      {"remote_session_dir", nstr()},
      {"staging_root", nstr()},
      {"backend_kind", nstr()},
      {"target_fingerprint", nsha256()},
      {"last_error", nstr()},
      {"created_by", described(nstr(), "Who created it: user:<uuid> or system:<component>")},
      {"create_idempotency_key", nstr()},
      {"create_request_sha256", nsha256()},
      {"execute_request",
       described(free_object(true),
                 "The current execute request {job_id, do_stage, do_submit...}")},
      {"execute_requested_at", nts()},
      {"retry_count", i64()},
      {"retry_stage", nstr()},
      {"submission_intent_at", nts()},
      {"submission_node", nstr()},
      {"submission_deadline_at", nts()},
      {"submission_receipt_sha256", nsha256()},
      {"submission_abandoned_at", nts()},
      {"submission_abandoned", nboolean()},
      {"submission_detected_after_abandonment", nboolean()},
      {"lookup_history", any_value("Submission lookups recorded for reconciliation")},
      {"poll_budget_exhausted", nboolean()},
      {"lookup_budget_exhausted",
       described(nboolean(), "Name lookups of an unresolved submission ran out of budget")},
      {"cancel_unconfirmed",
       described(nboolean(), "The backend never confirmed the last cancel request")},
      {"redeploy_intended_at", nts()},
      {"adopted_by_lookup",
       described(nboolean(), "The submission was found by name, its receipt having been lost")},
      {"cancel_requested", boolean()},
      {"cancel_requested_at", nts()},
      {"cancel_reason", nstr()},
      {"sources_finalized", boolean()},
      {"created_at", ts()},
      {"updated_at", ts()},
      {"started_at", nts()},
      {"completed_at", nts()}};
}

std::vector<field> job_row_fields() {
  return {{"id", uuid()},
          {"kind", described(str(), "discover_source, execute, or a recurring *_tick")},
          {"status", one_of_strings(
                         {"queued", "running", "completed", "failed", "dead_letter", "cancelled"})},
          {"project_module", nstr()},
          {"subject", described(str(), "The source identifier, execution id or poll target")},
          {"execution_id", nuuid()},
          {"attempt", i64()},
          {"claim_token", nstr()},
          {"reason", nstr()},
          {"last_error", nstr()},
          {"failure_class", nstr()},
          {"created_at", ts()},
          {"updated_at", ts()},
          {"finished_at", nts()},
          {"next_run_at", nts()},
          {"dead_lettered_at", nts()},
          {"lease_owner", nstr()},
          {"lease_token", ni64()},
          {"lease_expires_at", nts()},
          {"lease_recoveries", i64()}};
}

std::vector<field> validation_report_fields() {
  return {{"project_id", str()},
          {"valid", boolean()},
          {"errors", array_of(ref("Diagnostic"))},
          opt("warnings", array_of(ref("Diagnostic"))),
          {"spec_sha256", sha256()}};
}

std::vector<field> artifact_fields() {
  return {{"id", uuid()},          {"execution_id", uuid()},   {"kind", str()},
          {"storage_kind", str()}, {"media_type", str()},      {"sha256", sha256()},
          {"size_bytes", i64()},   {"producer_phase", nstr()}, {"metadata", free_object()},
          {"created_at", ts()}};
}

json::object with_fields(std::vector<field> base, std::vector<field> more,
                         const char* description = nullptr) {
  for (auto& f : more) base.push_back(std::move(f));
  return object_of(base, description);
}

// ------------------------------------------------------------------ the components

json::object build() {
  json::object s;
  s["ErrorDetail"] = object_of(
      {{"detail", described(str(), "Human-readable error message")},
       {"code", described(str(), "Stable snake_case error code")},
       opt("field", described(str(), "The request field, parameter or header to blame")),
       opt("errors", described(array_of(ref("Diagnostic")),
                               "Field-level details, e.g. the diagnostics of an invalid config"))},
      "The one error shape of every 4xx and 5xx answer");
  s["Diagnostic"] = object_of({{"path", str()},
                               {"severity", one_of_strings({"error", "warning"})},
                               {"code", str()},
                               {"message", str()},
                               opt("hint", str())});

  // --- health
  s["HealthResponse"] =
      object_of({{"status", one_of_strings({"ok"})}, {"service", str()}, {"version", str()}});
  auto tap_state = [] { return one_of_strings({"ok", "error", "not_configured"}); };
  s["TapHealthResponse"] = object_of(
      {{"casda", tap_state()},
       {"vizier", tap_state()},
       {"archive", described(str(), "The archive discovery uses: simulated or the TAP URLs")},
       opt("casda_detail", str()),
       opt("casda_latency_ms", i64()),
       opt("vizier_detail", str()),
       opt("vizier_latency_ms", i64())});
  auto configured = [] {
    return described(one_of_strings({"configured", "not_configured", "simulated"}),
                     "Whether a TAP URL is set; GET /health/tap probes it");
  };
  // Anonymous callers get status and service only; signed-in users get the rest.
  s["ReadyResponse"] = object_of(
      {{"status", one_of_strings({"ready", "not_ready"})},
       {"service", str()},
       opt("node_id", str()),
       opt("database", one_of_strings({"ok", "error"})),
       opt("database_error", str()),
       opt("migrations",
           object_of({{"applied", i64()}, {"latest", i64()}, {"current", boolean()}})),
       opt("projections",
           object_of({{"alive", boolean()},
                      {"lag", i64()},
                      {"head", i64()},
                      {"checkpoints", json::object{{"type", "object"},
                                                   {"additionalProperties", i64()},
                                                   {"description", "Position per projection"}}},
                      {"dead_letters",
                       json::object{{"type", "object"},
                                    {"additionalProperties", i64()},
                                    {"description", "Events each projection could not apply"}}},
                      {"dead_letters_total", i64()},
                      opt("failure", described(str(), "Why the projection runner is stalled"))})),
       opt("archive", str()),
       opt("execution_backends", str()),
       opt("scheduler",
           object_of({{"leader", nstr()}, opt("lease_token", i64()), opt("expires_at", ts())})),
       opt("redis", described(one_of_strings({"not_configured"}),
                              "beampipe uses no Redis (rate limits live in PostgreSQL)")),
       opt("tap_casda", configured()),
       opt("tap_vizier", configured()),
       opt("queue_depth", described(ni64(), "Queued jobs not yet claimed (null: database down)")),
       opt("jobs_running", described(ni64(), "Jobs a worker holds (null: database down)")),
       opt("dependencies",
           array_of(object_of(
               {{"dependency", one_of_strings({"postgres", "tap_casda", "tap_vizier", "daliuge_tm",
                                               "daliuge_dim", "slurm"})},
                {"target", described(str(), "URL without its query, or host:port")},
                {"status", one_of_strings({"up", "down"})},
                {"latency_ms", i64()},
                {"detail", str()},
                {"checked_at", ts()}},
               "The background prober's last result (BEAMPIPE_DEPENDENCY_PROBE_SECONDS)"))),
       opt("nodes",
           array_of(object_of({{"node_id", str()},
                               {"host", str()},
                               {"pid", i64()},
                               {"roles", one_of_strings({"api,workers", "api", "workers"})},
                               {"version", str()},
                               {"started_at", ts()},
                               {"last_seen", ts()},
                               {"alive", boolean()},
                               {"draining", described(boolean(), "An operator drained it")}},
                              "beampipe processes by their heartbeats "
                              "(BEAMPIPE_WORKER_HEARTBEAT_INTERVAL_SECONDS)"))),
       opt("workers_alive",
           described(ni64(),
                     "Live processes that run workers and take work, drained ones not counted "
                     "(null: database down)")),
       opt("workers_draining",
           described(ni64(), "Live processes an operator drained (null: database down)")),
       opt("node",
           object_of({{"id", str()},
                      {"draining", described(boolean(),
                                             "This process was drained: it claims no new job or "
                                             "scheduler lease and finishes what it holds")}})),
       opt("cluster",
           object_of(
               {{"mode", one_of_strings({"single", "cluster"})},
                {"members", described(i64(), "Members renewing their membership (0: single)")},
                {"shards_held", described(i64(), "Shards this node holds (0: single)")},
                {"error", described(nstr(), "The last shard round's failure")}},
               "The cluster in brief (GET /cluster has it all)")),
       opt("dependencies_status",
           described(one_of_strings({"ok", "degraded"}),
                     "degraded when a dependency is down; readiness itself depends only on the "
                     "database, migrations and projections"))});

  // --- sign-in
  s["LoginRequest"] = object_of({{"username", str()}, {"password", str()}});
  s["TokenResponse"] =
      object_of({{"access_token", described(str(), "JWT HS256 access token")},
                 {"refresh_token", described(str(), "JWT HS256 refresh token; rotates on use")},
                 {"token_type", one_of_strings({"bearer"})},
                 {"expires_in", described(i64(), "Access token lifetime in seconds")}});
  s["RefreshRequest"] = object_of({{"refresh_token", str()}});
  s["LogoutRequest"] = object_of({opt("access_token", nstr()), opt("refresh_token", nstr())},
                                 "At least one token; each token's sign-in is revoked");
  s["UserRow"] = object_of({{"uuid", uuid()},
                            {"name", str()},
                            {"username", str()},
                            {"email", str()},
                            {"profile_image_url", nstr()},
                            {"is_superuser", boolean()},
                            {"created_at", ts()},
                            {"updated_at", ts()}});

  // --- sources
  s["SourceRegistryRow"] = object_of(source_row_fields());
  s["SourceCreate"] = object_of({{"project_module", described(str(), "At most 50 bytes")},
                                 {"source_identifier", described(str(), "At most 100 bytes")},
                                 opt("enabled", nboolean())});
  s["SourceUpdate"] =
      object_of({opt("enabled", nboolean()),
                 opt("stale_after_hours", described(typed("integer", "int32", true), "1..87600"))});
  s["SourceBulkCreate"] = object_of({{"items", [] {
                                        auto a = array_of(ref("SourceCreate"));
                                        a["maxItems"] = 1000;
                                        return a;
                                      }()}});
  s["SourceBulkCreateResponse"] =
      object_of({{"items", array_of(ref("SourceRegistryRow"))}, {"total", i64()}});
  s["DiscoverTriggerRequest"] =
      object_of({{"project_module", str()},
                 opt("source_identifier", str()),
                 opt("source_identifiers", array_of(str()))},
                "Neither source_identifier nor source_identifiers: every enabled source");
  s["DiscoverTriggerResponse"] = object_of(
      {{"project_module", str()},
       {"marked_count", i64()},
       {"source_identifiers", array_of(str())},
       {"skipped", array_of(object_of({{"source_identifier", str()}, {"reason", str()}}))},
       {"message", str()}});
  s["SourceExecutionStatus"] = object_of({{"uuid", uuid()},
                                          {"source_identifier", str()},
                                          {"project_module", str()},
                                          {"ready_for_execution", boolean()},
                                          {"discovery_complete", boolean()},
                                          {"workflow_run_pending", boolean()},
                                          {"pending_age_seconds", ni64()},
                                          {"discovery_signature", nsha256()},
                                          {"last_executed_discovery_signature", nsha256()},
                                          {"signature_matches_last_execution", boolean()},
                                          {"blockers", array_of(str())}});
  s["ArchiveMetadataRow"] = object_of({{"uuid", uuid()},
                                       {"project_module", str()},
                                       {"source_identifier", str()},
                                       {"sbid", str()},
                                       {"metadata_json", free_object()},
                                       {"created_at", ts()},
                                       {"updated_at", ts()}});
  s["SourceMetadataResponse"] = object_of({{"source", ref("SourceRegistryRow")},
                                           {"metadata", array_of(ref("ArchiveMetadataRow"))},
                                           {"metadata_count", i64()}});

  // --- provenance and the event feed
  s["ProvenanceEventRow"] = object_of({{"id", uuid()},
                                       {"occurred_at", ts()},
                                       {"event_type", str()},
                                       {"project_module", str()},
                                       {"source_identifier", nstr()},
                                       {"execution_id", nuuid()},
                                       {"actor", nstr()},
                                       {"correlation_id", nstr()},
                                       {"payload", free_object()}});
  s["StoredEvent"] = object_of({{"position", i64()},
                                {"event_id", uuid()},
                                {"stream_id", str()},
                                {"stream_type", str()},
                                {"stream_version", i64()},
                                {"type", str()},
                                {"schema_version", i64()},
                                {"data", free_object()},
                                {"metadata", free_object()},
                                {"recorded_at", ts()}});
  // An entity's events, each with the state it left the entity in (GET …/history).
  auto history_steps = [](const char* state) {
    return array_of(object_of({{"position", i64()},
                               {"stream_version", i64()},
                               {"type", str()},
                               {"recorded_at", str()},
                               {"actor", nstr()},
                               {"correlation_id", nstr()},
                               {"state", described(free_object(), state)}}));
  };
  s["ExecutionHistory"] = object_of(
      {{"execution_id", uuid()},
       {"steps", history_steps("The run after this event: status, the four status axes, phase, "
                               "outcome, error, digests, the WebAssembly hooks that ran")}},
      "A run's events, each with the state it left the run in");
  s["SourceHistory"] = object_of(
      {{"source_id", uuid()},
       {"project_module", str()},
       {"source_identifier", str()},
       {"steps",
        history_steps("The source after this event: discovery state, request and "
                      "attempt, signatures, waiting for an execution, failures in a row")}},
      "A source's events, each with the state it left the source in");
  auto json_diff = [] {
    return object_of({{"changes", array_of(object_of(
                                      {{"path", str()},
                                       {"change", one_of_strings({"added", "removed", "changed"})},
                                       {"before", any_value("null when added")},
                                       {"after", any_value("null when removed")}}))},
                      {"total", i64()},
                      {"truncated", boolean()}});
  };
  auto both = [](json::object side) {
    return object_of({{"a", side}, {"b", side}, {"same", boolean()}});
  };
  s["ExecutionDiff"] = object_of(
      {{"a", uuid()},
       {"b", uuid()},
       {"same", described(boolean(), "Every part below is the same")},
       {"config",
        object_of({{"a", free_object()},
                   {"b", free_object()},
                   {"same", boolean()},
                   {"diff", described(nullable_of(json_diff()),
                                      "The pinned revisions at YAML paths; null when one is no "
                                      "longer stored")}})},
       {"profile", object_of({{"a", free_object()},
                              {"b", free_object()},
                              {"same", boolean()},
                              {"diff", described(json_diff(),
                                                 "The profile snapshots at JSON "
                                                 "Pointer paths")}})},
       {"sources", object_of({{"same", boolean()},
                              {"discovery_signature", both(nsha256())},
                              {"added", array_of(str())},
                              {"removed", array_of(str())},
                              {"signature_changed",
                               array_of(object_of({{"source_identifier", str()},
                                                   {"a", any_value("signature in a")},
                                                   {"b", any_value("signature in b")}}))}})},
       {"manifest", object_of({{"a", nsha256()},
                               {"b", nsha256()},
                               {"same", boolean()},
                               {"diff", described(json_diff(),
                                                  "The manifests (without the run "
                                                  "record) at JSON Pointer paths")}})},
       {"wasm_hooks",
        described(object_of({{"a", array_of(free_object())},
                             {"b", array_of(free_object())},
                             {"same", boolean()}}),
                  "The WebAssembly hooks that built each manifest: {hook, module_sha256, "
                  "error} in the order they ran")},
       {"graph",
        object_of({{"a", nsha256()},
                   {"b", nsha256()},
                   {"same", boolean()},
                   {"summary", described(free_object(true),
                                         "Nodes added, removed or modified and their "
                                         "fields; null when one has no patched graph")}})}},
      "What differs from run a to run b");
  s["ClusterView"] = object_of(
      {{"node", str()},
       {"mode", one_of_strings({"single", "cluster"})},
       opt("address", described(str(), "This node's cluster address (cluster mode only)")),
       {"shards", described(i64(), "Shards the streams map to (0 for a single node)")},
       {"lease_seconds", nnum()},
       {"members",
        array_of(object_of(
            {{"node", str()}, {"address", str()}, {"last_seen", ts()}, {"shards_held", i64()}}))},
       {"held", array_of(object_of({{"shard", i64()}, {"token", i64()}}))},
       {"leases", array_of(object_of({{"shard", i64()},
                                      {"owner", nstr()},
                                      {"token", described(i64(), "Fencing token")},
                                      {"expires_at", ts()},
                                      {"live", boolean()}}))},
       {"last_rebalance", nts()},
       {"error", described(nstr(), "The last shard round's failure")}},
      "The cluster as this node sees it");
  s["SlurmCredentialSlot"] = object_of(
      {{"name", str()},
       {"private_key", boolean()},
       {"public_key", described(boolean(), "private_key.pub")},
       {"passphrase", boolean()},
       {"known_hosts", boolean()},
       {"safe_permissions",
        described(boolean(), "The private key and passphrase are readable by their owner only")}},
      "Which files a slot holds; never their contents");
  s["SlurmCredentialList"] =
      object_of({{"configured", described(boolean(), "BEAMPIPE_SSH_CREDENTIALS_DIR is set")},
                 {"slots", array_of(ref("SlurmCredentialSlot"))}});
  auto counts = [](const char* what) {
    json::object o{{"type", "object"}, {"additionalProperties", i64()}};
    o["description"] = what;
    return o;
  };
  s["OperatorOverview"] = object_of(
      {{"generated_at", ts()},
       {"registered_sources", described(i64(), "Enabled sources")},
       {"pending_admissions", described(i64(), "Sources whose run is pending admission")},
       {"running_executions", described(i64(), "Runs in a non-terminal status")},
       {"failed_executions", described(i64(), "Runs that failed (all time)")},
       {"queue_depth", described(i64(), "Jobs queued")},
       {"jobs_running", described(i64(), "Jobs held by a worker")},
       {"active_workers", described(i64(), "Live nodes with the workers role that take work")},
       {"draining_workers", described(i64(), "Live nodes an operator drained")},
       {"stale_workers", described(i64(), "Nodes neither heartbeating nor stopped")},
       {"recent_alerts", described(i64(), "Alert deliveries of the last 24 hours")},
       {"sources_by_state", counts("Sources by discovery state")},
       {"executions_by_status", counts("Runs by ledger status")},
       {"recent_failures", array_of(object_of({{"execution_id", uuid()},
                                               {"project_module", str()},
                                               {"failure_class", nstr()},
                                               {"last_error", nstr()},
                                               {"failed_at", ts()}}),
                                    false)},
       {"projections",
        object_of({{"alive", boolean()},
                   {"lag", described(i64(), "Events the slowest read model is behind")},
                   {"head", i64()},
                   {"dead_letters_total", i64()}})},
       {"scheduler_leader", described(nstr(), "The node holding the scheduler lease")},
       {"casda", one_of_strings({"simulated", "configured", "not_configured"})},
       {"daliuge", one_of_strings({"simulated", "profile_managed"})},
       {"scheduler", one_of_strings({"simulated", "profile_managed"})}},
      "Operator counts, from the read models (nothing probed)");
  s["ProvenancePurgeRequest"] =
      object_of({{"before", described(ts(), "Rows that occurred earlier go")},
                 opt("project_module", described(nstr(), "Only this project's rows")),
                 opt("reason", nstr())});
  s["ProvenancePurge"] =
      object_of({{"before", ts()},
                 {"project_module", nstr()},
                 {"reason", str()},
                 {"remaining_rows", described(i64(), "Provenance rows left in that scope")},
                 {"oldest_remaining", nts()}});
  // --- workers (issue #21)
  json::object string_map{{"type", "object"}, {"additionalProperties", str()}};
  s["WorkerRead"] = object_of(
      {{"id", described(str(),
                        "The node id (BEAMPIPE_NODE_ID, else host-pid) or the id given "
                        "at registration")},
       {"instance_name", nstr()},
       {"host", str()},
       {"process_id", i64()},
       {"role", str()},
       {"pool", str()},
       {"capabilities", described(array_of(str()), "The kinds of work it claims")},
       {"labels", string_map},
       {"version", str()},
       {"concurrency_limit", i64()},
       {"registered_by", described(one_of_strings({"node", "api"}),
                                   "node: a beampipe process's own heartbeat; api: POST /workers")},
       {"status", one_of_strings({"active", "draining", "stopped"})},
       {"health", one_of_strings({"healthy", "stale", "draining", "stopped"})},
       {"active_leases", described(i64(), "Job leases it holds now")},
       {"heartbeat_age_seconds", described(typed("number", "double"), "Since its last beat")},
       {"started_at", ts()},
       {"last_heartbeat_at", ts()},
       {"draining_at", nts()},
       {"drain_reason", nstr()},
       {"drained_by", described(nstr(), "Who drained it (user:<uuid>)")},
       {"stopped_at", nts()}},
      "A worker by its heartbeat, with the operator's drain and the leases it holds");
  s["PaginatedWorkers"] = numbered_page_of("WorkerRead");
  s["WorkerRegistration"] = object_of(
      {opt("worker_id", described(str(), "1..200 characters; a new uuid when absent")),
       {"host", str()},
       opt("process_id", i64()),
       opt("instance_name", nstr()),
       opt("role", str()),
       opt("pool", described(str(), "1..64 of A-Z a-z 0-9 . _ - (default: default)")),
       opt("capabilities", array_of(str())),
       opt("labels", string_map),
       opt("version", str()),
       opt("concurrency_limit", i64())},
      "A worker outside this cluster's processes, kept alive by POST /workers/{id}/heartbeat");
  s["WorkerHeartbeat"] =
      object_of({{"worker_id", str()}, {"accepted", boolean()}, {"recorded_at", ts()}});
  s["WorkerDrainRequest"] = object_of({opt("reason", described(nstr(), "At most 1000 bytes"))});
  s["WorkerPool"] = object_of({{"pool", str()},
                               {"active_workers", i64()},
                               {"draining_workers", i64()},
                               {"unhealthy_workers", described(i64(), "Stale: no recent beat")},
                               {"concurrency_limit", described(i64(), "Of the healthy workers")},
                               {"active_leases", i64()}});
  s["PaginatedWorkerPools"] = numbered_page_of("WorkerPool");
  s["WorkerLease"] = object_of({{"job_id", uuid()},
                                {"kind", str()},
                                {"execution_id", nuuid()},
                                {"worker_id", str()},
                                {"claim_id", described(i64(), "The lease's fencing token")},
                                {"pool", str()},
                                {"subject", nstr()},
                                {"attempts", i64()},
                                {"recoveries", i64()},
                                {"claimed_at", ts()},
                                {"lease_expires_at", ts()},
                                {"heartbeat_at", described(ts(), "Last renewal")}});
  s["PaginatedWorkerLeases"] = numbered_page_of("WorkerLease");

  s["SchedulerJobRow"] = object_of({{"execution_id", uuid()},
                                    {"project_module", str()},
                                    {"execution_status", execution_status_enum()},
                                    {"scheduler_job_id", nstr()},
                                    {"scheduler_state", str()},
                                    {"scheduler_raw_state", nstr()},
                                    {"scheduler_reason", nstr()},
                                    {"daliuge_session_id", nstr()},
                                    {"remote_session_dir", nstr()},
                                    {"created_at", ts()},
                                    {"last_reconciled_at", nts()}});
  s["PaginatedSchedulerJobs"] = numbered_page_of("SchedulerJobRow");
  auto dlg_session = object_of({{"sessionId", str()},
                                {"status", any_value("DALiuGE's own status (a number, a name, or "
                                                     "one per node)")},
                                opt("size", any_value("The session's graph size, if given"))},
                               "As the DIM lists it");
  s["DaliugeSessions"] =
      object_of({{"profile", str()}, {"endpoint", str()}, {"sessions", array_of(dlg_session)}});
  s["DaliugeInspect"] =
      object_of({{"profile", str()},
                 {"translator", object_of({{"endpoint", str()},
                                           {"reachable", boolean()},
                                           {"detail", described(nstr(), "Why it did not answer")},
                                           {"submission_methods", array_of(str())}})},
                 {"manager", object_of({{"endpoint", str()},
                                        {"reachable", boolean()},
                                        {"detail", described(nstr(), "Why it did not answer")},
                                        {"sessions", array_of(dlg_session)}})}});
  s["SchedulerStatus"] =
      object_of({{"profile", str()},
                 {"backend", described(str(), "Which backend runs this profile's jobs")},
                 {"connectivity",
                  [] {
                    auto o = object_of({{"target", described(str(), "user@login_node:port")},
                                        {"reachable", boolean()},
                                        {"detail", nstr()},
                                        {"scheduler_version", nstr()},
                                        {"missing_commands", array_of(str())}},
                                       "The login node asked now; null with the simulated backend");
                    o["nullable"] = true;
                    return o;
                  }()},
                 {"resource_request",
                  json::object{{"type", "object"},
                               {"additionalProperties", str()},
                               {"description", "sbatch option (without dashes) to value"}}},
                 {"rendered_resource_request", described(str(), "The same as #SBATCH lines")}});
  s["GraphPrepareRequest"] =
      object_of({{"project_module", described(str(), "1..50 characters")},
                 {"source_identifiers", described(array_of(str()), "1..500 registered sources")}});
  s["GraphPrepareResponse"] = object_of(
      {{"project_module", str()},
       {"source_identifiers", array_of(str())},
       {"project_config_id", uuid()},
       {"project_config_version", i64()},
       {"project_spec_sha256", sha256()},
       {"manifest_sha256",
        described(sha256(), "Of the manifest's stable JSON, as a run stores it")},
       {"source_graph_sha256", sha256()},
       {"patched_graph_sha256",
        described(sha256(),
                  "Differs from a run's: the injected configuration id and time are new")},
       {"wasm_hooks", described(array_of(ref("WasmHookRun")),
                                "The project's WebAssembly hooks that ran, as a run records them")},
       {"patch_summary",
        object_of(
            {{"before_node_count", i64()},
             {"after_node_count", i64()},
             {"changed_node_count", i64()},
             {"changed_nodes",
              array_of(object_of({{"node", str()},
                                  {"change", one_of_strings({"added", "modified", "removed"})},
                                  opt("fields", described(array_of(str()),
                                                          "fields[] names that differ, and "
                                                          "node.<key> for attributes"))}))},
             {"graph_configuration_changed", boolean()}})},
       {"manifest", free_object()},
       {"source_graph", free_object()},
       {"patched_graph", free_object()}});
  s["DiagnosticCheck"] =
      object_of({{"id", described(str(),
                                  "Stable check id, e.g. database.connected, "
                                  "daliuge.manager_unreachable")},
                 {"status", one_of_strings({"pass", "warn", "fail"})},
                 {"message", str()},
                 {"hint", described(nstr(), "What to do about a warning or failure")},
                 {"subject", described(nstr(), "The project or profile the check is about")}});
  s["Diagnostics"] =
      object_of({{"ok", described(boolean(), "No check failed")},
                 {"generated_at", ts()},
                 {"profile", described(nstr(), "The profile whose backends were checked")},
                 {"summary", object_of({{"pass", i64()}, {"warn", i64()}, {"fail", i64()}})},
                 {"checks", array_of(ref("DiagnosticCheck"))}});
  s["StreamTicket"] =
      object_of({{"ticket", described(str(), "Pass as ?ticket= to GET /events/stream; works once")},
                 {"expires_in", described(i64(), "Seconds the ticket stays valid")},
                 {"stream", described(str(), "The stream's path")}});
  s["EventFeed"] = object_of({{"events", array_of(ref("StoredEvent"))},
                              {"next_after", described(i64(), "Pass as ?after= to read on")}});

  // --- executions
  s["ExecutionStatus"] = execution_status_enum();
  s["ExecutionCreate"] = object_of(
      {{"project_module", str()},
       {"archive_name", str()},
       {"sources",
        array_of(object_of({{"source_identifier", str()}, opt("sbids", array_of(str(), true))}))},
       opt("deployment_profile_id", nuuid()),
       opt("deployment_profile_name", nstr())});
  s["ExecutionPrepareResponse"] = object_of(
      {{"project_module", str()},
       {"valid", boolean()},
       {"errors", array_of(str())},
       {"total_datasets", i64()},
       {"sources_preview",
        array_of(object_of(
            {{"source_identifier", str()}, {"sbid_count", i64()}, {"dataset_count", i64()}}))}});
  s["WasmHookRun"] =
      object_of({{"module_sha256", str()},
                 {"hook", one_of_strings({"prepare_metadata", "manifest", "graph_patches"})},
                 {"duration_ms", i64()},
                 {"fell_back", described(boolean(),
                                         "prepare_metadata only: the hook failed and the "
                                         "declarative records were kept")},
                 {"error", nstr()}},
                "One run of a project's WebAssembly hook");
  s["ExecutionRow"] = object_of(execution_row_fields(), "The execution ledger row");
  s["ExecutionRead"] = with_fields(execution_row_fields(),
                                   {{"dim_session_status_url", nstr()},
                                    {"dim_graph_status_url", nstr()},
                                    {"slurm_session_dir", nstr()},
                                    {"slurm_login_node", nstr()},
                                    {"slurm_remote_user", nstr()}},
                                   "The ledger row with the operator debug fields (spec §8.1)");
  s["PaginatedExecutions"] = numbered_page_of("ExecutionRow");
  s["ExecutionPatchRequest"] =
      object_of({{"status", one_of_strings({"cancelled"})}, opt("reason", str())},
                "The only operator patch is a cancel (spec §9.5)");
  s["ExecuteRequest"] = object_of({opt("do_stage", boolean()), opt("do_submit", boolean())});
  s["ExecuteAccepted"] = object_of({{"status", one_of_strings({"accepted"})},
                                    {"execution_id", uuid()},
                                    {"job_id", uuid()},
                                    {"do_stage", boolean()},
                                    {"do_submit", boolean()}});
  s["RetryRequest"] = object_of({opt("reason", str())});
  s["RetryAccepted"] = object_of({{"status", execution_status_enum()},
                                  {"execution_id", uuid()},
                                  {"job_id", uuid()},
                                  {"retry_count", i64()},
                                  {"stage", nstr()},
                                  {"do_stage", boolean()},
                                  {"do_submit", boolean()}});
  s["ExecutionStatusResponse"] = object_of({{"uuid", uuid()},
                                            {"project_module", str()},
                                            {"status", execution_status_enum()},
                                            {"execution_phase", nstr()},
                                            {"control_phase", str()},
                                            {"submission_state", str()},
                                            {"scheduler_state", str()},
                                            {"daliuge_state", str()},
                                            {"output_state", str()},
                                            {"terminal_outcome", nstr()},
                                            {"scheduler_name", nstr()},
                                            {"scheduler_job_id", nstr()},
                                            {"daliuge_session_id", nstr()},
                                            {"last_error", nstr()},
                                            {"retry_count", i64()},
                                            {"started_at", nts()},
                                            {"completed_at", nts()},
                                            {"cancel_requested", boolean()},
                                            {"reconciliation_code", nstr()},
                                            {"slurm_state", nstr()},
                                            {"dim_state", nstr()},
                                            {"last_observation_at", nts()},
                                            {"duration_seconds", nnum()}});
  s["ExecutionSummary"] = object_of({{"uuid", uuid()},
                                     {"project_module", str()},
                                     {"archive_name", str()},
                                     {"status", execution_status_enum()},
                                     {"requested_source_count", i64()},
                                     {"requested_source_identifiers", array_of(str())},
                                     {"scheduler_name", nstr()},
                                     {"scheduler_job_id", nstr()},
                                     {"last_error", nstr()}});
  s["ProvenanceSummary"] =
      object_of({{"config_version", described(ni64(), "The pinned project config version")},
                 {"discovery_signature", nsha256()},
                 {"recent_events", array_of(ref("ProvenanceEventRow"))}});
  s["LedgerSnapshot"] = object_of({{"uuid", uuid()},
                                   {"status", execution_status_enum()},
                                   {"execution_phase", nstr()},
                                   {"scheduler_name", nstr()},
                                   {"scheduler_job_id", nstr()},
                                   {"workflow_manifest", free_object(true)},
                                   {"last_error", nstr()},
                                   {"provenance_summary", ref("ProvenanceSummary")}});
  s["ExecutionObservationRow"] = object_of({{"id", uuid()},
                                            {"execution_id", uuid()},
                                            {"kind", str()},
                                            {"normalized_state", nstr()},
                                            {"raw_state", nstr()},
                                            {"reason", nstr()},
                                            {"payload", free_object()},
                                            {"source_version", nstr()},
                                            {"observed_at", ts()}});
  s["ExecutionArtifact"] = object_of(artifact_fields());
  s["ExecutionArtifactRow"] = with_fields(
      artifact_fields(), {{"content_url", described(str(), "GET it for the stored bytes")}});
  s["OutputInventoryReport"] = [] {
    auto o =
        object_of({{"schema", one_of_strings({"wallaby-hires-output-inventory/v1"})},
                   {"products",
                    array_of(object_of({{"path", str()}, {"bytes", i64()}, {"sha256", sha256()}}))},
                   {"durable_destination_uri", str()}},
                  "The output inventory report (spec §12.4); the aggregate checks it in full");
    o["additionalProperties"] = true;
    return o;
  }();
  s["VerifyOutputsResponse"] =
      object_of({{"execution", ref("ExecutionRead")}, {"artifact", nref("ExecutionArtifact")}});
  s["AbandonSubmissionRequest"] = object_of(
      {{"reason", described(str(), "1..1000 characters")},
       {"expected_submission_state", one_of_strings({"in_flight", "uncertain", "submitted"})},
       {"expected_daliuge_session_id", nstr()},
       {"expected_submission_deadline_at", nts()},
       {"acknowledge_external_job_may_exist", boolean()}},
      "Every safety condition of spec §12.3");

  // --- project configs
  s["ValidationReport"] = object_of(validation_report_fields());
  s["ConfigUploadReport"] =
      with_fields(validation_report_fields(),
                  {{"uuid", uuid()},
                   {"version", i64()},
                   {"created", described(boolean(), "false: identical to the active revision")}});
  s["ProjectContract"] = with_fields(validation_report_fields(), {{"version", i64()}});
  s["ProjectConfigRow"] = object_of({{"uuid", uuid()},
                                     {"project_id", str()},
                                     {"version", i64()},
                                     {"spec", free_object()},
                                     {"spec_sha256", sha256()},
                                     {"active", boolean()},
                                     {"uploaded_at", ts()},
                                     {"warnings", array_of(ref("Diagnostic"))}});
  s["WasmModule"] = object_of({{"wasm_sha256", sha256()},
                               {"project_config_id", uuid()},
                               {"project_id", str()},
                               {"size_bytes", i64()},
                               {"uploaded_at", ts()}});
  s["ProjectSummary"] = object_of({{"project_id", str()},
                                   {"version", i64()},
                                   {"active", boolean()},
                                   {"spec_sha256", sha256()}});

  // --- deployment profiles
  s["TranslationConfig"] = object_of({opt("algo", str()), opt("num_par", i64()),
                                      opt("num_islands", i64()), opt("tm_url", nstr())});
  s["RestRemoteDeployment"] =
      object_of({{"kind", one_of_strings({"rest_remote"})},
                 opt("dim_host_for_tm", nstr()),
                 opt("dim_port_for_tm", ni64()),
                 opt("deploy_host", nstr()),
                 opt("deploy_port", ni64()),
                 opt("verify_ssl", boolean()),
                 opt("use_https", boolean()),
                 opt("delete_finished_sessions", described(boolean(),
                                                           "Default false. true: once a run's DIM "
                                                           "session is observed finished, failed "
                                                           "or cancelled and recorded, beampipe "
                                                           "deletes it on the DIM (DELETE "
                                                           "/api/sessions/{sid})"))});
  s["SlurmResources"] = object_of({opt("partition", nstr()), opt("nodes", ni64()),
                                   opt("tasks", ni64()), opt("cpus_per_task", ni64()),
                                   opt("memory", nstr()), opt("wall_time_minutes", ni64()),
                                   opt("constraint", nstr()), opt("quality_of_service", nstr())});
  s["ManagerTopology"] =
      object_of({opt("nodes", ni64()), opt("islands", ni64()), opt("co_host_dim", nboolean())});
  s["SlurmRemoteDeployment"] =
      object_of({{"kind", one_of_strings({"slurm_remote"})},
                 {"login_node", str()},
                 opt("ssh_port", i64()),
                 opt("remote_user", nstr()),
                 {"account", str()},
                 {"home_dir", str()},
                 {"log_dir", str()},
                 {"dlg_root", str()},
                 opt("exec_prefix", str()),
                 opt("venv", nstr()),
                 opt("modules", nstr()),
                 opt("facility", str()),
                 opt("job_duration_minutes", i64()),
                 opt("num_nodes", i64()),
                 opt("num_islands", i64()),
                 opt("verbose_level", i64()),
                 opt("max_threads", i64()),
                 opt("all_nics", boolean()),
                 opt("zerorun", boolean()),
                 opt("sleepncopy", boolean()),
                 opt("check_with_session", boolean()),
                 opt("verify_ssl", nboolean()),
                 opt("slurm_template", nstr()),
                 opt("ssh_credential", described(nstr(), "A credential slot name, never a key")),
                 opt("resources", nref("SlurmResources")),
                 opt("manager_topology", nref("ManagerTopology")),
                 opt("container_runtime", nstr()),
                 opt("environment_setup", nstr())});
  s["DeploymentConfig"] = json::object{
      {"oneOf", json::array{ref("RestRemoteDeployment"), ref("SlurmRemoteDeployment")}},
      {"discriminator", json::object{{"propertyName", "kind"},
                                     {"mapping", json::object{{"rest_remote",
                                                               "#/components/schemas/"
                                                               "RestRemoteDeployment"},
                                                              {"slurm_remote",
                                                               "#/components/schemas/"
                                                               "SlurmRemoteDeployment"}}}}}};
  s["DeploymentProfile"] = object_of({{"name", described(str(), "At most 50 characters")},
                                      opt("description", nstr()),
                                      opt("project_module", nstr()),
                                      opt("is_default", boolean()),
                                      opt("max_concurrent_executions", ni64()),
                                      opt("translation", ref("TranslationConfig")),
                                      {"deployment", ref("DeploymentConfig")}},
                                     "Secrets are refused (secret_not_allowed)");
  s["DeploymentProfilePatch"] =
      object_of({opt("name", str()), opt("description", nstr()), opt("project_module", nstr()),
                 opt("is_default", boolean()), opt("max_concurrent_executions", ni64()),
                 opt("translation", free_object(true)), opt("deployment", free_object(true))},
                "A JSON merge patch of the profile; the result is validated in full");
  s["DeploymentProfileRow"] = object_of({{"uuid", uuid()},
                                         {"name", str()},
                                         {"description", nstr()},
                                         {"project_module", nstr()},
                                         {"is_default", boolean()},
                                         {"translation", ref("TranslationConfig")},
                                         {"deployment", ref("DeploymentConfig")},
                                         {"max_concurrent_executions", ni64()},
                                         {"revision", i64()},
                                         {"spec_sha256", sha256()},
                                         {"created_at", ts()},
                                         {"updated_at", ts()}});

  // --- jobs
  s["JobRow"] = object_of(job_row_fields());
  s["JobDetail"] = with_fields(job_row_fields(), {{"claims", array_of(object_of({{"attempt", i64()},
                                                                                 {"owner", str()},
                                                                                 {"token", i64()},
                                                                                 {"action", str()},
                                                                                 {"detail", nstr()},
                                                                                 {"at", ts()}}))}});
  s["JobCreate"] = object_of(
      {{"kind", one_of_strings({"discover_source", "execute"})},
       opt("payload", described(free_object(true),
                                "discover_source: {project_module, source_identifier}; execute: "
                                "{do_stage?, do_submit?}")),
       opt("execution_id", nuuid()),
       opt("idempotency_key", described(nstr(), "1..200 characters"))});
  s["RequeueRequest"] = object_of({opt("reason", described(str(), "1..500 characters"))});

  // --- alerting (§1.8, §3.9)
  auto channel_config = described(
      free_object(),
      "webhook: {url, template: generic|slack|pagerduty, headers: {name: value}, routing_key}; "
      "email: {smtp_host, port (465 tls, 587 starttls), security: tls|starttls, from, to: "
      "[addresses], user, password}. Answers mask secrets: the URL's path and query, header "
      "values, the routing key and the password show as \"***\"; a PATCH may send them back "
      "masked to keep them");
  s["NotificationChannelCreate"] =
      object_of({{"name", described(str(), "1..100 characters, unique")},
                 {"kind", one_of_strings({"webhook", "email"})},
                 {"config", channel_config},
                 opt("enabled", boolean())});
  s["NotificationChannelUpdate"] = object_of(
      {opt("name", nstr()), opt("config", free_object(true)), opt("enabled", nboolean())});
  s["NotificationChannelRow"] = object_of({{"uuid", uuid()},
                                           {"name", str()},
                                           {"kind", str()},
                                           {"config", channel_config},
                                           {"enabled", boolean()},
                                           {"created_at", ts()},
                                           {"updated_at", nts()}});
  s["ChannelTestResult"] =
      object_of({{"delivery_id", uuid()},
                 {"status", one_of_strings({"sent", "failed"})},
                 opt("error", described(str(), "why it was not sent (never a secret)"))});
  auto trigger_kind =
      one_of_strings({"execution_terminal", "pending_backlog", "pending_stale", "discovery_stall",
                      "dependency_down", "queue_depth", "projection_lag", "execution_stuck"});
  auto trigger_config = described(
      free_object(),
      "execution_terminal {}; pending_backlog {threshold: 50}; pending_stale {max_age_seconds: "
      "21600}; discovery_stall {window_minutes: 120}; dependency_down {dependency: postgres}; "
      "queue_depth {threshold: 100, for_minutes: 10}; projection_lag {max_events: 10000, "
      "for_minutes: 5}; execution_stuck {threshold: 1}. Every periodic kind takes for_minutes: "
      "how long the condition must "
      "hold before the rule fires");
  auto severity = one_of_strings({"info", "warning", "error", "critical"});
  s["AlertRuleCreate"] =
      object_of({{"name", described(str(), "1..100 characters")},
                 opt("project_module", described(nstr(), "null: every project")),
                 opt("severity", severity),
                 {"trigger_kind", trigger_kind},
                 {"trigger_config", trigger_config},
                 {"channel_ids", array_of(uuid())},
                 opt("cooldown_minutes", described(i64(), "0..10080, default 60")),
                 opt("enabled", boolean())});
  s["AlertRuleUpdate"] =
      object_of({opt("name", nstr()), opt("enabled", nboolean()), opt("severity", nstr()),
                 opt("trigger_config", free_object(true)),
                 opt("channel_ids", array_of(uuid(), true)), opt("cooldown_minutes", ni64())});
  s["AlertRuleRow"] = object_of({{"uuid", uuid()},
                                 {"name", str()},
                                 {"project_module", nstr()},
                                 {"enabled", boolean()},
                                 {"severity", str()},
                                 {"trigger_kind", str()},
                                 {"trigger_config", free_object()},
                                 {"channel_ids", array_of(uuid())},
                                 {"cooldown_minutes", i64()},
                                 {"last_fired_at", nts()},
                                 {"created_at", ts()},
                                 {"updated_at", nts()}});
  s["AlertDeliveryRow"] = object_of(
      {{"uuid", uuid()},
       {"rule_id", nuuid()},
       {"channel_id", nuuid()},
       {"status", one_of_strings({"pending", "sent", "failed"})},
       {"payload", described(free_object(), "The alert (AlertPayload, spec §3.9)")},
       {"error", nstr()},
       {"response_code", described(ni64(), "The HTTP status or the final SMTP reply code")},
       {"attempts", i64()},
       {"next_attempt_at", nts()},
       {"test", boolean()},
       {"created_at", ts()},
       {"updated_at", ts()},
       {"sent_at", nts()}});

  // --- the contract itself
  s["OpenApiDocument"] = described(free_object(), "This document");
  return s;
}

param_doc param(std::string name, std::string type, std::string description) {
  param_doc p;
  p.name = std::move(name);
  p.type = std::move(type);
  p.description = std::move(description);
  return p;
}

}  // namespace

const json::object& component_schemas() {
  static const json::object schemas = build();
  return schemas;
}

param_doc uuid_path(std::string name, std::string description) {
  auto p = param(std::move(name), "string", std::move(description));
  p.format = "uuid";
  p.required = true;
  return p;
}

param_doc text_path(std::string name, std::string description) {
  auto p = param(std::move(name), "string", std::move(description));
  p.required = true;
  return p;
}

param_doc text_query(std::string name, std::string description, std::vector<std::string> one_of) {
  auto p = param(std::move(name), "string", std::move(description));
  p.one_of = std::move(one_of);
  return p;
}

param_doc bool_query(std::string name, std::string description) {
  return param(std::move(name), "boolean", std::move(description));
}

param_doc int_query(std::string name, std::string description, int64_t minimum,
                    std::optional<int64_t> maximum, int64_t fallback) {
  auto p = param(std::move(name), "integer", std::move(description));
  p.minimum = minimum;
  p.maximum = maximum;
  p.fallback = fallback;
  return p;
}

route_doc doc_login() {
  auto d = operation("login", "Login for access token", "auth",
                     "Username and password, as JSON or an HTML form body; answers an access "
                     "token and a refresh token of one sign-in.")
               .returns("TokenResponse")
               .fails({401})
               .limited();
  d.body = body_kind::json_or_form;
  d.body_schema = "LoginRequest";
  return d;
}

route_doc doc_refresh() {
  return operation("refresh", "Refresh tokens", "auth",
                   "Rotates the pair: a refresh token works once; presenting a used one revokes "
                   "every token of its sign-in.")
      .json_body("RefreshRequest")
      .returns("TokenResponse")
      .fails({401})
      .limited();
}

route_doc doc_logout() {
  return operation("logout", "Logout", "auth",
                   "Revokes the sign-ins of the tokens given (at least one).")
      .json_body("LogoutRequest")
      .no_content()
      .fails({401})
      .limited();
}

route_doc doc_current_user() {
  return operation("current_user", "Current user", "auth",
                   "The signed-in user; never a credential.")
      .returns("UserRow");
}

}  // namespace beampipe::api

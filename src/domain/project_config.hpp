// Project config (spec §10): typed model, parsing, validation and spec_sha256.
//
// Field order in every struct is the serde declaration order of §10.4, because
// spec_sha256 hashes the typed value in that order.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/diagnostics.hpp"
#include "domain/transforms.hpp"

namespace beampipe::domain {

inline constexpr std::string_view kApiVersionV1 = "beampipe.dev/v1";
inline constexpr std::string_view kApiVersionV2 = "beampipe.dev/v2";
inline constexpr std::string_view kProjectConfigKind = "ProjectConfig";
inline constexpr std::string_view kOutputInventorySchemaV1 = "wallaby-hires-output-inventory/v1";

struct ProjectMetadata {
  std::string id;
  std::optional<std::string> description;
};

struct TapSettings {
  std::uint64_t timeout_seconds = 30;
  std::uint32_t retries = 1;
  bool fail_open = false;  // parsed, unused (spec §10.1)
};

struct Adapters {
  std::vector<std::string> required;
  std::optional<std::string> casda_tap_url;
  std::optional<std::string> vizier_tap_url;
  TapSettings tap;
};

struct GraphSource {
  std::optional<std::string> url;
  std::optional<std::string> path;
  std::optional<std::string> sha256;  // required for v2, verified whenever given
};

struct Query {
  std::string name;
  std::string adapter;        // "casda" | "vizier"
  std::string template_text;  // YAML key "template"
  std::optional<std::string> source_id_transform;
};

// field_map / discovery_flags entry.
struct Mapping {
  std::string from;
  std::optional<TransformRef> transform;
};

struct SignatureOptions {
  std::vector<std::string> exclude_fields;
  bool include_discovery_flags = true;
};

struct PrepareMetadata {
  // Raw JSON as written (keys sorted), hashed as-is; null when absent.
  boost::json::value field_map_raw;
  boost::json::value discovery_flags_raw;
  std::optional<SignatureOptions> signature;
  // Typed views of the raw maps (entries that decoded), sorted by target name.
  std::map<std::string, Mapping> field_map;
  std::map<std::string, Mapping> discovery_flags;
};

struct DiscoveryConfig {
  std::vector<Query> queries;
  std::vector<Query> enrichments;
  std::optional<PrepareMetadata> prepare_metadata;
};

struct ManifestConfig {
  std::vector<std::string> group_by;
  std::optional<boost::json::value> source_template;  // hashed as null when absent
  std::optional<boost::json::value> dataset_template;
  std::optional<std::string> expand_from;
  std::string path = "manifest.json";
};

struct GraphPatch {
  boost::json::value match;  // raw {kind, equals}
  boost::json::value set;    // raw {field: value | "$count(..)" | "$sum(..)"}
  std::string match_kind;    // typed views
  std::string equals;
};

struct ExecutionAutomation {
  bool enabled = false;
  std::string archive_name = "casda";
  std::int64_t max_sources_per_execution = 20;
  std::int64_t tick_execution_source_limit = 500;
  std::int64_t tick_execution_run_limit = 20;
  std::int64_t min_sources_to_trigger = 1;
  std::int64_t max_wait_minutes = 1440;
  std::int64_t claim_ttl_minutes = 180;
  std::optional<std::int64_t> concurrent_execution_run_limit;
  std::optional<std::string> deployment_profile_name;
  std::optional<std::int64_t> execution_slurm_remote_poll_max_rounds;
  std::optional<std::int64_t> execution_rest_remote_poll_max_rounds;
  std::optional<double> execution_rest_remote_poll_interval_seconds;
  std::optional<double> execution_slurm_remote_poll_interval_seconds;
};

struct DiscoveryAutomation {
  bool enabled = false;
  std::int64_t tick_discovery_source_limit = 200;
  std::int64_t batch_size = 5;
  std::int32_t stale_after_hours = 24;
  std::int64_t claim_ttl_minutes = 180;
  std::optional<std::int64_t> queue_max_depth;
  std::optional<std::int64_t> tick_discovery_batch_limit;
  std::optional<std::int64_t> concurrent_discovery_batch_limit;
};

struct Automation {
  std::optional<ExecutionAutomation> execution;  // serialised first (§10.4)
  std::optional<DiscoveryAutomation> discovery;
};

struct Extension {
  std::optional<std::string> wasm_sha256;
  std::vector<std::string> hooks;  // ⊆ {prepare_metadata, manifest, graph_patches}
};

struct Definitions {
  TransformDefinitions transforms;
};

struct TemplateVar {
  std::optional<std::string> from;
  std::optional<std::string> transform;
};

struct SourceIdentity {
  std::string canonical = "source_identifier";
  std::map<std::string, TemplateVar> template_vars;
};

struct OutputVerification {
  bool required = false;
  std::string inventory_schema = std::string(kOutputInventorySchemaV1);
};

struct ProjectConfig {
  std::string api_version;
  std::string kind;
  ProjectMetadata metadata;
  Adapters adapters;
  std::optional<GraphSource> graph;
  DiscoveryConfig discovery;
  std::optional<ManifestConfig> manifest;
  std::vector<GraphPatch> graph_patches;
  std::optional<OutputVerification> output_verification;  // [HEAD]
  Automation automation;
  std::optional<Extension> extension;
  std::optional<Definitions> definitions;
  std::optional<SourceIdentity> source_identity;

  // Convenience: the transform definitions, empty when none are defined.
  const TransformDefinitions& transforms() const;
};

// --- parsing ---

struct ConfigParseResult {
  // Set whenever the text parsed as YAML/JSON into a mapping, even if some fields
  // were malformed (those keep their defaults and are reported).
  std::optional<ProjectConfig> config;
  std::vector<Diagnostic> diagnostics;  // parse and structure problems only
  std::string raw_sha256;               // sha256 of the input bytes
};

// Parses YAML or JSON text. Unknown keys, type errors and missing required
// fields are reported (invalid_config_structure / required). Never throws.
ConfigParseResult parse_project_config(std::string_view text);

// Decodes an already-parsed JSON document (e.g. the stored typed spec).
ConfigParseResult parse_project_config(const boost::json::value& document);

// --- validation ---

// Semantic rules of §10.2/§10.3 ([HEAD] codes). Never throws.
std::vector<Diagnostic> validate_project_config(const ProjectConfig& config);

struct ValidationReport {
  std::string project_id;
  bool valid = false;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  std::string spec_sha256;
  std::optional<ProjectConfig> config;  // typed config when it parsed

  // {"project_id","valid","errors":[…],"warnings"?:[…],"spec_sha256"}
  boost::json::value to_json() const;
};

// parse + validate + spec_sha256 (raw-bytes sha when parsing failed). Never throws.
ValidationReport validate_project_config_text(std::string_view text);

// Upload-path warnings against the previously active config (signature_changed,
// field_map_changed, definitions_changed).
std::vector<Diagnostic> compare_with_previous(const ProjectConfig& previous,
                                              const ProjectConfig& next);

// --- canonical form ---

// Typed, default-filled JSON in declaration order (the stored `spec`).
boost::json::value to_json(const ProjectConfig& config);

// §10.4: lowercase hex SHA-256 of the compact typed JSON.
std::string spec_sha256(const ProjectConfig& config);

// Variables a discovery query template may use: the template context names
// (§5.1), plus "sbid" for per-SBID enrichments.
std::vector<std::string> template_variables(const ProjectConfig& config, bool per_sbid_enrichment);

// §4.1: when a stored spec no longer decodes as a typed config, the execution
// policy is read leniently from the raw JSON: integer knobs only when they are
// positive integers, strings/bools only with the right type; everything else
// takes its default.
ExecutionAutomation lenient_execution_policy(const boost::json::value& spec);

// Clearly-named I/O helper for tools and tests: reads a whole file. Returns
// nullopt when the file cannot be read.
std::optional<std::string> read_config_file(const std::string& path);

}  // namespace beampipe::domain

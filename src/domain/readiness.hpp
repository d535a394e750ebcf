// Source readiness for execution (spec §5.10).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace beampipe::domain {

// What readiness needs to know about a registered source.
struct SourceReadinessState {
  bool enabled = false;
  bool last_checked_at_set = false;
  std::string discovery_signature;    // "" when null
  std::string discovery_claim_token;  // "" when no active lease
  std::string last_executed_discovery_signature;
  // archive_metadata rows: sbid → metadata_json
  std::map<std::string, boost::json::value> metadata_rows;
};

// First blocker text (used verbatim by the API), or nullopt when ready.
// `state` absent = the source is not registered ([HEAD] blocker).
// `sbid_filter` empty = all rows.
std::optional<std::string> source_readiness_error(const std::string& source_identifier,
                                                  const std::optional<SourceReadinessState>& state,
                                                  const std::vector<std::string>& sbid_filter = {});

// Blockers for GET /sources/{id}/status: the readiness blocker plus
// "signature matches last executed run", sorted and deduplicated.
std::vector<std::string> source_status_blockers(const std::string& source_identifier,
                                                const std::optional<SourceReadinessState>& state);

// Both signatures non-empty and equal.
bool signature_matches_last_execution(const SourceReadinessState& state);

}  // namespace beampipe::domain

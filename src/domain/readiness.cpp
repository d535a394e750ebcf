#include "domain/readiness.hpp"

#include <algorithm>
#include <set>

#include "domain/canonical_json.hpp"

namespace beampipe::domain {
namespace json = boost::json;

namespace {

// Rust Debug formatting of a Vec<String>: ["a", "b"] with escaped quotes.
std::string debug_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

}  // namespace

bool signature_matches_last_execution(const SourceReadinessState& s) {
  return !s.discovery_signature.empty() && !s.last_executed_discovery_signature.empty() &&
         s.discovery_signature == s.last_executed_discovery_signature;
}

std::optional<std::string> source_readiness_error(const std::string& sid,
                                                  const std::optional<SourceReadinessState>& state,
                                                  const std::vector<std::string>& sbid_filter) {
  if (!state)
    return "Source " + sid +
           " is not registered. Register and discover the source before execution.";
  const auto& s = *state;
  if (!s.enabled) return "Source " + sid + " is disabled";
  if (!s.last_checked_at_set)
    return "Source " + sid +
           ": Discovery has not yet run for this source (last_checked_at is unset). Run discovery "
           "first (POST "
           "/api/v2/sources/discover).";
  if (s.discovery_signature.empty())
    return "Source " + sid +
           ": Discovery signature is missing. Run discovery first (POST /api/v2/sources/discover).";
  if (!s.discovery_claim_token.empty())
    return "Source " + sid +
           ": Discovery is still in progress for this source (active lease). Wait and retry.";
  std::vector<const json::value*> rows;
  for (const auto& [sbid, row] : s.metadata_rows)
    if (sbid_filter.empty() ||
        std::find(sbid_filter.begin(), sbid_filter.end(), sbid) != sbid_filter.end())
      rows.push_back(&row);
  if (rows.empty()) {
    std::string which = sbid_filter.empty() ? "" : " (SBIDs: " + debug_list(sbid_filter) + ")";
    return "Source " + sid + " has no discovered metadata" + which +
           ". Run discovery first (POST /api/v2/sources/discover).";
  }
  std::set<std::string> failed;
  for (const auto* row : rows) {
    if (!row->is_object()) continue;
    const auto* flags = row->get_object().if_contains("discovery_flags");
    if (!flags || !flags->is_object()) continue;
    for (const auto& kv : flags->get_object())
      if (!json_truthy(kv.value())) failed.insert(std::string(kv.key()));
  }
  if (!failed.empty())
    return "Source " + sid + " metadata has discovery_flags that have not passed (failed keys: " +
           debug_list({failed.begin(), failed.end()}) + "). Re-run discovery.";
  return std::nullopt;
}

std::vector<std::string> source_status_blockers(const std::string& sid,
                                                const std::optional<SourceReadinessState>& state) {
  std::set<std::string> blockers;
  if (auto e = source_readiness_error(sid, state)) blockers.insert(*e);
  if (state && signature_matches_last_execution(*state))
    blockers.insert(
        "Source " + sid +
        ": Discovery signature matches last executed run (already executed for current metadata).");
  return {blockers.begin(), blockers.end()};
}

}  // namespace beampipe::domain

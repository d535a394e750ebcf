// Discovery preparation (spec §5.3–5.5, §5.8): field maps, discovery flags,
// record assembly and the discovery signature. Pure: the caller runs the TAP
// queries and passes the rows in.
//
// Q1 fix (spec §13): prepared records are kept in full (access_url etc. survive
// for staging); signature.exclude_fields are stripped only when hashing.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/project_config.hpp"
#include "domain/result.hpp"

namespace beampipe::domain {

// enrichments[name] = array of rows (secondary queries) or {sbid: row}
// (per-SBID enrichments).
using Enrichments = boost::json::object;

// §5.4 mapped_value: nullopt = the target is absent from the record.
std::optional<boost::json::value> mapped_value(const boost::json::object& row,
                                               const Mapping& mapping,
                                               std::string_view source_identifier,
                                               const Enrichments& enrichments,
                                               const TransformDefinitions& defs);

// §5.5 flags, including the hard-coded WALLABY ra/dec/vsys extra.
boost::json::object compute_discovery_flags(const std::map<std::string, Mapping>& flag_map,
                                            const Enrichments& enrichments,
                                            const TransformDefinitions& defs);

// §5.4 record assembly for one primary TAP row.
boost::json::object prepare_record(const boost::json::object& row,
                                   std::string_view source_identifier,
                                   const Enrichments& enrichments, const boost::json::object& flags,
                                   const std::map<std::string, Mapping>& field_map,
                                   const TransformDefinitions& defs);

// §5.3 step 4: sorted distinct SBIDs of the primary rows (field_map "sbid" applied
// to the row alone; raw `sbid` column when the field map has no sbid target).
std::vector<std::string> sbids_from_primary_rows(const boost::json::array& rows,
                                                 const ProjectConfig& config);

// [HEAD] §5.3 step 5 `sbid_to_eval_file`: keep rows named
// calibration-metadata-processing-logs-SB{sbid}_*.tar that are calibration rows
// with an access_url and a size ≥ 0; pick the largest (ties: greatest filename).
// Errors: no such row, or a duplicate filename.
Result<boost::json::value> select_calibration_row(const boost::json::array& rows,
                                                  std::string_view sbid);

struct PreparedDiscovery {
  boost::json::array records;  // full records, one per primary row
  boost::json::object flags;   // discovery_flags for the source
};

// §5.3 steps 6–7: flags, then one record per primary row.
PreparedDiscovery prepare_discovery(std::string_view source_identifier,
                                    const boost::json::array& primary_rows,
                                    const Enrichments& enrichments, const ProjectConfig& config);

// Signature options from the config (defaults when absent).
SignatureOptions signature_options(const ProjectConfig& config);

// Removes every key named in `fields` at any depth (objects inside arrays too).
boost::json::value strip_fields(const boost::json::value& v,
                                const std::vector<std::string>& fields);

// Rows to persist (archive_metadata.metadata_json by SBID): full records grouped
// by value_key(sbid) (records without sbid skipped), sorted by the signature sort
// key, with "discovery_flags" when the flags are non-empty. Flags are stored even
// when the signature ignores them: readiness and manifests need them.
std::map<std::string, boost::json::value> metadata_rows(const boost::json::array& records,
                                                        const boost::json::object& flags,
                                                        const SignatureOptions& options);

// The §5.8 payload (sbid → {"datasets":[stripped, sorted], "discovery_flags"?})
// computed from stored rows; other row keys (e.g. discovery_status) are kept.
boost::json::object signature_payload_from_rows(
    const std::map<std::string, boost::json::value>& rows, const SignatureOptions& options);

// §5.8 signature of prepared records + flags.
std::string discovery_signature(const boost::json::array& records, const boost::json::object& flags,
                                const SignatureOptions& options);

// §5.8 step 7 for stored rows; equals discovery_signature() of the records the
// rows were built from, so the TAP-skip check is exact.
std::string existing_signature_from_rows(const std::map<std::string, boost::json::value>& rows,
                                         const SignatureOptions& options);

// The no-datasets marker row ("0") and its signature (f57cea7a…).
inline constexpr std::string_view kNoDatasetsSbid = "0";
boost::json::value no_datasets_row();
std::string no_datasets_signature();

// §12.6 aggregate of per-source signatures: sha256(stable_json({source: sig})).
std::string aggregate_discovery_signature(const std::map<std::string, std::string>& by_source);

// §5.8 decision rule for one source, given the prepared result (empty records =
// no datasets) and what is stored.
struct DiscoveryDecision {
  bool changed = false;                            // false: unchanged (only last_checked_at moves)
  bool no_datasets = false;                        // the primary query returned no rows
  std::string signature;                           // new signature
  std::map<std::string, boost::json::value> rows;  // rows to upsert (sbid → metadata_json)
  std::vector<std::string> delete_sbids;           // stored SBIDs not in the new payload
  std::size_t datasets = 0;
};
// `stored_signature` empty = null (then the existing signature is recomputed from
// `stored_rows`, §5.8 step 7).
DiscoveryDecision decide_discovery(const PreparedDiscovery& prepared,
                                   const std::string& stored_signature,
                                   const std::map<std::string, boost::json::value>& stored_rows,
                                   const SignatureOptions& options);

// §5.3 step 0 with the Q8 fix: TAP is skipped only when the stored signature
// matches the stored rows AND the last successful check is younger than
// stale_after_hours (the earlier implementation skipped forever).
bool tap_skip_allowed(const std::string& stored_signature,
                      const std::map<std::string, boost::json::value>& stored_rows,
                      const SignatureOptions& options, std::optional<double> hours_since_last_check,
                      double stale_after_hours);

// §5.5 coordinate formats. degrees_to_dec keeps the sign of declinations in
// (−1, 0) ("-0.30.0"), fixing the earlier implementation's sign loss.
std::string degrees_to_ra(double degrees);
std::string degrees_to_dec(double degrees);

// Flattened dataset records of stored rows (SBID order, datasets in stored order),
// optionally limited to some SBIDs (empty = all). The no-datasets row adds nothing.
boost::json::array flatten_metadata_rows(const std::map<std::string, boost::json::value>& rows,
                                         const std::vector<std::string>& sbid_filter = {});

}  // namespace beampipe::domain

// Workflow manifest builder (spec §6).
#pragma once

#include <boost/json.hpp>
#include <set>
#include <string>

#include "domain/hooks.hpp"
#include "domain/project_config.hpp"
#include "domain/result.hpp"

namespace beampipe::domain {

struct ManifestInputs {
  boost::json::array records;           // flattened dataset records (after staging, if any)
  std::set<std::string> exclude_sbids;  // skipped by staging (access denied)
  // {"data_url_by_scan_id", "checksum_url_by_scan_id", "eval_url_by_sbid"}; see
  // staging_context_from_records.
  boost::json::object staging;
};

// §6.1 staging context. Aligned with what staging writes (spec §13): the data URL
// is `data_url` or else `staged_url`, the evaluation URL `eval_url` or else
// `evaluation_file_url`; keyed by value_string(scan_id) / value_string(sbid).
boost::json::object staging_context_from_records(const boost::json::array& records);

// §6.3 template rendering against one record. A string value is a placeholder only
// when it is exactly "{…}": {flags.K} → record.discovery_flags.K → record.K ([HEAD]
// fix of Q9) → staging[K]; {staging.a.b} → path into staging; {K} → record[K].
// Unresolved placeholders stay literal; resolved values keep their JSON type.
boost::json::value render_manifest_template(const boost::json::value& tmpl,
                                            const boost::json::object& record,
                                            const boost::json::object& staging);

// §6.2: with a manifest config (group_by/templates), else the WALLABY default
// builder. Returns {"inputs":{}, "sources":[…], "graph_overrides":{default Beam
// scatter patch with the total dataset count}}; project graph_patches are applied
// separately (apply_project_graph_patches). Error: "manifest has no usable datasets".
// exclude_sbids is honoured by both builders (the earlier default builder ignored it).
Result<boost::json::object> build_manifest(const ManifestConfig* config,
                                           const ManifestInputs& inputs);

// build_manifest, then the project's manifest hook, graph_patches (§7.1) and graph_patches
// hook (domain/hooks.hpp), as the execute step does; the hooks that ran go to `ran`.
Result<boost::json::object> build_manifest_for_project(
    const ProjectConfig& config, const ManifestInputs& inputs, const project_hooks* hooks = nullptr,
    std::vector<events::hook_run>* ran = nullptr);

// The builder's default graph_overrides.
boost::json::value default_graph_overrides(std::uint64_t total_datasets);

}  // namespace beampipe::domain

#pragma once
// A project's WebAssembly hooks as discovery and the execute step apply them (spec §5.3 step 8,
// §3.5 step 8, §5.9). Pure: the module is behind `project_hooks::call`, which a service binds to
// the hook runner (services/project_hooks.hpp); what ran is returned as events::hook_run for
// the events to record.
#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/project_config.hpp"
#include "domain/result.hpp"
#include "events/hooks.hpp"

namespace beampipe::domain {

inline constexpr std::string_view kHookPrepareMetadata = "prepare_metadata";
inline constexpr std::string_view kHookManifest = "manifest";
inline constexpr std::string_view kHookGraphPatches = "graph_patches";

// What one call of a hook answered: its output, or why there is none.
struct hook_answer {
  std::optional<boost::json::value> output;
  std::string error;
  int64_t duration_ms = 0;
};

// The project's module, bound: the hooks its config lists and how to call one.
struct project_hooks {
  std::string module_sha256;
  std::vector<std::string> listed;  // extension.hooks
  std::function<hook_answer(const std::string& hook, const boost::json::value& input)> call;

  bool has(std::string_view hook) const;
};

// §5.3 step 8: the records the prepare_metadata hook answers for the declarative ones (an
// array replaces them; anything else becomes a one-element array). When the hook fails, or
// answers an element that is not an object (a record is an object), the declarative records
// stay and the run is recorded as fallen back. No hook: the records as given.
boost::json::array apply_prepare_metadata_hook(const project_hooks* hooks,
                                               boost::json::array records,
                                               std::vector<events::hook_run>& ran);

// §3.5 step 8 after the declarative manifest: the manifest hook, the project's graph_patches
// (§7.1), then the graph_patches hook; each hook's output (an object) replaces the manifest.
// A hook that fails fails the build: "wasm error: …".
Result<boost::json::object> apply_manifest_hooks(const project_hooks* hooks,
                                                 boost::json::object manifest,
                                                 const boost::json::array& metadata,
                                                 const ProjectConfig& config,
                                                 std::vector<events::hook_run>& ran);

// The hook runs a command reports (its "wasm_hooks" member), checked as events will hold them
// (empty when absent or null). Throws events::decode_error naming the bad element.
std::vector<events::hook_run> decode_hook_runs(const boost::json::value& v);

// The hook runs as the read models show them (the events' shape).
boost::json::array hook_runs_json(const std::vector<events::hook_run>& ran);

}  // namespace beampipe::domain

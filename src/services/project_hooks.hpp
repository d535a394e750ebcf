#pragma once
// Binds a project's WebAssembly hooks (spec §5.9) to the hook runner for discovery, the execute
// step and POST /graphs/prepare alike: the module is found by project (the pinned digest, else
// the newest upload), its bytes read from the artifact store once per process, and each call
// timed and turned into a domain::hook_answer.
#include <memory>
#include <optional>
#include <pqxx/pqxx>

#include "adapters/wasm_hooks.hpp"
#include "domain/hooks.hpp"
#include "domain/project_config.hpp"

namespace beampipe::services {

// nullopt when the config lists no hook, there is no runner, or the project has no module
// (then, as §5.9 says, no hook runs).
std::optional<domain::project_hooks> bind_project_hooks(
    pqxx::connection& c, const domain::ProjectConfig& config,
    std::shared_ptr<adapters::wasm_hook_runner> runner);

}  // namespace beampipe::services

#include "services/project_hooks.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <mutex>

#include "projections/project_configs/queries.hpp"
#include "store/artifact_store.hpp"

namespace beampipe::services {
namespace {

// Module bytes by digest: content-addressed, so never stale; a few projects' modules at most.
class module_bytes_cache {
 public:
  std::shared_ptr<const std::string> get(pqxx::connection& c, const std::string& sha) {
    {
      std::lock_guard lock(mu_);
      if (auto it = bytes_.find(sha); it != bytes_.end()) return it->second;
    }
    auto blob = store::get_artifact(c, sha);
    if (!blob) return nullptr;
    auto bytes = std::make_shared<const std::string>(std::move(blob->content));
    std::lock_guard lock(mu_);
    if (bytes_.size() >= 16) bytes_.clear();
    bytes_.emplace(sha, bytes);
    return bytes;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>> bytes_;
};

module_bytes_cache& cache() {
  static module_bytes_cache c;
  return c;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

std::optional<domain::project_hooks> bind_project_hooks(
    pqxx::connection& c, const domain::ProjectConfig& config,
    std::shared_ptr<adapters::wasm_hook_runner> runner) {
  if (!runner || !config.extension || config.extension->hooks.empty()) return std::nullopt;
  const auto& project = config.metadata.id;
  std::optional<std::string> pinned;
  if (config.extension->wasm_sha256) pinned = lower(*config.extension->wasm_sha256);
  std::optional<std::string> sha;
  {
    pqxx::read_transaction tx{c};
    sha = projections::project_configs::hook_module(tx, project, pinned);
  }
  if (!sha) {
    spdlog::warn("project {} lists WebAssembly hooks but {}: no hook runs", project,
                 pinned ? "its pinned module " + *pinned + " was never uploaded"
                        : std::string("has no module uploaded"));
    return std::nullopt;
  }
  auto bytes = cache().get(c, *sha);
  if (!bytes) {
    spdlog::warn("project {}: the bytes of WebAssembly module {} are missing: no hook runs",
                 project, *sha);
    return std::nullopt;
  }
  domain::project_hooks h;
  h.module_sha256 = *sha;
  h.listed = config.extension->hooks;
  h.call = [runner, bytes, sha = *sha](const std::string& hook, const boost::json::value& input) {
    domain::hook_answer a;
    auto t0 = std::chrono::steady_clock::now();
    try {
      a.output = runner->run_hook(sha, *bytes, hook, input);
    } catch (const std::exception& e) {  // wasm_hook_error, or the runner could not start
      a.error = e.what();
    }
    a.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    return a;
  };
  return h;
}

}  // namespace beampipe::services

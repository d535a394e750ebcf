#pragma once
// The project configs' queries (spec §2): the only SQL against project_configs and
// project_config_wasm outside their projections.
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "store/paging.hpp"

namespace beampipe::projections::project_configs {

// --- what the API answers: ConfigRead rows ---
// The project's active config.
std::optional<boost::json::object> active(pqxx::transaction_base& tx,
                                          const std::string& project_id);
// A revision that is not read from the table (time travel's, its columns as
// domain::config_record gives them) shaped exactly as active() shapes a stored one.
boost::json::object read_shape(pqxx::transaction_base& tx, const boost::json::object& columns);
// Every version of a project's config, newest first.
store::page_rows versions(pqxx::transaction_base& tx, const std::string& project_id, int64_t limit,
                          int64_t offset);
// Every project's active config, by project.
store::page_rows list_active(pqxx::transaction_base& tx, int64_t limit, int64_t offset);
// The projects ({project_id, version, active, spec_sha256} of each active config), by project.
store::page_rows list_projects(pqxx::transaction_base& tx, int64_t limit, int64_t offset);
// Whether the project has uploaded any config.
bool has_config(pqxx::transaction_base& tx, const std::string& project_id);
// A hook module of a project ("<project>/<sha256>"), as GET .../wasm/{sha256} answers it.
std::optional<boost::json::object> wasm(pqxx::transaction_base& tx, const std::string& project_id,
                                        const std::string& sha256);

// --- what admission and the workers ask ---
// The module a project's hooks run (§5.9, ⚠ Q2 fixed: found by project, not by revision): the
// pinned one when extension.wasm_sha256 names an uploaded module, else the newest upload;
// nullopt when the project has none (or the pinned one was never uploaded).
std::optional<std::string> hook_module(pqxx::transaction_base& tx, const std::string& project_id,
                                       const std::optional<std::string>& pinned_sha256);

// A config as it was stored: its spec is the JSON text (each caller parses and validates it,
// so one project's unreadable spec stops no other).
struct stored_config {
  std::string id, project_id;
  int64_t version = 0;
  std::string spec_sha256;
  std::string spec;
};
std::optional<stored_config> active_config(pqxx::transaction_base& tx,
                                           const std::string& project_id);
std::optional<stored_config> config_by_id(pqxx::transaction_base& tx, const std::string& id);
// Every project's active config, by project.
std::vector<stored_config> active_configs(pqxx::transaction_base& tx);

}  // namespace beampipe::projections::project_configs

#pragma once
// The deployment profiles' queries (spec §2.3): the only SQL against
// daliuge_deployment_profile outside its projection.
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "store/paging.hpp"

namespace beampipe::projections::deployment_profiles {

// --- what the API answers: ProfileRead rows ---
std::optional<boost::json::object> find(pqxx::transaction_base& tx, const std::string& id);
// Newest first; a project's view (project_module given) includes the global profiles it may
// fall back to.
store::page_rows list(pqxx::transaction_base& tx, const std::string& project_module, int64_t limit,
                      int64_t offset);

// --- what admission pins: the profile without its times (uuid, name, description,
// project_module, is_default, max_concurrent_executions, translation, deployment, revision,
// spec_sha256) ---
std::optional<boost::json::object> pinnable_by_id(pqxx::transaction_base& tx,
                                                  const std::string& id);
std::optional<boost::json::object> pinnable_by_name(pqxx::transaction_base& tx,
                                                    const std::string& name);
// The project's default, else the global default.
std::optional<boost::json::object> pinnable_default(pqxx::transaction_base& tx,
                                                    const std::string& project_module);

// The profile an operator's checks default to: the global default, else the one default
// profile when exactly one project has one.
std::optional<boost::json::object> operator_default(pqxx::transaction_base& tx);

// Every profile's backend settings ({name, translation, deployment}): what the prober checks.
std::vector<boost::json::object> backends(pqxx::transaction_base& tx);

}  // namespace beampipe::projections::deployment_profiles

#pragma once
// The provenance timeline's queries (spec §1.9, §8.2): the only SQL against provenance_events
// outside the projection. Rows are ProvenanceEvent (api_schemas.cpp).
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "store/paging.hpp"

namespace beampipe::projections::provenance {

// A run's events, oldest first.
store::page_rows for_execution(pqxx::transaction_base& tx, const std::string& execution_id,
                               int64_t limit, int64_t offset);
// A run's `n` most recent events, oldest first.
boost::json::array recent_for_execution(pqxx::transaction_base& tx, const std::string& execution_id,
                                        int64_t n);
// A source's events (its own and its runs'), newest first.
store::page_rows for_source(pqxx::transaction_base& tx, const std::string& project_module,
                            const std::string& source_identifier, int64_t limit, int64_t offset);
// A project's events, newest first.
store::page_rows for_project(pqxx::transaction_base& tx, const std::string& project_module,
                             int64_t limit, int64_t offset);
// Discoveries that found changed data in the last `window_minutes` (in a project, or all):
// the discovery_stall alert.
// Rows of one project (all when empty), and the earliest time among them (null when none):
// what a purge left.
struct extent {
  int64_t rows = 0;
  std::optional<std::string> oldest;
};
extent extent_of(pqxx::transaction_base& tx, const std::string& project_module);

int64_t discovery_changes_within(pqxx::transaction_base& tx,
                                 const std::optional<std::string>& project_module,
                                 int64_t window_minutes);

}  // namespace beampipe::projections::provenance

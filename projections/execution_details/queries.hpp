#pragma once
// The execution details' queries (spec §8.1 [HEAD]): the only SQL against
// execution_observations and execution_artifacts outside the projection.
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "store/paging.hpp"

namespace beampipe::projections::execution_details {

// A run's observations, oldest first (ExecutionObservation rows).
store::page_rows observations(pqxx::transaction_base& tx, const std::string& execution_id,
                              int64_t limit, int64_t offset);
// A run's artifacts, oldest first, each with the API path of its content (ExecutionArtifact
// rows).
store::page_rows artifacts(pqxx::transaction_base& tx, const std::string& execution_id,
                           int64_t limit, int64_t offset);
// The digest of a run's newest artifact of a kind.
std::optional<std::string> newest_artifact_sha256(pqxx::transaction_base& tx,
                                                  const std::string& execution_id,
                                                  const std::string& kind);
// A run's artifact row of a kind and digest.
std::optional<boost::json::object> artifact(pqxx::transaction_base& tx,
                                            const std::string& execution_id,
                                            const std::string& kind, const std::string& sha256);

}  // namespace beampipe::projections::execution_details

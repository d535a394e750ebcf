#include "projections/execution_details/queries.hpp"

#include "util/json.hpp"

namespace beampipe::projections::execution_details {
namespace json = boost::json;

store::page_rows observations(pqxx::transaction_base& tx, const std::string& execution_id,
                              int64_t limit, int64_t offset) {
  return store::read_page(tx, "SELECT to_jsonb(o) - 'position'",
                          "FROM execution_observations o WHERE execution_id = $1::uuid",
                          "ORDER BY observed_at, position", {execution_id}, limit, offset);
}

store::page_rows artifacts(pqxx::transaction_base& tx, const std::string& execution_id,
                           int64_t limit, int64_t offset) {
  return store::read_page(tx,
                          "SELECT to_jsonb(a) || jsonb_build_object('content_url', "
                          "'/api/v2/executions/' || execution_id || '/artifacts/' || kind)",
                          "FROM execution_artifacts a WHERE execution_id = $1::uuid",
                          "ORDER BY created_at, kind", {execution_id}, limit, offset);
}

std::optional<std::string> newest_artifact_sha256(pqxx::transaction_base& tx,
                                                  const std::string& execution_id,
                                                  const std::string& kind) {
  auto r = tx.exec_params(
      "SELECT sha256 FROM execution_artifacts WHERE execution_id = $1::uuid AND kind = $2 "
      "ORDER BY created_at DESC LIMIT 1",
      execution_id, kind);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

std::optional<json::object> artifact(pqxx::transaction_base& tx, const std::string& execution_id,
                                     const std::string& kind, const std::string& sha256) {
  auto r = tx.exec_params(
      "SELECT to_jsonb(a)::text FROM execution_artifacts a WHERE execution_id = $1::uuid "
      "AND kind = $2 AND sha256 = $3",
      execution_id, kind, sha256);
  return store::first_object(r);
}

}  // namespace beampipe::projections::execution_details

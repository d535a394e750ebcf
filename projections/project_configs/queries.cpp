#include "projections/project_configs/queries.hpp"

#include "store/db.hpp"
#include "util/json.hpp"

namespace beampipe::projections::project_configs {
namespace json = boost::json;

namespace {

constexpr const char* kConfigRow =
    "SELECT json_build_object('uuid', uuid, 'project_id', project_id, 'version', version, "
    "'spec', spec, 'spec_sha256', spec_sha256, 'active', active, 'uploaded_at', uploaded_at, "
    "'warnings', warnings)";

constexpr const char* kStored =
    "SELECT uuid::text, project_id, version, spec_sha256, spec::text FROM project_configs ";

stored_config stored_of(const pqxx::row& r) {
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(),
          r[3].as<std::string>(), r[4].as<std::string>()};
}

std::optional<stored_config> first_stored(const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  return stored_of(r[0]);
}

}  // namespace

std::optional<json::object> active(pqxx::transaction_base& tx, const std::string& project_id) {
  auto r = tx.exec_params(
      std::string(kConfigRow) + " FROM project_configs WHERE project_id = $1 AND active",
      project_id);
  return store::first_object(r);
}

json::object read_shape(pqxx::transaction_base& tx, const json::object& columns) {
  auto r = tx.exec_params(
      std::string(kConfigRow) + " FROM jsonb_populate_record(NULL::project_configs, $1::jsonb) x",
      json::serialize(columns));
  return *store::first_object(r);
}

store::page_rows versions(pqxx::transaction_base& tx, const std::string& project_id, int64_t limit,
                          int64_t offset) {
  return store::read_page(tx, kConfigRow, "FROM project_configs WHERE project_id = $1",
                          "ORDER BY version DESC", {project_id}, limit, offset);
}

store::page_rows list_active(pqxx::transaction_base& tx, int64_t limit, int64_t offset) {
  return store::read_page(tx, kConfigRow, "FROM project_configs WHERE active",
                          "ORDER BY project_id", {}, limit, offset);
}

store::page_rows list_projects(pqxx::transaction_base& tx, int64_t limit, int64_t offset) {
  return store::read_page(tx,
                          "SELECT json_build_object('project_id', project_id, 'version', version, "
                          "'active', active, 'spec_sha256', spec_sha256)",
                          "FROM project_configs WHERE active", "ORDER BY project_id", {}, limit,
                          offset);
}

bool has_config(pqxx::transaction_base& tx, const std::string& project_id) {
  return !tx.exec_params("SELECT 1 FROM project_configs WHERE project_id = $1 LIMIT 1", project_id)
              .empty();
}

std::optional<json::object> wasm(pqxx::transaction_base& tx, const std::string& project_id,
                                 const std::string& sha256) {
  auto r = tx.exec_params(
      "SELECT json_build_object('wasm_sha256', wasm_sha256, 'project_config_id', "
      "project_config_id, 'project_id', project_id, 'size_bytes', size_bytes, 'uploaded_at', "
      "uploaded_at) FROM project_config_wasm WHERE wasm_key = $1",
      project_id + "/" + sha256);
  return store::first_object(r);
}

std::optional<std::string> hook_module(pqxx::transaction_base& tx, const std::string& project_id,
                                       const std::optional<std::string>& pinned_sha256) {
  auto r = pinned_sha256
               ? tx.exec_params("SELECT wasm_sha256 FROM project_config_wasm WHERE wasm_key = $1",
                                project_id + "/" + *pinned_sha256)
               : tx.exec_params(
                     "SELECT wasm_sha256 FROM project_config_wasm WHERE project_id = $1 "
                     "ORDER BY uploaded_at DESC, wasm_sha256 DESC LIMIT 1",
                     project_id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

std::optional<stored_config> active_config(pqxx::transaction_base& tx,
                                           const std::string& project_id) {
  return first_stored(store::exec_prepared_once(
      tx, "project_configs_active_stored",
      std::string(kStored) + "WHERE project_id = $1 AND active", project_id));
}

std::optional<stored_config> config_by_id(pqxx::transaction_base& tx, const std::string& id) {
  return first_stored(store::exec_prepared_once(
      tx, "project_configs_stored_by_id", std::string(kStored) + "WHERE uuid = $1::uuid", id));
}

std::vector<stored_config> active_configs(pqxx::transaction_base& tx) {
  std::vector<stored_config> out;
  for (const auto& r : tx.exec(std::string(kStored) + "WHERE active ORDER BY project_id"))
    out.push_back(stored_of(r));
  return out;
}

}  // namespace beampipe::projections::project_configs

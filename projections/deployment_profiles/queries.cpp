#include "projections/deployment_profiles/queries.hpp"

#include "util/json.hpp"

namespace beampipe::projections::deployment_profiles {
namespace json = boost::json;

namespace {

constexpr const char* kProfileRow =
    "SELECT json_build_object('uuid', uuid, 'name', name, 'description', description, "
    "'project_module', project_module, 'is_default', is_default, 'translation', translation, "
    "'deployment', deployment, 'max_concurrent_executions', max_concurrent_executions, "
    "'revision', revision, 'spec_sha256', spec_sha256, 'created_at', created_at, "
    "'updated_at', updated_at)";

constexpr const char* kPinnable =
    "SELECT json_build_object('uuid', uuid, 'name', name, 'description', description, "
    "'project_module', project_module, 'is_default', is_default, 'max_concurrent_executions', "
    "max_concurrent_executions, 'translation', translation, 'deployment', deployment, "
    "'revision', revision, 'spec_sha256', spec_sha256) FROM daliuge_deployment_profile ";

}  // namespace

std::optional<json::object> find(pqxx::transaction_base& tx, const std::string& id) {
  return store::first_object(tx.exec_params(
      std::string(kProfileRow) + " FROM daliuge_deployment_profile WHERE uuid = $1::uuid", id));
}

store::page_rows list(pqxx::transaction_base& tx, const std::string& project_module, int64_t limit,
                      int64_t offset) {
  return store::read_page(tx, kProfileRow,
                          "FROM daliuge_deployment_profile WHERE $1 = '' OR project_module = $1 "
                          "OR project_module IS NULL",
                          "ORDER BY created_at DESC, uuid", {project_module}, limit, offset);
}

std::optional<json::object> pinnable_by_id(pqxx::transaction_base& tx, const std::string& id) {
  return store::first_object(tx.exec_params(std::string(kPinnable) + "WHERE uuid = $1::uuid", id));
}

std::optional<json::object> pinnable_by_name(pqxx::transaction_base& tx, const std::string& name) {
  return store::first_object(tx.exec_params(std::string(kPinnable) + "WHERE name = $1", name));
}

std::optional<json::object> pinnable_default(pqxx::transaction_base& tx,
                                             const std::string& project_module) {
  return store::first_object(tx.exec_params(
      std::string(kPinnable) + "WHERE is_default AND (project_module = $1 OR project_module "
                               "IS NULL) ORDER BY project_module NULLS LAST LIMIT 1",
      project_module));
}

std::optional<json::object> operator_default(pqxx::transaction_base& tx) {
  if (auto global = pinnable_default(tx, "")) return global;
  auto r = tx.exec(std::string(kPinnable) + "WHERE is_default LIMIT 2");
  if (r.size() != 1) return std::nullopt;
  return store::first_object(r);
}

std::vector<json::object> backends(pqxx::transaction_base& tx) {
  std::vector<json::object> out;
  for (const auto& r : tx.exec("SELECT json_build_object('name', name, 'translation', translation, "
                               "'deployment', deployment)::text FROM daliuge_deployment_profile"))
    out.push_back(util::parse_stored(r[0].c_str()).as_object());
  return out;
}

}  // namespace beampipe::projections::deployment_profiles

// The registry of read models: each lives in its slice (projections/<model>/) with its
// projection and its queries.
#include <map>

#include "projections/alerting/projection.hpp"
#include "projections/deployment_profiles/projection.hpp"
#include "projections/engine.hpp"
#include "projections/execution_details/projection.hpp"
#include "projections/execution_ledger/projection.hpp"
#include "projections/jobs/projection.hpp"
#include "projections/project_configs/projection.hpp"
#include "projections/provenance/projection.hpp"
#include "projections/source_registry/projection.hpp"
#include "projections/users/projection.hpp"
#include "projections/workers/projection.hpp"

namespace beampipe::projections {

std::vector<std::shared_ptr<const projection>> standard_projections() {
  std::vector<std::shared_ptr<const projection>> all{
      source_registry::make_projection(), execution_ledger::make_projection(),
      provenance::make_projection(), execution_details::make_projection(), jobs::make_projection()};
  auto add = [&](std::vector<std::shared_ptr<const projection>> more) {
    for (auto& p : more) all.push_back(std::move(p));
  };
  add(project_configs::make_projections());
  add({deployment_profiles::make_projection(),
       source_registry::make_archive_metadata_projection()});
  add(users::make_projections());
  add(alerting::make_projections());
  add({workers::make_projection()});
  return all;
}

std::vector<std::shared_ptr<engine>> engines_by_group(
    const std::vector<std::shared_ptr<const projection>>& projections) {
  std::map<std::string, std::vector<std::shared_ptr<const projection>>> by_group;
  for (const auto& p : projections) by_group[p->group()].push_back(p);
  std::vector<std::shared_ptr<engine>> out;
  for (auto& [group, members] : by_group) out.push_back(std::make_shared<engine>(members));
  return out;
}

std::vector<std::shared_ptr<engine>> standard_engines_by_group() {
  return engines_by_group(standard_projections());
}

}  // namespace beampipe::projections

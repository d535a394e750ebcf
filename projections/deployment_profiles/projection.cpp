// Every value comes from the event (timestamps are the event's recorded_at), so a rebuild
// reproduces the same rows byte for byte.
#include "projections/deployment_profiles/projection.hpp"

#include "events/catalog.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::projections::deployment_profiles {
namespace et = beampipe::events::type;
using util::at_or_null;

namespace {

class deployment_profiles_projection : public projection {
 public:
  std::string name() const override { return model::deployment_profiles; }
  std::string group() const override { return "configs"; }
  std::vector<table_spec> tables() const override {
    return {{"daliuge_deployment_profile", "uuid", "uuid"}};
  }
  bool handles(const std::string& t) const override {
    return t == et::profile_created || t == et::profile_updated || t == et::profile_deleted;
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("daliuge_deployment_profile", std::string(d.at("uuid").as_string()));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    std::string uuid(d.at("uuid").as_string());
    if (e.type == et::profile_deleted) {
      rows.erase("daliuge_deployment_profile", uuid);
      return;
    }
    const auto& p = d.at("profile").as_object();
    const auto* existing = rows.find("daliuge_deployment_profile", uuid);
    json::object r{
        {"uuid", uuid},
        {"name", p.at("name")},
        {"description", at_or_null(p, "description")},
        {"project_module", at_or_null(p, "project_module")},
        {"is_default", p.at("is_default")},
        {"translation", p.at("translation")},
        {"deployment", p.at("deployment")},
        {"max_concurrent_executions", at_or_null(p, "max_concurrent_executions")},
        {"revision", d.at("revision")},
        {"spec_sha256", d.at("spec_sha256")},
        {"created_at", existing ? existing->at("created_at") : json::value(e.recorded_at)},
        {"updated_at", e.recorded_at}};
    rows.put("daliuge_deployment_profile", uuid, std::move(r));
  }
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<deployment_profiles_projection>();
}

}  // namespace beampipe::projections::deployment_profiles

// Every value comes from the event (timestamps are the event's recorded_at), so a rebuild
// reproduces the same rows byte for byte; the revisions' fold is domain::config_record's.
#include "projections/project_configs/projection.hpp"

#include "domain/config_record.hpp"
#include "events/catalog.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::projections::project_configs {
namespace et = beampipe::events::type;
using util::at_or_null;

namespace {

class project_configs_projection : public projection {
 public:
  std::string name() const override { return model::project_configs; }
  std::string group() const override { return "configs"; }
  std::vector<table_spec> tables() const override { return {{"project_configs", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override { return domain::config_record::handles(t); }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("project_configs", std::string(d.at("uuid").as_string()));
    if (auto p = d.find("previous_uuid"); p != d.end() && p->value().is_string())
      out.emplace_back("project_configs", std::string(p->value().as_string()));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    namespace record = domain::config_record;
    if (auto r = record::uploaded(e.type, d, e.recorded_at)) {
      auto key = r->uuid;
      rows.put("project_configs", key, record::columns(*r));
      return;
    }
    auto a = record::activated(e.type, d);
    if (!a) return;
    auto set_active = [&](const std::string& uuid, bool active) {
      if (auto* row = rows.edit("project_configs", uuid)) {
        (*row)["active"] = active;
        rows.mark_dirty("project_configs", uuid);
      }
    };
    if (a->previous_uuid) set_active(*a->previous_uuid, false);
    set_active(a->uuid, true);
  }
};

// project_config_wasm: which hook modules each project has.
class project_wasm_projection : public projection {
 public:
  std::string name() const override { return model::project_wasm; }
  std::string group() const override { return "configs"; }
  std::vector<table_spec> tables() const override {
    return {{"project_config_wasm", "wasm_key", "text"}};
  }
  bool handles(const std::string& t) const override { return t == et::project_wasm_uploaded; }
  static std::string key_of(const json::object& d) {
    return std::string(d.at("project_id").as_string()) + "/" +
           std::string(d.at("wasm_sha256").as_string());
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("project_config_wasm", key_of(d));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = key_of(d);
    rows.put("project_config_wasm", key,
             {{"wasm_key", key},
              {"project_id", d.at("project_id")},
              {"wasm_sha256", d.at("wasm_sha256")},
              {"project_config_id", d.at("project_config_id")},
              {"size_bytes", d.at("size_bytes")},
              {"uploaded_at", e.recorded_at}});
  }
};

}  // namespace

std::vector<std::shared_ptr<const projection>> make_projections() {
  return {std::make_shared<project_configs_projection>(),
          std::make_shared<project_wasm_projection>()};
}

}  // namespace beampipe::projections::project_configs

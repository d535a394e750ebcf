// The archive_metadata projection, part of the source registry's slice: readiness reads a
// source's row and its archive rows together. Every value comes from the event.
#include "events/catalog.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"
#include "projections/source_registry/projection.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::projections::source_registry {
namespace et = beampipe::events::type;

namespace {

// One row per (source, SBID); its id is derived so a later discovery finds the same row.
std::string metadata_row_id(const std::string& source_uuid, const std::string& sbid) {
  return util::uuid_v5(source_uuid, sbid);
}

class archive_metadata_projection : public projection {
 public:
  std::string name() const override { return model::archive_metadata; }
  std::string group() const override { return "sources"; }
  std::vector<table_spec> tables() const override { return {{"archive_metadata", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override { return t == et::discovery_completed; }
  void keys(const events::recorded_event& e, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    auto src = events::stream_key_of(e.stream_id);
    if (auto r = d.find("rows"); r != d.end() && r->value().is_object())
      for (const auto& kv : r->value().as_object())
        out.emplace_back("archive_metadata", metadata_row_id(src, kv.key()));
    if (auto del = d.find("delete_sbids"); del != d.end() && del->value().is_array())
      for (const auto& sbid : del->value().as_array())
        out.emplace_back("archive_metadata", metadata_row_id(src, std::string(sbid.as_string())));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto src = events::stream_key_of(e.stream_id);
    if (auto del = d.find("delete_sbids"); del != d.end() && del->value().is_array())
      for (const auto& sbid : del->value().as_array())
        rows.erase("archive_metadata", metadata_row_id(src, std::string(sbid.as_string())));
    auto r = d.find("rows");
    if (r == d.end() || !r->value().is_object()) return;
    for (const auto& kv : r->value().as_object()) {
      auto id = metadata_row_id(src, kv.key());
      const auto* existing = rows.find("archive_metadata", id);
      rows.put("archive_metadata", id,
               {{"uuid", id},
                {"source_uuid", src},
                {"project_module", d.at("project_module")},
                {"source_identifier", d.at("source_identifier")},
                {"sbid", kv.key()},
                {"metadata_json", kv.value()},
                {"created_at", existing ? existing->at("created_at") : json::value(e.recorded_at)},
                {"updated_at", e.recorded_at}});
    }
  }
};

}  // namespace

std::shared_ptr<const projection> make_archive_metadata_projection() {
  return std::make_shared<archive_metadata_projection>();
}

}  // namespace beampipe::projections::source_registry

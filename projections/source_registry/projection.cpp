// The source_registry projection: domain::source_record's fold over stored rows (time travel
// replays a stream through the same fold).
#include "projections/source_registry/projection.hpp"

#include "domain/source_record.hpp"
#include "events/catalog.hpp"
#include "projections/read_model_names.hpp"

namespace beampipe::projections::source_registry {
namespace {

class source_registry_projection : public projection {
 public:
  std::string name() const override { return model::source_registry; }
  std::string group() const override { return "sources"; }
  std::vector<table_spec> tables() const override { return {{"source_registry", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override { return domain::source_record::handles(t); }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("source_registry", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    namespace record = domain::source_record;
    auto key = events::stream_key_of(e.stream_id);
    const auto* stored = rows.find("source_registry", key);
    bool exists = stored != nullptr;
    auto row = exists ? record::from_columns(*stored) : record::row{};
    if (!record::evolve(row, exists, e.type, d, e.recorded_at)) return;
    row.uuid = key;
    row.stream_version = e.stream_version;
    rows.put("source_registry", key, record::columns(row));
  }
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<source_registry_projection>();
}

}  // namespace beampipe::projections::source_registry

// The source_registry projection: domain::source_record's fold over stored rows (time travel
// replays a stream through the same fold).
#include "projections/source_registry/projection.hpp"

#include "domain/source_record.hpp"
#include "events/catalog.hpp"
#include "projections/read_model_names.hpp"

namespace beampipe::projections::source_registry {
namespace {
namespace record = domain::source_record;

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
    auto key = events::stream_key_of(e.stream_id);
    // evolve() changes nothing when it returns false, so the held row is evolved in place.
    auto* held = rows.find_as(kRow, "source_registry", key);
    bool exists = held != nullptr;
    record::row fresh;
    auto& row = exists ? *held : fresh;
    if (!record::evolve(row, exists, e.type, d, e.recorded_at)) return;
    row.uuid = key;
    row.stream_version = e.stream_version;
    if (held)
      rows.mark_dirty("source_registry", key);
    else
      rows.put_as(kRow, "source_registry", key, std::move(fresh));
  }

 private:
  static constexpr row_type<record::row> kRow{record::from_columns, record::columns};
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<source_registry_projection>();
}

}  // namespace beampipe::projections::source_registry

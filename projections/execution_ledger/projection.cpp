// The execution ledger projection. Every value comes from the event (timestamps are the
// event's recorded_at), so a rebuild reproduces the same rows byte for byte.
#include "projections/execution_ledger/projection.hpp"

#include "domain/ledger.hpp"
#include "events/catalog.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"

namespace beampipe::projections::execution_ledger {
namespace et = beampipe::events::type;

namespace {

class execution_ledger_projection : public projection {
 public:
  std::string name() const override { return model::execution_ledger; }
  std::string group() const override { return "executions"; }
  std::vector<table_spec> tables() const override {
    return {{"batch_execution_record", "uuid", "uuid"}};
  }
  bool handles(const std::string& t) const override { return et::is_execution_event(t); }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("batch_execution_record", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    namespace ledger = domain::ledger;
    auto key = events::stream_key_of(e.stream_id);
    // The row this batch owns (the stored one is copied once, on the first edit), decoded and
    // encoded by moving its documents: a wide row with the manifest is copied once per batch.
    auto* current =
        e.type == et::execution_created ? nullptr : rows.edit("batch_execution_record", key);
    if (!current && e.type != et::execution_created) return;  // never invent a row
    auto row = current ? ledger::from_columns_taking(*current) : ledger::row{};
    ledger::evolve(row, e.type, d, e.recorded_at);
    row.uuid = key;
    row.stream_version = e.stream_version;
    rows.put("batch_execution_record", key, ledger::columns_taking(row));
  }
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<execution_ledger_projection>();
}

}  // namespace beampipe::projections::execution_ledger

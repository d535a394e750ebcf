// The execution details projection. Every value comes from the event (timestamps are the
// event's recorded_at), so a rebuild reproduces the same rows byte for byte.
#include "projections/execution_details/projection.hpp"

#include "events/catalog.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::projections::execution_details {
namespace et = beampipe::events::type;
using util::at_or_null;

namespace {

// execution_observations and execution_artifacts (§8.1 [HEAD]): one row per observation an
// event carries, one per artifact (unique per execution, kind and digest).
class execution_details_projection : public projection {
 public:
  std::string name() const override { return model::execution_details; }
  std::string group() const override { return "executions"; }
  std::vector<table_spec> tables() const override {
    return {{"execution_observations", "id", "uuid"}, {"execution_artifacts", "id", "uuid"}};
  }
  bool handles(const std::string& t) const override { return et::is_execution_event(t); }
  void keys(const events::recorded_event& e, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    if (auto it = d.find("artifacts"); it != d.end() && it->value().is_array())
      for (const auto& a : it->value().as_array())
        out.emplace_back("execution_artifacts", artifact_id(e, a));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto exec = events::stream_key_of(e.stream_id);
    if (auto it = d.find("observation"); it != d.end() && it->value().is_object()) {
      const auto& o = it->value().as_object();
      json::object r{{"id", e.event_id},
                     {"execution_id", exec},
                     {"kind", at_or_null(o, "kind")},
                     {"normalized_state", at_or_null(o, "normalized_state")},
                     {"raw_state", at_or_null(o, "raw_state")},
                     {"reason", at_or_null(o, "reason")},
                     {"payload", o.contains("payload") && !o.at("payload").is_null()
                                     ? o.at("payload")
                                     : json::value(json::object{})},
                     {"source_version", at_or_null(o, "source_version")},
                     {"observed_at", e.recorded_at},
                     {"position", e.position}};
      rows.put("execution_observations", e.event_id, std::move(r));
    }
    if (auto it = d.find("artifacts"); it != d.end() && it->value().is_array())
      for (const auto& a : it->value().as_array()) {
        auto id = artifact_id(e, a);
        if (rows.find("execution_artifacts", id)) continue;  // same content recorded again
        const auto& o = a.as_object();
        json::object r{
            {"id", id},
            {"execution_id", exec},
            {"kind", o.at("kind")},
            {"storage_kind", "database"},
            {"media_type", at_or_null(o, "media_type")},
            {"sha256", o.at("sha256")},
            {"size_bytes", at_or_null(o, "size_bytes")},
            {"producer_phase", at_or_null(o, "producer_phase")},
            {"metadata", o.contains("metadata") ? o.at("metadata") : json::value(json::object{})},
            {"created_at", e.recorded_at}};
        rows.put("execution_artifacts", id, std::move(r));
      }
  }

 private:
  static std::string artifact_id(const events::recorded_event& e, const json::value& a) {
    const auto& o = a.as_object();
    return util::uuid_v5(
        events::stream_key_of(e.stream_id),
        std::string(o.at("kind").as_string()) + ":" + std::string(o.at("sha256").as_string()));
  }
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<execution_details_projection>();
}

}  // namespace beampipe::projections::execution_details

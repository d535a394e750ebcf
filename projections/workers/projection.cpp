// Every value comes from the event (times are its recorded_at), so a rebuild gives the same rows.
#include "projections/workers/projection.hpp"

#include "events/envelope.hpp"
#include "events/types.hpp"
#include "events/workers.hpp"
#include "projections/read_model_names.hpp"

namespace beampipe::projections::workers {
namespace et = beampipe::events::type;

namespace {

class worker_drains_projection : public projection {
 public:
  std::string name() const override { return model::worker_drains; }
  std::string group() const override { return "workers"; }
  std::vector<table_spec> tables() const override {
    return {{"worker_drains", "worker_id", "text"}};
  }
  bool handles(const std::string& t) const override {
    return t == et::worker_drained || t == et::worker_resumed;
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("worker_drains", std::string(d.at("worker_id").as_string()));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    std::string id(d.at("worker_id").as_string());
    auto* row = rows.edit("worker_drains", id);
    if (!row)
      row = &rows.put("worker_drains", id,
                      json::object{{"worker_id", id},
                                   {"draining", false},
                                   {"reason", nullptr},
                                   {"requested_by", nullptr},
                                   {"draining_at", nullptr},
                                   {"resumed_at", nullptr}});
    auto actor = events::event_metadata::from_json(e.metadata).actor;
    json::value by = actor.empty() ? json::value(nullptr) : json::value(actor);
    if (e.type == et::worker_drained) {
      auto ev = events::decode_as<events::worker_drained>(d);
      (*row)["draining"] = true;
      (*row)["reason"] = ev.reason.empty() ? json::value(nullptr) : json::value(ev.reason);
      (*row)["requested_by"] = by;
      (*row)["draining_at"] = e.recorded_at;
      (*row)["resumed_at"] = nullptr;
    } else {
      (*row)["draining"] = false;
      (*row)["requested_by"] = by;
      (*row)["resumed_at"] = e.recorded_at;
    }
    (*row)["updated_at"] = e.recorded_at;
    (*row)["stream_version"] = e.stream_version;
    rows.mark_dirty("worker_drains", id);
  }
};

}  // namespace

std::shared_ptr<const projection> make_projection() {
  return std::make_shared<worker_drains_projection>();
}

}  // namespace beampipe::projections::workers

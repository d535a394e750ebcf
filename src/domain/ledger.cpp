// Version 1 execution events carry what the row looks like afterwards (see events/execution.hpp):
//   after             ledger columns as they are after the event (merged into the row)
//   stamp             columns set to the event's recorded_at
//   stamp_once        columns set to recorded_at only while still null (started_at, ...)
//   run_record_merge  deep-merged into workflow_manifest.beampipe_run_record
// A control_phase the event sets is also timestamped in phase_timestamps.
#include "domain/ledger.hpp"

#include "events/types.hpp"

namespace beampipe::domain::ledger {
namespace json = boost::json;
namespace et = beampipe::events::type;

namespace {

// Objects merge key by key; anything else replaces. Legacy "observations" arrays are dropped
// on merge (§8.1).
void deep_merge(json::object& into, const json::object& patch) {
  for (const auto& kv : patch) {
    auto it = into.find(kv.key());
    if (it != into.end() && it->value().is_object() && kv.value().is_object())
      deep_merge(it->value().as_object(), kv.value().as_object());
    else
      into[kv.key()] = kv.value();
  }
  into.erase("observations");
}

const json::object* object_at(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

}  // namespace

void evolve(row& r, std::string_view type, const json::object& d, std::string_view recorded_at) {
  if (type == et::execution_created)
    r = row{{"created_at", recorded_at},
            {"phase_timestamps", json::object{}},
            {"workflow_manifest", nullptr}};
  const auto* after = object_at(d, "after");
  if (after)
    for (const auto& kv : *after) r[kv.key()] = kv.value();
  for (std::string_view list : {"stamp", "stamp_once"}) {
    auto it = d.find(list);
    if (it == d.end() || !it->value().is_array()) continue;
    for (const auto& col : it->value().as_array()) {
      if (!col.is_string()) continue;
      auto k = col.as_string();
      if (list == "stamp_once" && r.contains(k) && !r.at(k).is_null()) continue;
      r[k] = recorded_at;
    }
  }
  if (const auto* merge = object_at(d, "run_record_merge")) {
    auto& wm = r["workflow_manifest"];
    if (!wm.is_object()) wm = json::object{};
    auto& rr = wm.as_object()["beampipe_run_record"];
    if (!rr.is_object()) rr = json::object{};
    deep_merge(rr.as_object(), *merge);
  }
  if (after)
    if (auto cp = after->find("control_phase"); cp != after->end() && cp->value().is_string()) {
      auto& pts = r["phase_timestamps"];
      if (!pts.is_object()) pts = json::object{};
      pts.as_object()[cp->value().as_string()] = recorded_at;
    }
  r["updated_at"] = recorded_at;
}

}  // namespace beampipe::domain::ledger

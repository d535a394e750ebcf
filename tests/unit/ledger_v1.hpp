#pragma once
// What a version 1 execution event did to the ledger row, as the builds before issue #18
// applied it: the oracle the upcast facts are held to (test_event_schema.cpp).
//   after             ledger columns as they are after the event (merged into the row)
//   stamp             columns set to the event's recorded_at
//   stamp_once        columns set to recorded_at only while still null
//   run_record_merge  deep-merged into workflow_manifest.beampipe_run_record
//   the control_phase "after" names is timed in phase_timestamps
#include <boost/json.hpp>
#include <string_view>

#include "domain/ledger.hpp"

namespace beampipe::testing {

inline void apply_v1_envelope(boost::json::object& r, const boost::json::object& d,
                              std::string_view recorded_at) {
  namespace json = boost::json;
  const json::object* after =
      d.contains("after") && d.at("after").is_object() ? &d.at("after").as_object() : nullptr;
  if (after)
    for (const auto& kv : *after) r[kv.key()] = kv.value();
  for (std::string_view list : {"stamp", "stamp_once"}) {
    auto it = d.find(list);
    if (it == d.end() || !it->value().is_array()) continue;
    for (const auto& col : it->value().as_array()) {
      auto k = col.as_string();
      if (list == "stamp_once" && r.contains(k) && !r.at(k).is_null()) continue;
      r[k] = recorded_at;
    }
  }
  if (auto it = d.find("run_record_merge"); it != d.end() && it->value().is_object())
    domain::ledger::merge_run_record(r["workflow_manifest"], it->value().as_object());
  if (after)
    if (auto cp = after->find("control_phase"); cp != after->end() && cp->value().is_string()) {
      auto& pts = r["phase_timestamps"];
      if (!pts.is_object()) pts = json::object{};
      pts.as_object()[cp->value().as_string()] = recorded_at;
    }
  r["updated_at"] = recorded_at;
}

}  // namespace beampipe::testing

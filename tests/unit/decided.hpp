#pragma once
// Every event a decider produces in the unit tests must read as its own struct: the check the
// runtime makes before an append, made here on every decision the tests drive.
// With BEAMPIPE_EVENT_CAPTURE=FILE each decided event is also appended to FILE as a JSON line
// ({type, schema_version, data}): how golden payloads of types no recorded history holds were
// taken (tests/events/golden/README.md).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

#include "domain/aggregates.hpp"
#include "events/catalog.hpp"

namespace beampipe::testing {

inline void check_decided(const domain::decision& d) {
  static const char* capture = std::getenv("BEAMPIPE_EVENT_CAPTURE");
  for (const auto& e : d.events) {
    const auto* kind = events::find_kind(e.type);
    REQUIRE_MESSAGE(kind, "unknown event type " << e.type);
    int version = e.schema_version == 0 ? kind->version : e.schema_version;
    auto why = events::append_problem(e.type, version, e.data);
    CHECK_MESSAGE(why.empty(), why);
    if (capture) {
      std::ofstream out(capture, std::ios::app);
      out << boost::json::serialize(boost::json::object{
                 {"type", e.type}, {"schema_version", version}, {"data", e.data}})
          << "\n";
    }
  }
}

}  // namespace beampipe::testing

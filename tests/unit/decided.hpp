#pragma once
// Every event a decider produces in the unit tests must read as its own struct: the check the
// runtime makes before an append, made here on every decision the tests drive.
// With BEAMPIPE_EVENT_CAPTURE=FILE each decided event is also appended to FILE as a JSON line
// ({type, schema_version, data}): how golden payloads of types no recorded history holds were
// taken (tests/events/golden/README.md).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "domain/aggregates.hpp"
#include "events/catalog.hpp"

namespace beampipe::testing {

// The id the runtime gives a command (domain::command::new_id), made up for the tests.
inline std::string next_id() {
  static int n = 0;
  char buf[40];
  std::snprintf(buf, sizeof buf, "01a00000-0000-7000-8000-%012d", ++n);
  return buf;
}

inline void check_decided(const domain::decision& d) {
  static const char* capture = std::getenv("BEAMPIPE_EVENT_CAPTURE");
  for (auto e : d.events) {
    auto why = events::prepare_append(e);
    CHECK_MESSAGE(why.empty(), why);
    if (capture) {
      std::ofstream out(capture, std::ios::app);
      out << boost::json::serialize(boost::json::object{
                 {"type", e.type}, {"schema_version", e.schema_version}, {"data", e.data}})
          << "\n";
    }
  }
}

}  // namespace beampipe::testing

#pragma once
// Events of the maintenance stream ("maintenance-provenance"): an operator purged provenance
// rows older than a time (read-model retention; the events themselves are never deleted).
#include "events/codec.hpp"
#include "events/types.hpp"

namespace beampipe::events {

struct provenance_purged {
  static constexpr const char* kType = type::provenance_purged;
  static constexpr int kVersion = 1;
  std::string before;          // RFC 3339: rows that occurred earlier are dropped
  std::string project_module;  // empty: every project
  std::string reason;
};
BOOST_DESCRIBE_STRUCT(provenance_purged, (), (before, project_module, reason))

}  // namespace beampipe::events

#pragma once
// The event envelope: what an aggregate asks the store to append, and what the store
// returns when read. Data and metadata are JSON text, kept byte-exact in the store
// (column type json) so that a replay sees exactly what was written.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::events {

struct event_metadata {
  std::string correlation_id;
  std::string causation_id;
  std::string actor;  // e.g. "system:api", "user:<uuid>"
  std::string node;
  std::string to_json() const;
  static event_metadata from_json(const std::string& text);
};

struct new_event {
  std::string event_id;  // uuid; re-appending the same id with the same content is idempotent
  std::string type;
  int schema_version = 1;
  std::string data;      // JSON text
  std::string metadata;  // JSON text
  bool operator==(const new_event&) const = default;
};

struct recorded_event {
  int64_t position = 0;  // global position (identity column)
  int64_t tx_id = 0;     // writing transaction (xid8); reads are ordered by (tx_id, position)
  std::string event_id;
  std::string stream_id;
  std::string stream_type;
  int64_t stream_version = 0;
  std::string type;
  int schema_version = 1;
  std::string data;
  std::string metadata;
  std::string recorded_at;  // RFC 3339 as PostgreSQL prints it
  bool operator==(const recorded_event&) const = default;
};

// A position in the global read order. Events are totally ordered by (tx_id, position);
// the store only hands out events whose transaction is older than every running one, so
// nothing can later appear before a checkpoint.
struct read_position {
  int64_t tx_id = 0;
  int64_t position = 0;
  bool operator==(const read_position&) const = default;
  auto operator<=>(const read_position&) const = default;
};

inline read_position position_of(const recorded_event& e) { return {e.tx_id, e.position}; }

// "source-0190..." -> "source"
std::string stream_type_of(const std::string& stream_id);
// "source-0190..." -> "0190..."
std::string stream_key_of(const std::string& stream_id);
std::string stream_key_of_view(std::string_view stream_id);

}  // namespace beampipe::events

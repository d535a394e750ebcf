#pragma once
// What the event store accepts as event data and metadata, and how every reader parses it:
// the append path and the readers (aggregates, projections, the feed, replay) share this one
// definition, so nothing is stored that a reader cannot decode (issue #16).
//   * a JSON object, at most kEventDepth levels deep and within a size limit;
//   * every string and key valid UTF-8 without NUL (PostgreSQL's jsonb refuses \u0000).
#include <boost/json.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "util/input_rules.hpp"

namespace beampipe::events {

inline constexpr std::size_t kMaxDataBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxMetadataBytes = 16 * 1024;

// Why this text may not be stored as event data (or metadata, with its limit), or nullopt.
std::optional<std::string> storage_problem(std::string_view json_text,
                                           std::size_t max_bytes = kMaxDataBytes);

// Parses stored event data or metadata (a JSON object); throws std::runtime_error naming the
// problem. Accepts everything storage_problem accepts.
boost::json::object parse_payload(std::string_view json_text);

struct recorded_event;
// An event as the /api/v2/events feed answers it and `beampipe events export` writes it (one
// shape for both, so an export is the feed): position, event_id, stream_id, stream_type,
// stream_version, type, schema_version, data, metadata, recorded_at.
boost::json::object feed_json(const recorded_event& e);
// Whether the feeds (GET /events, the live stream) show the event: sign-ins and user accounts
// are for superusers' eyes only.
bool feed_visible(const recorded_event& e, bool superuser);

}  // namespace beampipe::events

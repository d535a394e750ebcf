#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::util {

using clock = std::chrono::system_clock;

// RFC 3339 UTC with microseconds, e.g. 2026-06-09T10:40:48.123456Z.
std::string to_rfc3339(clock::time_point t);
std::string now_rfc3339();
// ISO-8601 UTC with milliseconds and "Z" (the run record's format, §8.1).
std::string to_iso_millis(clock::time_point t);
// Parses "YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[:MM]]" (what the store and PostgreSQL's
// JSON print); nullopt when malformed.
std::optional<clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace beampipe::util

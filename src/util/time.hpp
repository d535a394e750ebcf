#pragma once
#include <chrono>
#include <string>

namespace beampipe::util {

using clock = std::chrono::system_clock;

// RFC 3339 UTC with microseconds, e.g. 2026-06-09T10:40:48.123456Z.
std::string to_rfc3339(clock::time_point t);
std::string now_rfc3339();

}  // namespace beampipe::util

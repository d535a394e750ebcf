#pragma once
// The operator console (console/, issue #20): a page and its script and style sheet, embedded
// in the binary and served at /console and every path below it (each page of the console has
// its own URL; the script renders it). Not part of the API: no token is needed to load it, and
// the script calls /api/v2 as the user who signs in. Every answer carries a strict
// Content-Security-Policy: scripts and styles from this origin only, nothing inline.
#include <optional>

#include "api/http.hpp"

namespace beampipe::api {

inline constexpr const char* kConsoleRoot = "/console";

// The answer for a console path (a page, an asset, or 405 for a method other than GET), or
// nothing when the path is not the console's.
std::optional<response> console_response(const request& req);

}  // namespace beampipe::api

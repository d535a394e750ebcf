#pragma once
#include <string>
#include <string_view>

namespace beampipe::util {

// A URL as it may be logged or shown: scheme://host:port/path. Userinfo (user:password@) is
// dropped, and a query or fragment (which may hold signatures or tokens) becomes "?…".
std::string redact_url(std::string_view url);

}  // namespace beampipe::util

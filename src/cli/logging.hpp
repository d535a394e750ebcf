#pragma once
#include "app/settings.hpp"

namespace beampipe::cli {
// spdlog set-up: human lines, or JSON lines when BEAMPIPE_LOG_JSON is true.
void setup_logging(const app::settings& s);
}  // namespace beampipe::cli

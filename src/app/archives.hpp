#pragma once
// Chooses the archive discovery talks to: the real TAP services when a URL is configured
// (project config adapters.casda_tap_url / vizier_tap_url, else BEAMPIPE_CASDA_TAP_URL /
// BEAMPIPE_VIZIER_TAP_URL), otherwise the bundled simulated archive.
#include <boost/json.hpp>

#include "actors/discovery_worker.hpp"
#include "app/settings.hpp"

namespace beampipe::app {

actors::archive_provider make_archive_provider(const settings& s);
// "simulated" when no TAP URL is set in the environment, else the configured URLs.
std::string describe_archive_environment(const settings& s);
// GET /health/tap: each configured service really probed (VOSI availability or a cheap
// query, 5 s timeout): "ok", "error" or "not_configured", with detail and latency.
boost::json::object probe_tap_services(const std::string& casda_url, const std::string& vizier_url);

}  // namespace beampipe::app

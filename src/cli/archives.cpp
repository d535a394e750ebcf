#include "cli/archives.hpp"

#include "archive/simulated.hpp"

#include <cstdlib>
#include <memory>

namespace beampipe::cli {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
}  // namespace

std::string describe_archive_environment() {
  auto casda = env("BEAMPIPE_CASDA_TAP_URL"), vizier = env("BEAMPIPE_VIZIER_TAP_URL");
  if (casda.empty() && vizier.empty()) return "simulated";
  return "tap casda=" + (casda.empty() ? std::string("-") : casda) + " vizier=" + (vizier.empty() ? std::string("-") : vizier);
}

actors::archive_provider make_archive_provider() {
  auto sim = std::make_shared<archive::simulated_archive>();
  return [sim](const domain::ProjectConfig& config) {
    auto casda = config.adapters.casda_tap_url.value_or(env("BEAMPIPE_CASDA_TAP_URL"));
    auto vizier = config.adapters.vizier_tap_url.value_or(env("BEAMPIPE_VIZIER_TAP_URL"));
    actors::archive_binding b;
    if (casda.empty() && vizier.empty()) {
      b.query = [sim](const std::string& adapter, const std::string& adql) { return sim->query(adapter, adql); };
      b.description = "simulated";
      b.simulated = true;
      return b;
    }
    // The TAP client lands with the archive adapters; until then a configured URL is an
    // explicit failure rather than a silent fall-back to simulated data.
    b.query = [](const std::string& adapter, const std::string&) {
      return domain::archive_answer{
          std::nullopt, domain::archive_failure{"adapter '" + adapter + "': the TAP client is not part of this build", false}};
    };
    b.description = "tap (unavailable)";
    return b;
  };
}

}  // namespace beampipe::cli

#include "cli/archives.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>

#include "adapters/http_client.hpp"
#include "adapters/tap_client.hpp"
#include "archive/simulated.hpp"

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
  // Shown by /ready and the log: without query strings or credentials.
  return "tap casda=" + (casda.empty() ? std::string("-") : adapters::redact_url(casda)) +
         " vizier=" + (vizier.empty() ? std::string("-") : adapters::redact_url(vizier));
}

actors::archive_provider make_archive_provider() {
  auto base = env("BEAMPIPE_SIMULATED_DATALINK_BASE");
  auto sim = std::make_shared<archive::simulated_archive>(
      base.empty() ? std::string(archive::simulated_archive::kDefaultDatalinkBase) : base);
  return [sim](const domain::ProjectConfig& config) {
    auto casda = config.adapters.casda_tap_url.value_or(env("BEAMPIPE_CASDA_TAP_URL"));
    auto vizier = config.adapters.vizier_tap_url.value_or(env("BEAMPIPE_VIZIER_TAP_URL"));
    actors::archive_binding b;
    if (casda.empty() && vizier.empty()) {
      b.query = [sim](const std::string& adapter, const std::string& adql) {
        return sim->query(adapter, adql);
      };
      b.description = "simulated";
      b.simulated = true;
      return b;
    }
    // Real TAP services: timeout and retries from adapters.tap (§5.3: attempts = retries + 1,
    // only transport failures are retried). An adapter without a URL is an explicit error,
    // never a silent fall-back to simulated data.
    // A malformed URL becomes a clear, non-retryable failure of every query on that adapter.
    struct endpoint {
      std::shared_ptr<adapters::tap_client> client;
      std::string error;
    };
    auto make = [&config](const std::string& url) -> endpoint {
      if (url.empty()) return {};
      adapters::tap_options o;
      o.base_url = url;
      o.http.read_timeout = std::chrono::seconds(config.adapters.tap.timeout_seconds);
      o.http.max_attempts = static_cast<int>(config.adapters.tap.retries) + 1;
      // Operators may cap result sizes; a capped result is recorded as truncated.
      try {
        if (auto m = env("BEAMPIPE_TAP_MAXREC"); !m.empty()) o.maxrec = std::stol(m);
        return {std::make_shared<adapters::tap_client>(o), ""};
      } catch (const std::exception& e) {
        return {nullptr, e.what()};
      }
    };
    auto casda_ep = make(casda), vizier_ep = make(vizier);
    b.query = [casda_ep, vizier_ep](const std::string& adapter, const std::string& adql) {
      const endpoint* ep = adapter == "casda"    ? &casda_ep
                           : adapter == "vizier" ? &vizier_ep
                                                 : nullptr;
      if (!ep || (!ep->client && ep->error.empty()))
        return domain::archive_answer{
            std::nullopt,
            domain::archive_failure{"adapter '" + adapter + "' is not configured", false}};
      if (!ep->client)
        return domain::archive_answer{
            std::nullopt,
            domain::archive_failure{"adapter '" + adapter + "': " + ep->error, false}};
      try {
        auto r = ep->client->query_sync(adql);
        domain::archive_rows rows;
        rows.truncated = r.truncated;
        for (std::size_t i = 0; i < r.row_count; ++i) rows.rows.push_back(r.row_object(i));
        return domain::archive_answer{std::move(rows), std::nullopt};
      } catch (const adapters::tap_error& e) {
        return domain::archive_answer{std::nullopt,
                                      domain::archive_failure{e.what(), e.retryable()}};
      } catch (const std::exception& e) {
        return domain::archive_answer{std::nullopt, domain::archive_failure{e.what(), true}};
      }
    };
    b.description = "tap casda=" + (casda.empty() ? std::string("-") : casda) +
                    " vizier=" + (vizier.empty() ? std::string("-") : vizier);
    return b;
  };
}

boost::json::object probe_tap_services() {
  boost::json::object out;
  for (const auto& [name, var] :
       {std::pair<std::string, const char*>{"casda", "BEAMPIPE_CASDA_TAP_URL"},
        {"vizier", "BEAMPIPE_VIZIER_TAP_URL"}}) {
    auto url = env(var);
    if (url.empty()) {
      out[name] = "not_configured";
      continue;
    }
    adapters::tap_options o;
    o.base_url = url;
    o.http.max_attempts = 1;
    try {
      auto h = adapters::tap_client(o).health(std::chrono::seconds(5));
      out[name] = h.available ? "ok" : "error";
      out[name + "_detail"] = h.detail;
      out[name + "_latency_ms"] = h.latency.count();
    } catch (const std::exception& e) {
      out[name] = "error";
      out[name + "_detail"] = e.what();
    }
  }
  return out;
}

}  // namespace beampipe::cli

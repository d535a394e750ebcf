#include "app/archives.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>

#include "adapters/http_client.hpp"
#include "adapters/tap_client.hpp"
#include "archive/simulated.hpp"
#include "util/redact.hpp"

namespace beampipe::app {

std::string describe_archive_environment(const settings& s) {
  const auto &casda = s.casda_tap_url, &vizier = s.vizier_tap_url;
  if (casda.empty() && vizier.empty()) return "simulated";
  // Shown by /ready and the log: without query strings or credentials.
  return "tap casda=" + (casda.empty() ? std::string("-") : util::redact_url(casda)) +
         " vizier=" + (vizier.empty() ? std::string("-") : util::redact_url(vizier));
}

actors::archive_provider make_archive_provider(const settings& s) {
  auto sim = std::make_shared<archive::simulated_archive>(s.simulated_datalink_base);
  return [sim, casda_env = s.casda_tap_url, vizier_env = s.vizier_tap_url,
          maxrec = s.tap_maxrec](const domain::ProjectConfig& config) {
    auto casda = config.adapters.casda_tap_url.value_or(casda_env);
    auto vizier = config.adapters.vizier_tap_url.value_or(vizier_env);
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
    auto make = [&config, maxrec](const std::string& url) -> endpoint {
      if (url.empty()) return {};
      adapters::tap_options o;
      o.base_url = url;
      o.http.read_timeout = std::chrono::seconds(config.adapters.tap.timeout_seconds);
      o.http.max_attempts = static_cast<int>(config.adapters.tap.retries) + 1;
      // Operators may cap result sizes; a capped result is recorded as truncated.
      try {
        if (maxrec) o.maxrec = *maxrec;
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

boost::json::object probe_tap_services(const std::string& casda_url,
                                       const std::string& vizier_url) {
  boost::json::object out;
  for (const auto& [name, url] :
       {std::pair<std::string, std::string>{"casda", casda_url}, {"vizier", vizier_url}}) {
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

}  // namespace beampipe::app

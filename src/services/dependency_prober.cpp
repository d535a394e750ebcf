#include "services/dependency_prober.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <set>

#include "adapters/http_client.hpp"
#include "adapters/tap_client.hpp"
#include "domain/deployment_profile.hpp"
#include "projections/deployment_profiles/queries.hpp"
#include "store/db.hpp"
#include "util/redact.hpp"
#include "util/time.hpp"

namespace beampipe::services {
namespace json = boost::json;

namespace {

using clock = std::chrono::steady_clock;

// One probe: `check` fills in up and detail; the time it took is measured here, and what it
// throws makes the dependency down with the reason.
template <class Check>
dependency_probe timed_probe(std::string dependency, std::string target, Check&& check) {
  dependency_probe p{std::move(dependency), std::move(target), false, 0, "", util::now_rfc3339()};
  auto t0 = clock::now();
  try {
    check(p);
  } catch (const std::exception& e) {
    p.up = false;
    p.detail = e.what();
  }
  p.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return p;
}

}  // namespace

dependency_probe probe_http(const std::string& dependency, const std::string& url,
                            std::chrono::seconds timeout) {
  return timed_probe(dependency, util::redact_url(url), [&](dependency_probe& p) {
    adapters::http_options o;
    o.connect_timeout = timeout;
    o.read_timeout = timeout;
    o.max_attempts = 1;
    o.max_response_bytes = 1 << 20;
    auto r = adapters::http_client(o).get(url);
    p.up = r.status < 500;
    if (!p.up) p.detail = "HTTP " + std::to_string(r.status);
  });
}

dependency_probe probe_slurm(adapters::execution_backend& backend,
                             const domain::DeploymentProfile& profile, const std::string& target,
                             std::chrono::seconds timeout) {
  return timed_probe("slurm", target, [&](dependency_probe& p) {
    if (auto r = backend.check_target(profile, timeout)) {
      p.up = r->up;
      p.detail = r->detail;
    } else {
      p.detail = "the backend has no check";
    }
  });
}

dependency_probe probe_tap(const std::string& dependency, const std::string& url,
                           std::chrono::seconds timeout) {
  return timed_probe(dependency, util::redact_url(url), [&](dependency_probe& p) {
    adapters::tap_options o;
    o.base_url = url;
    o.http.max_attempts = 1;
    auto h = adapters::tap_client(o).health(timeout);
    p.up = h.available;
    if (!p.up) p.detail = h.detail;
  });
}

std::vector<dependency_probe> probe_profile(const json::object& profile,
                                            const adapters::backend_factory& backends,
                                            std::chrono::seconds timeout,
                                            std::set<std::string>* seen) {
  std::set<std::string> own;
  if (!seen) seen = &own;
  std::vector<dependency_probe> out;
  auto object = [&](const char* k) {
    const auto* v = profile.if_contains(k);
    return v && v->is_object() ? v->as_object() : json::object();
  };
  auto translation = object("translation"), deployment = object("deployment");
  auto text = [](const json::object& o, const char* k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto number = [](const json::object& o, const char* k, int64_t fallback) {
    const auto* v = o.if_contains(k);
    return v && v->is_int64() ? v->as_int64() : fallback;
  };
  auto tm = text(translation, "tm_url");
  if (!tm.empty() && seen->insert("tm " + tm).second)
    out.push_back(probe_http("daliuge_tm", tm, timeout));
  auto kind = text(deployment, "kind");
  if (kind == "rest_remote") {
    auto host = text(deployment, "deploy_host");
    auto port = std::to_string(number(deployment, "deploy_port", 8001));
    const auto* https = deployment.if_contains("use_https");
    auto url = std::string(https && https->is_bool() && https->as_bool() ? "https" : "http") +
               "://" + host + ":" + port + "/api";
    if (!host.empty() && seen->insert("dim " + url).second)
      out.push_back(probe_http("daliuge_dim", url, timeout));
  } else if (kind == "slurm_remote") {
    auto host = text(deployment, "login_node");
    auto port = std::to_string(number(deployment, "ssh_port", 22));
    if (host.empty() || !backends || !seen->insert("ssh " + host + ":" + port).second) return out;
    auto parsed = domain::parse_deployment_profile(json::value(profile)).profile;
    if (!parsed || !std::holds_alternative<domain::SlurmRemoteDeployment>(parsed->deployment)) {
      dependency_probe p{"slurm", host + ":" + port, false, 0, "", util::now_rfc3339()};
      p.detail = "the deployment profile does not parse";
      out.push_back(std::move(p));
      return out;
    }
    out.push_back(probe_slurm(*backends(*parsed), *parsed, host + ":" + port, timeout));
  }
  return out;
}

dependency_prober::dependency_prober(store::database& db, dependency_prober_options opts)
    : db_(db), opts_(std::move(opts)) {}

dependency_prober::~dependency_prober() { stop(); }

void dependency_prober::start() {
  if (opts_.every.count() <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void dependency_prober::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<dependency_probe> dependency_prober::snapshot() const {
  std::lock_guard lock(mu_);
  return last_;
}

void dependency_prober::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    try {
      probe_now();
    } catch (const std::exception& e) {
      spdlog::warn("dependency probes failed: {}", e.what());
    }
    lock.lock();
    cv_.wait_for(lock, opts_.every, [this] { return stopping_; });
  }
}

void dependency_prober::probe_now() {
  std::vector<dependency_probe> out;
  std::vector<json::object> profiles;  // {name, translation, deployment}
  auto pg = timed_probe("postgres", "database", [&](dependency_probe& p) {
    auto c = db_.connect(store::db_role::prober);
    pqxx::read_transaction tx{*c};
    tx.exec("SELECT 1");
    p.up = true;
    if (opts_.real_backends) profiles = projections::deployment_profiles::backends(tx);
  });
  out.push_back(pg);
  for (const auto& [name, url] : opts_.tap_urls) out.push_back(probe_tap(name, url, opts_.timeout));
  // Each distinct target once, however many profiles share it.
  std::set<std::string> seen;
  for (const auto& body : profiles)
    for (auto& p : probe_profile(body, opts_.backends, opts_.timeout, &seen))
      out.push_back(std::move(p));
  std::lock_guard lock(mu_);
  last_ = std::move(out);
}

}  // namespace beampipe::services

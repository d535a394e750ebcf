#include "services/execution_admission.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/discovery.hpp"
#include "domain/project_config.hpp"
#include "domain/readiness.hpp"
#include "projections/deployment_profiles/queries.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/source_registry/queries.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::services {
namespace json = boost::json;

namespace {

[[noreturn]] void reject(int status, std::string code, const std::string& message,
                         std::string field) {
  throw admission_error(status, std::move(code), message, std::move(field));
}

std::string str_field(const json::object& b, const char* k) {
  return util::get_string_or(b, k, "");
}

std::string trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// §9.5 canonical request hash of an ExecutionCreate body.
}  // namespace

std::string execution_request_sha256(const json::object& body) {
  json::array sources;
  if (auto it = body.find("sources"); it != body.end() && it->value().is_array())
    for (const auto& s : it->value().as_array()) {
      if (!s.is_object()) continue;
      const auto& o = s.as_object();
      json::value sbids = nullptr;
      if (auto sb = o.find("sbids"); sb != o.end() && sb->value().is_array()) {
        json::array a;
        for (const auto& v : sb->value().as_array())
          a.push_back(v.is_string() ? json::value(trimmed(v.as_string())) : v);
        sbids = std::move(a);
      }
      sources.push_back(json::object{
          {"sbids", sbids}, {"source_identifier", trimmed(str_field(o, "source_identifier"))}});
    }
  auto opt = [&](const char* k) {
    auto it = body.find(k);
    return it == body.end() || it->value().is_null() ? json::value(nullptr)
           : it->value().is_string()                 ? json::value(trimmed(it->value().as_string()))
                                                     : it->value();
  };
  json::object canon{{"archive_name", opt("archive_name")},
                     {"deployment_profile_id", opt("deployment_profile_id")},
                     {"deployment_profile_name", opt("deployment_profile_name")},
                     {"project_module", opt("project_module")},
                     {"sources", std::move(sources)}};
  return util::sha256_hex(domain::stable_json(canon));
}

// Everything §9.5 checks before an execution may exist. Throws api_error on the first
// request-level problem; per-source readiness problems are collected.
execution_admission admit_execution(store::connection_pool& pool, const json::object& body,
                                    bool preview_only) {
  execution_admission a;
  auto module = trimmed(str_field(body, "project_module"));
  auto archive = trimmed(str_field(body, "archive_name"));
  if (module.empty()) reject(400, "invalid_field", "project_module is required", "project_module");
  if (!preview_only && archive.empty())
    reject(400, "invalid_field", "archive_name is required", "archive_name");
  auto src_it = body.find("sources");
  if (src_it == body.end() || !src_it->value().is_array() || src_it->value().as_array().empty())
    reject(400, "invalid_field", "sources must be a non-empty array", "sources");
  const auto& sources = src_it->value().as_array();
  bool by_id =
      body.contains("deployment_profile_id") && !body.at("deployment_profile_id").is_null();
  bool by_name =
      body.contains("deployment_profile_name") && !body.at("deployment_profile_name").is_null();
  if (by_id && by_name)
    reject(400, "invalid_field",
           "give at most one of deployment_profile_id and deployment_profile_name",
           "deployment_profile_name");

  std::optional<domain::ProjectConfig> config;
  std::string config_id;
  int64_t config_version = 0;
  std::string spec_sha;
  json::value spec;
  store::with_connection(pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    auto stored = projections::project_configs::active_config(tx, module);
    if (!stored) return;
    config_id = stored->id;
    config_version = stored->version;
    spec_sha = stored->spec_sha256;
    spec = util::parse_stored(stored->spec);
    config = domain::parse_project_config(spec).config;
  });
  if (!config)
    reject(400, "project_not_configured", "project '" + module + "' has no active config",
           "project_module");
  if (!preview_only) {
    const auto& req = config->adapters.required;
    if (std::find(req.begin(), req.end(), archive) == req.end())
      reject(400, "invalid_field",
             "archive_name '" + archive + "' is not one of the project's adapters.required",
             "archive_name");
    auto policy = domain::lenient_execution_policy(spec);
    if (config->automation.execution && config->automation.execution->max_sources_per_execution &&
        static_cast<int64_t>(sources.size()) > policy.max_sources_per_execution)
      reject(400, "too_many_sources",
             "at most " + std::to_string(policy.max_sources_per_execution) +
                 " source(s) per execution",
             "sources");
  }

  // Readiness per source, with the SBID filter ([HEAD] §12.7).
  std::map<std::string, std::string> signatures;
  store::with_connection(pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    for (size_t i = 0; i < sources.size(); ++i) {
      auto path = "sources[" + std::to_string(i) + "]";
      if (!sources[i].is_object()) reject(400, "invalid_field", path + " must be an object", path);
      const auto& sel = sources[i].as_object();
      auto ident = trimmed(str_field(sel, "source_identifier"));
      if (ident.empty())
        reject(400, "invalid_field", path + ".source_identifier is required",
               path + ".source_identifier");
      std::vector<std::string> filter;
      if (auto sb = sel.find("sbids"); sb != sel.end() && sb->value().is_array())
        for (const auto& v : sb->value().as_array())
          if (v.is_string()) filter.push_back(trimmed(v.as_string()));
      auto uuid = domain::source_uuid(module, ident);
      auto st = projections::source_registry::readiness_inputs(tx, uuid);
      if (st) {
        signatures[ident] = st->discovery_signature;
      }
      int64_t sbid_count = 0, datasets = 0;
      if (st)
        for (const auto& [sbid, meta] : st->metadata_rows) {
          if (!filter.empty() && std::find(filter.begin(), filter.end(), sbid) == filter.end())
            continue;
          ++sbid_count;
          if (meta.is_object())
            if (auto d = meta.as_object().find("datasets");
                d != meta.as_object().end() && d->value().is_array())
              datasets += static_cast<int64_t>(d->value().as_array().size());
        }
      a.total_datasets += datasets;
      a.preview.push_back(
          {{"source_identifier", ident}, {"sbid_count", sbid_count}, {"dataset_count", datasets}});
      if (auto err = domain::source_readiness_error(
              ident, st, preview_only ? std::vector<std::string>{} : filter)) {
        if (!preview_only) reject(400, "source_not_ready", *err, path);
        a.errors.push_back(json::value(*err));
      }
    }
  });
  if (preview_only) return a;

  // The deployment profile: by id, by name, else the project's (or the global) default.
  json::object profile;
  store::with_connection(pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    namespace profiles = projections::deployment_profiles;
    std::optional<json::object> found;
    if (by_id) {
      auto pid = str_field(body, "deployment_profile_id");
      if (!util::is_uuid(pid))
        reject(400, "invalid_field", "deployment_profile_id must be a UUID",
               "deployment_profile_id");
      found = profiles::pinnable_by_id(tx, pid);
      if (!found)
        reject(400, "unknown_profile", "deployment profile " + pid + " does not exist",
               "deployment_profile_id");
    } else if (by_name) {
      auto name = trimmed(str_field(body, "deployment_profile_name"));
      found = profiles::pinnable_by_name(tx, name);
      if (!found)
        reject(400, "unknown_profile", "deployment profile '" + name + "' does not exist",
               "deployment_profile_name");
    } else {
      found = profiles::pinnable_default(tx, module);
      if (!found)
        reject(400, "no_default_profile",
               "project '" + module + "' has no default deployment profile; select one explicitly",
               "deployment_profile_name");
    }
    profile = std::move(*found);
    const auto& pm = profile.at("project_module");
    if (!pm.is_null() && pm.as_string() != module)
      reject(400, "profile_scope",
             "deployment profile '" + std::string(profile.at("name").as_string()) +
                 "' belongs to project '" + std::string(pm.as_string()) + "'",
             by_name ? "deployment_profile_name" : "deployment_profile_id");
    // Profile concurrency ([HEAD] §12.11): every non-terminal run counts.
    if (auto limit = util::get_int(profile, "max_concurrent_executions")) {
      auto n = projections::execution_ledger::in_flight_for_profile(
          tx, std::string(profile.at("uuid").as_string()));
      if (n >= *limit)
        reject(409, "profile_concurrency_limit",
               "deployment profile '" + std::string(profile.at("name").as_string()) +
                   "' already runs " + std::to_string(n) + " execution(s) (limit " +
                   std::to_string(*limit) + ")",
               "deployment_profile_id");
    }
  });
  json::object snapshot = profile;
  auto profile_id = snapshot.at("uuid");
  snapshot.erase("uuid");
  json::object sigs;
  for (const auto& [k, v] : signatures) sigs[k] = v;
  a.pins = {{"project_config_id", config_id},
            {"project_config_version", config_version},
            {"project_spec_sha256", spec_sha},
            {"deployment_profile_id", profile_id},
            {"deployment_profile_snapshot", std::move(snapshot)},
            {"discovery_signature", domain::aggregate_discovery_signature(signatures)},
            {"source_signatures", std::move(sigs)},
            {"output_verification_required",
             config->output_verification.has_value() && config->output_verification->required},
            {"output_verification_policy",
             config->output_verification
                 ? json::value(json::object{
                       {"required", config->output_verification->required},
                       {"inventory_schema", config->output_verification->inventory_schema}})
                 : json::value(nullptr)}};
  return a;
}

namespace {
constexpr const char* kGateLock =
    "SELECT pg_advisory_lock(hashtextextended('beampipe:execution-admission', 0))";
constexpr const char* kGateUnlock =
    "SELECT pg_advisory_unlock(hashtextextended('beampipe:execution-admission', 0))";
}  // namespace

admission_gate::admission_gate(store::database& db, std::chrono::milliseconds lock_wait,
                               size_t max_queued)
    : db_(db), lock_wait_(lock_wait), max_queued_(max_queued) {}

admission_gate::~admission_gate() { stop(); }

void admission_gate::lock() {
  // A broken connection (database restart) is replaced; its session's lock died with it.
  for (int tries = 0;; ++tries) {
    try {
      if (!conn_ || !conn_->is_open()) {
        conn_.reset();
        conn_ = db_.connect(store::db_role::admission);
        pqxx::nontransaction nt{*conn_};
        nt.exec("SET lock_timeout = " + std::to_string(std::max<int64_t>(1, lock_wait_.count())));
      }
      pqxx::nontransaction nt{*conn_};
      nt.exec(kGateLock);
      return;
    } catch (const pqxx::broken_connection&) {
      conn_.reset();
      if (tries >= 2) throw;
    } catch (const pqxx::sql_error& e) {
      // 55P03: another process held the gate past lock_wait (a creator stuck or paused).
      if (e.sqlstate() != "55P03") throw;
      throw admission_error(503, "admission_busy",
                            "another creator held the execution admission gate for over " +
                                std::to_string(lock_wait_.count()) + " ms; try again",
                            "");
    }
  }
}

bool admission_gate::post(job j) {
  {
    std::lock_guard lk(queue_mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(j));
    if (!worker_.joinable()) worker_ = std::thread([this] { drain(); });
  }
  queue_cv_.notify_one();
  return true;
}

void admission_gate::drain() {
  for (;;) {
    job next;
    {
      std::unique_lock lk(queue_mu_);
      queue_cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      next = std::move(queue_.front());
      queue_.pop_front();
      if (stopping_) {
        lk.unlock();
        next(false);
        continue;
      }
    }
    try {
      next(true);  // a job answers its own failures
    } catch (const std::exception& e) {
      spdlog::error("execution admission: a queued job failed: {}", e.what());
    } catch (...) {
      spdlog::error("execution admission: a queued job failed");
    }
  }
}

void admission_gate::stop() {
  {
    std::lock_guard lk(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void admission_gate::unlock() noexcept {
  try {
    if (!conn_) return;
    pqxx::nontransaction nt{*conn_};
    nt.exec(kGateUnlock);
  } catch (...) {
    conn_.reset();  // closing the session releases the lock
  }
}

}  // namespace beampipe::services

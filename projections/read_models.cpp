// The foundation's read models: source_registry (§1.1), batch_execution_record (§1.5) and
// provenance_events (§1.9, §8.2). Every value comes from the event (timestamps are the
// event's recorded_at), so a rebuild reproduces the same rows byte for byte.
#include "domain/ledger.hpp"
#include "events/catalog.hpp"
#include "events/types.hpp"
#include "events/validity.hpp"
#include "projections/engine.hpp"
#include "projections/read_model_names.hpp"
#include "projections/source_registry/projection.hpp"
#include "util/ids.hpp"

namespace beampipe::projections {
namespace et = beampipe::events::type;
namespace {

const json::value& at_or_null(const json::object& o, std::string_view k) {
  static const json::value null_value;
  auto it = o.find(k);
  return it == o.end() ? null_value : it->value();
}

bool flag_of(const json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

class execution_ledger_projection : public projection {
 public:
  std::string name() const override { return model::execution_ledger; }
  std::string group() const override { return "executions"; }
  std::vector<table_spec> tables() const override {
    return {{"batch_execution_record", "uuid", "uuid"}};
  }
  bool handles(const std::string& t) const override { return et::is_execution_event(t); }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("batch_execution_record", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = events::stream_key_of(e.stream_id);
    auto* row = rows.find("batch_execution_record", key);
    if (e.type == et::execution_created) row = &rows.put("batch_execution_record", key, {});
    if (!row) return;  // never invent a row
    domain::ledger::evolve(*row, e.type, d, e.recorded_at);
    (*row)["uuid"] = key;
    (*row)["stream_version"] = e.stream_version;
    rows.mark_dirty("batch_execution_record", key);
  }
};

// execution_observations and execution_artifacts (§8.1 [HEAD]): one row per observation an
// event carries, one per artifact (unique per execution, kind and digest).
class execution_details_projection : public projection {
 public:
  std::string name() const override { return model::execution_details; }
  std::string group() const override { return "executions"; }
  std::vector<table_spec> tables() const override {
    return {{"execution_observations", "id", "uuid"}, {"execution_artifacts", "id", "uuid"}};
  }
  bool handles(const std::string& t) const override { return et::is_execution_event(t); }
  void keys(const events::recorded_event& e, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    if (auto it = d.find("artifacts"); it != d.end() && it->value().is_array())
      for (const auto& a : it->value().as_array())
        out.emplace_back("execution_artifacts", artifact_id(e, a));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto exec = events::stream_key_of(e.stream_id);
    if (auto it = d.find("observation"); it != d.end() && it->value().is_object()) {
      const auto& o = it->value().as_object();
      json::object r{{"id", e.event_id},
                     {"execution_id", exec},
                     {"kind", at_or_null(o, "kind")},
                     {"normalized_state", at_or_null(o, "normalized_state")},
                     {"raw_state", at_or_null(o, "raw_state")},
                     {"reason", at_or_null(o, "reason")},
                     {"payload", o.contains("payload") && !o.at("payload").is_null()
                                     ? o.at("payload")
                                     : json::value(json::object{})},
                     {"source_version", at_or_null(o, "source_version")},
                     {"observed_at", e.recorded_at},
                     {"position", e.position}};
      rows.put("execution_observations", e.event_id, std::move(r));
    }
    if (auto it = d.find("artifacts"); it != d.end() && it->value().is_array())
      for (const auto& a : it->value().as_array()) {
        auto id = artifact_id(e, a);
        if (rows.find("execution_artifacts", id)) continue;  // same content recorded again
        const auto& o = a.as_object();
        json::object r{
            {"id", id},
            {"execution_id", exec},
            {"kind", o.at("kind")},
            {"storage_kind", "database"},
            {"media_type", at_or_null(o, "media_type")},
            {"sha256", o.at("sha256")},
            {"size_bytes", at_or_null(o, "size_bytes")},
            {"producer_phase", at_or_null(o, "producer_phase")},
            {"metadata", o.contains("metadata") ? o.at("metadata") : json::value(json::object{})},
            {"created_at", e.recorded_at}};
        rows.put("execution_artifacts", id, std::move(r));
      }
  }

 private:
  static std::string artifact_id(const events::recorded_event& e, const json::value& a) {
    const auto& o = a.as_object();
    return util::uuid_v5(
        events::stream_key_of(e.stream_id),
        std::string(o.at("kind").as_string()) + ":" + std::string(o.at("sha256").as_string()));
  }
};

// One row per (source, SBID); its id is derived so a later discovery finds the same row.
std::string metadata_row_id(const std::string& source_uuid, const std::string& sbid) {
  return util::uuid_v5(source_uuid, sbid);
}

class archive_metadata_projection : public projection {
 public:
  std::string name() const override { return model::archive_metadata; }
  std::string group() const override { return "sources"; }
  std::vector<table_spec> tables() const override { return {{"archive_metadata", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override { return t == et::discovery_completed; }
  void keys(const events::recorded_event& e, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    auto src = events::stream_key_of(e.stream_id);
    if (auto r = d.find("rows"); r != d.end() && r->value().is_object())
      for (const auto& kv : r->value().as_object())
        out.emplace_back("archive_metadata", metadata_row_id(src, kv.key()));
    if (auto del = d.find("delete_sbids"); del != d.end() && del->value().is_array())
      for (const auto& sbid : del->value().as_array())
        out.emplace_back("archive_metadata", metadata_row_id(src, std::string(sbid.as_string())));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto src = events::stream_key_of(e.stream_id);
    if (auto del = d.find("delete_sbids"); del != d.end() && del->value().is_array())
      for (const auto& sbid : del->value().as_array())
        rows.erase("archive_metadata", metadata_row_id(src, std::string(sbid.as_string())));
    auto r = d.find("rows");
    if (r == d.end() || !r->value().is_object()) return;
    for (const auto& kv : r->value().as_object()) {
      auto id = metadata_row_id(src, kv.key());
      auto* existing = rows.find("archive_metadata", id);
      rows.put("archive_metadata", id,
               {{"uuid", id},
                {"source_uuid", src},
                {"project_module", d.at("project_module")},
                {"source_identifier", d.at("source_identifier")},
                {"sbid", kv.key()},
                {"metadata_json", kv.value()},
                {"created_at", existing ? existing->at("created_at") : json::value(e.recorded_at)},
                {"updated_at", e.recorded_at}});
    }
  }
};

class project_configs_projection : public projection {
 public:
  std::string name() const override { return model::project_configs; }
  std::string group() const override { return "configs"; }
  std::vector<table_spec> tables() const override { return {{"project_configs", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::project_config_uploaded || t == et::project_config_activated;
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("project_configs", std::string(d.at("uuid").as_string()));
    if (auto p = d.find("previous_uuid"); p != d.end() && p->value().is_string())
      out.emplace_back("project_configs", std::string(p->value().as_string()));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    std::string uuid(d.at("uuid").as_string());
    if (e.type == et::project_config_uploaded) {
      rows.put("project_configs", uuid,
               {{"uuid", uuid},
                {"project_id", d.at("project_id")},
                {"version", d.at("version")},
                {"spec", d.at("spec")},
                {"spec_sha256", d.at("spec_sha256")},
                {"warnings", d.at("warnings")},
                {"active", false},
                {"uploaded_at", e.recorded_at}});
      return;
    }
    if (auto p = d.find("previous_uuid"); p != d.end() && p->value().is_string()) {
      std::string prev(p->value().as_string());
      if (auto* row = rows.find("project_configs", prev)) {
        (*row)["active"] = false;
        rows.mark_dirty("project_configs", prev);
      }
    }
    if (auto* row = rows.find("project_configs", uuid)) {
      (*row)["active"] = true;
      rows.mark_dirty("project_configs", uuid);
    }
  }
};

// project_config_wasm: which hook modules each project has.
class project_wasm_projection : public projection {
 public:
  std::string name() const override { return model::project_wasm; }
  std::string group() const override { return "configs"; }
  std::vector<table_spec> tables() const override {
    return {{"project_config_wasm", "wasm_key", "text"}};
  }
  bool handles(const std::string& t) const override { return t == et::project_wasm_uploaded; }
  static std::string key_of(const json::object& d) {
    return std::string(d.at("project_id").as_string()) + "/" +
           std::string(d.at("wasm_sha256").as_string());
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("project_config_wasm", key_of(d));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = key_of(d);
    rows.put("project_config_wasm", key,
             {{"wasm_key", key},
              {"project_id", d.at("project_id")},
              {"wasm_sha256", d.at("wasm_sha256")},
              {"project_config_id", d.at("project_config_id")},
              {"size_bytes", d.at("size_bytes")},
              {"uploaded_at", e.recorded_at}});
  }
};

class deployment_profiles_projection : public projection {
 public:
  std::string name() const override { return model::deployment_profiles; }
  std::string group() const override { return "configs"; }
  std::vector<table_spec> tables() const override {
    return {{"daliuge_deployment_profile", "uuid", "uuid"}};
  }
  bool handles(const std::string& t) const override {
    return t == et::profile_created || t == et::profile_updated || t == et::profile_deleted;
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("daliuge_deployment_profile", std::string(d.at("uuid").as_string()));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    std::string uuid(d.at("uuid").as_string());
    if (e.type == et::profile_deleted) {
      rows.erase("daliuge_deployment_profile", uuid);
      return;
    }
    const auto& p = d.at("profile").as_object();
    auto* existing = rows.find("daliuge_deployment_profile", uuid);
    json::object r{
        {"uuid", uuid},
        {"name", p.at("name")},
        {"description", at_or_null(p, "description")},
        {"project_module", at_or_null(p, "project_module")},
        {"is_default", p.at("is_default")},
        {"translation", p.at("translation")},
        {"deployment", p.at("deployment")},
        {"max_concurrent_executions", at_or_null(p, "max_concurrent_executions")},
        {"revision", d.at("revision")},
        {"spec_sha256", d.at("spec_sha256")},
        {"created_at", existing ? existing->at("created_at") : json::value(e.recorded_at)},
        {"updated_at", e.recorded_at}};
    rows.put("daliuge_deployment_profile", uuid, std::move(r));
  }
};

class provenance_projection : public projection {
 public:
  std::string name() const override { return model::provenance; }
  std::string group() const override { return "executions"; }
  std::vector<table_spec> tables() const override { return {{"provenance_events", "id", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::source_registered || t == et::source_enabled_changed ||
           t == et::source_stale_after_changed || t == et::source_deleted ||
           t == et::discovery_requested || t == et::discovery_completed ||
           t == et::discovery_failed || t == et::discovery_attempt_failed ||
           t == et::discovery_requeued || et::is_execution_event(t) ||
           t == et::project_config_activated || t == et::alert_fired;
  }
  void keys(const events::recorded_event&, const json::object&,
            std::vector<std::pair<std::string, std::string>>&) const override {}
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto meta = events::event_metadata::from_json(e.metadata);
    json::object r;
    r["id"] = e.event_id;  // one provenance row per event: its id is the event's
    r["occurred_at"] = e.recorded_at;
    r["project_module"] = at_or_null(d, "project_module");
    r["source_identifier"] = nullptr;
    r["execution_id"] = nullptr;
    r["actor"] = meta.actor.empty() ? json::value(nullptr) : json::value(meta.actor);
    r["correlation_id"] =
        meta.correlation_id.empty() ? json::value(nullptr) : json::value(meta.correlation_id);
    r["position"] = e.position;
    json::object payload;
    if (e.type == et::project_config_activated) {
      // §8.2 config.activated, actor system:api, payload {spec_sha256, version}.
      r["project_module"] = d.at("project_id");
      r["event_type"] = "config.activated";
      r["payload"] =
          json::object{{"spec_sha256", d.at("spec_sha256")}, {"version", d.at("version")}};
      rows.put("provenance_events", e.event_id, std::move(r));
      return;
    }
    if (e.type == et::alert_fired) {
      // §3.9 step 5: alert.fired, actor system:alerts, payload = the alert body. Provenance is
      // per project: a global rule's firing (no project) is in the event log and deliveries.
      const auto& p = d.at("payload").as_object();
      if (!at_or_null(p, "project_module").is_string()) return;
      r["project_module"] = at_or_null(p, "project_module");
      r["execution_id"] = at_or_null(p, "execution_id");
      const auto& ids = at_or_null(p, "source_identifiers");
      if (ids.is_array() && !ids.as_array().empty()) r["source_identifier"] = ids.as_array()[0];
      r["event_type"] = "alert.fired";
      r["payload"] = p;
      rows.put("provenance_events", e.event_id, std::move(r));
      return;
    }
    if (e.stream_type == events::stream::source) {
      r["source_identifier"] = d.at("source_identifier");
      if (e.type == et::source_registered) {
        r["event_type"] = "source.registered";
        payload["enabled"] = d.at("enabled");
      } else if (e.type == et::source_enabled_changed) {
        r["event_type"] = "source.updated";
        payload["enabled"] = d.at("enabled");
      } else if (e.type == et::source_stale_after_changed) {
        r["event_type"] = "source.updated";
        payload["stale_after_hours"] = d.at("stale_after_hours");
      } else if (e.type == et::source_deleted) {
        r["event_type"] = "source.deleted";
      } else if (e.type == et::discovery_requested) {
        r["event_type"] = "discovery.requested";
        r["correlation_id"] = d.at("request_id");
        payload["reason"] = d.at("reason");
      } else if (e.type == et::discovery_failed) {
        r["event_type"] = "discovery.error";
        r["correlation_id"] = d.at("request_id");
        payload["error"] = d.at("error");
        payload["retryable"] = d.at("retryable");
        if (flag_of(d, "dead_letter")) {
          payload["dead_letter"] = true;
          payload["attempt"] = d.at("attempt");
        }
      } else if (e.type == et::discovery_attempt_failed) {
        r["event_type"] = "discovery.retry_scheduled";
        r["correlation_id"] = d.at("request_id");
        payload["error"] = d.at("error");
        payload["attempt"] = d.at("attempt");
        payload["retry_at"] = d.at("retry_at");
      } else if (e.type == et::discovery_requeued) {
        r["event_type"] = "discovery.requeued";
        r["correlation_id"] = d.at("request_id");
        payload["attempt"] = d.at("attempt");
        payload["reason"] = d.at("reason");
      } else {
        const auto& outcome = d.at("outcome").as_string();
        r["correlation_id"] = d.at("request_id");
        r["event_type"] = outcome == "unchanged" ? "discovery.unchanged"
                          : outcome == "changed" ? "discovery.changed"
                                                 : "discovery.no_datasets";
        const auto& sig = d.at("signature");
        if (outcome == "unchanged") {
          payload["signature_prefix"] =
              sig.is_string() ? json::value(std::string(sig.as_string()).substr(0, 12)) : sig;
        } else {
          payload["signature"] = sig;
          payload["sbids"] = d.at("rows").as_object().size();
          payload["datasets"] = d.at("datasets");
        }
        payload["workflow_run_pending"] = d.at("pending");
        payload["truncated"] = d.at("truncated");
      }
    } else {
      // Execution events name their own provenance rows (§8.2); the first takes the event's
      // id, further ones a name-based id derived from it.
      r["execution_id"] = d.at("uuid");
      r["correlation_id"] = d.at("uuid");
      r["source_identifier"] = at_or_null(d, "source_identifier");
      auto it = d.find("provenance");
      if (it == d.end() || !it->value().is_array()) return;
      size_t i = 0;
      for (const auto& p : it->value().as_array()) {
        json::object row = r;
        if (i > 0) row["id"] = util::uuid_v5(e.event_id, std::to_string(i));
        row["event_type"] = p.as_object().at("event_type");
        row["payload"] = p.as_object().at("payload");
        std::string id(row["id"].as_string());
        rows.put("provenance_events", id, std::move(row));
        ++i;
      }
      return;
    }
    r["payload"] = std::move(payload);
    rows.put("provenance_events", e.event_id, std::move(r));
  }
};

// jobs: the work the system was asked to do (discovery requests, execute requests) and where
// it stands. Execute jobs follow the job id every execution event carries.
class jobs_projection : public projection {
 public:
  std::string name() const override { return model::jobs; }
  std::string group() const override { return "executions"; }
  std::vector<table_spec> tables() const override { return {{"jobs", "id", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::discovery_requested || t == et::discovery_completed ||
           t == et::discovery_failed || t == et::discovery_attempt_failed ||
           t == et::discovery_requeued || et::is_execution_event(t);
  }
  static std::string job_of(const json::object& d) {
    for (const char* k : {"request_id", "job_id"})
      if (auto it = d.find(k); it != d.end() && it->value().is_string())
        return std::string(it->value().as_string());
    return "";
  }
  void keys(const events::recorded_event&, const json::object& d,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    if (auto id = job_of(d); !id.empty()) out.emplace_back("jobs", id);
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto id = job_of(d);
    if (id.empty()) return;
    auto* row = rows.find("jobs", id);
    if (e.type == et::discovery_requested) {
      rows.put("jobs", id,
               json::object{{"id", id},
                            {"kind", "discover_source"},
                            {"status", "queued"},
                            {"project_module", d.at("project_module")},
                            {"subject", d.at("source_identifier")},
                            {"execution_id", nullptr},
                            {"attempt", 1},
                            {"claim_token", at_or_null(d, "claim_token")},
                            {"reason", at_or_null(d, "reason")},
                            {"last_error", nullptr},
                            {"created_at", e.recorded_at},
                            {"updated_at", e.recorded_at},
                            {"finished_at", nullptr},
                            {"next_run_at", nullptr},
                            {"failure_class", nullptr},
                            {"dead_lettered_at", nullptr}});
      return;
    }
    if (e.type == et::execution_execute_requested || e.type == et::execution_retry_requested) {
      rows.put(
          "jobs", id,
          json::object{{"id", id},
                       {"kind", "execute"},
                       {"status", "queued"},
                       {"project_module", d.at("project_module")},
                       {"subject", d.at("uuid")},
                       {"execution_id", d.at("uuid")},
                       {"attempt", d.at("attempt").as_int64() + 1},
                       {"claim_token", nullptr},
                       {"reason", e.type == et::execution_retry_requested ? json::value("retry")
                                                                          : json::value(nullptr)},
                       {"last_error", nullptr},
                       {"created_at", e.recorded_at},
                       {"updated_at", e.recorded_at},
                       {"finished_at", nullptr},
                       {"next_run_at", nullptr},
                       {"failure_class", nullptr},
                       {"dead_lettered_at", nullptr}});
      return;
    }
    if (!row) return;
    auto& r = *row;
    auto status = std::string(r.at("status").as_string());
    bool open = status == "queued" || status == "running";
    auto finish = [&](const char* to, json::value error = nullptr) {
      r["status"] = to;
      r["last_error"] = std::move(error);
      r["finished_at"] = e.recorded_at;
    };
    if (e.type == et::discovery_completed) {
      finish("completed");
      r["next_run_at"] = nullptr;
    } else if (e.type == et::discovery_failed) {
      bool dead = flag_of(d, "dead_letter");
      finish(dead ? "dead_letter" : "failed", d.at("error"));
      r["failure_class"] = at_or_null(d, "failure_class");
      r["next_run_at"] = nullptr;
      if (dead) r["dead_lettered_at"] = e.recorded_at;
    } else if (e.type == et::discovery_attempt_failed) {
      r["attempt"] = d.at("attempt").to_number<int64_t>() + 1;
      r["next_run_at"] = d.at("retry_at");
      r["last_error"] = d.at("error");
      r["failure_class"] = at_or_null(d, "failure_class");
    } else if (e.type == et::discovery_requeued) {
      r["status"] = "queued";
      r["attempt"] = d.at("attempt");
      r["reason"] = d.at("reason");
      r["next_run_at"] = nullptr;
      r["finished_at"] = nullptr;
      r["dead_lettered_at"] = nullptr;
    } else if (!open) {
      return;  // a finished execute job does not follow the run's later life
    } else if (e.type == et::execution_started) {
      r["status"] = "running";
    } else if (e.type == et::execution_not_submitted || e.type == et::submission_recorded ||
               e.type == et::submission_uncertain) {
      finish("completed");
    } else if (e.type == et::execution_failed) {
      const auto& cls = at_or_null(d, "failure_class");
      // An execute job whose workers kept dying is dead-lettered (execution_worker).
      bool dead = cls.is_string() && cls.as_string() == "worker_lost";
      finish(dead ? "dead_letter" : "failed", at_or_null(d, "error"));
      r["failure_class"] = cls;
      if (dead) r["dead_lettered_at"] = e.recorded_at;
    } else if (e.type == et::execution_cancelled || e.type == et::submission_abandoned) {
      finish("cancelled");
    } else {
      return;
    }
    r["updated_at"] = e.recorded_at;
    rows.mark_dirty("jobs", id);
  }
};

// users: who may sign in (never a credential: those are not in the events).
class users_projection : public projection {
 public:
  std::string name() const override { return model::users; }
  std::string group() const override { return "users"; }
  std::vector<table_spec> tables() const override { return {{"users", "uuid", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::user_created || t == et::user_password_changed || t == et::user_disabled;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("users", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = events::stream_key_of(e.stream_id);
    if (e.type == et::user_created) {
      rows.put("users", key,
               json::object{{"uuid", key},
                            {"username", d.at("username")},
                            {"email", d.at("email")},
                            {"name", d.at("name")},
                            {"is_superuser", d.at("is_superuser")},
                            {"disabled", false},
                            {"created_at", e.recorded_at},
                            {"updated_at", e.recorded_at},
                            {"stream_version", e.stream_version}});
      return;
    }
    auto* row = rows.find("users", key);
    if (!row) return;
    if (e.type == et::user_disabled) (*row)["disabled"] = true;
    (*row)["updated_at"] = e.recorded_at;
    (*row)["stream_version"] = e.stream_version;
    rows.mark_dirty("users", key);
  }
};

// auth_sessions: which token families are live, and each one's current refresh token id.
class auth_sessions_projection : public projection {
 public:
  std::string name() const override { return model::auth_sessions; }
  std::string group() const override { return "users"; }
  std::vector<table_spec> tables() const override { return {{"auth_sessions", "family", "uuid"}}; }
  bool handles(const std::string& t) const override {
    return t == et::session_started || t == et::session_refreshed || t == et::session_revoked;
  }
  void keys(const events::recorded_event& e, const json::object&,
            std::vector<std::pair<std::string, std::string>>& out) const override {
    out.emplace_back("auth_sessions", events::stream_key_of(e.stream_id));
  }
  void apply(const events::recorded_event& e, const json::object& d,
             row_cache& rows) const override {
    auto key = events::stream_key_of(e.stream_id);
    auto expiry = [&](const json::object& data) -> json::value {
      const auto& v = at_or_null(data, "refresh_expires_at");
      return v.is_string() && !v.as_string().empty() ? v : json::value(nullptr);
    };
    if (e.type == et::session_started) {
      rows.put("auth_sessions", key,
               json::object{{"family", key},
                            {"user_uuid", d.at("user_uuid")},
                            {"username", d.at("username")},
                            {"refresh_jti", d.at("refresh_jti")},
                            {"refresh_expires_at", expiry(d)},
                            {"started_at", e.recorded_at},
                            {"refreshed_at", nullptr},
                            {"revoked_at", nullptr},
                            {"revoked_reason", nullptr},
                            {"stream_version", e.stream_version}});
      return;
    }
    auto* row = rows.find("auth_sessions", key);
    if (!row) return;
    if (e.type == et::session_refreshed) {
      (*row)["refresh_jti"] = d.at("refresh_jti");
      (*row)["refresh_expires_at"] = expiry(d);
      (*row)["refreshed_at"] = e.recorded_at;
    } else {
      (*row)["revoked_at"] = e.recorded_at;
      (*row)["revoked_reason"] = d.at("reason");
    }
    (*row)["stream_version"] = e.stream_version;
    rows.mark_dirty("auth_sessions", key);
  }
};

}  // namespace

std::vector<std::shared_ptr<const projection>> standard_projections() {
  std::vector<std::shared_ptr<const projection>> all{
      source_registry::make_projection(),
      std::make_shared<execution_ledger_projection>(),
      std::make_shared<provenance_projection>(),
      std::make_shared<execution_details_projection>(),
      std::make_shared<jobs_projection>(),
      std::make_shared<project_configs_projection>(),
      std::make_shared<project_wasm_projection>(),
      std::make_shared<deployment_profiles_projection>(),
      std::make_shared<archive_metadata_projection>(),
      std::make_shared<users_projection>(),
      std::make_shared<auth_sessions_projection>()};
  for (auto& p : alerting_projections()) all.push_back(std::move(p));
  return all;
}

std::vector<std::shared_ptr<engine>> standard_engines_by_group() {
  std::map<std::string, std::vector<std::shared_ptr<const projection>>> by_group;
  for (auto& p : standard_projections()) by_group[p->group()].push_back(p);
  std::vector<std::shared_ptr<engine>> out;
  for (auto& [group, members] : by_group) out.push_back(std::make_shared<engine>(members));
  return out;
}

}  // namespace beampipe::projections

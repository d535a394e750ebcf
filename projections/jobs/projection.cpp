// The jobs projection. Every value comes from the event (timestamps are the event's
// recorded_at), so a rebuild reproduces the same rows byte for byte.
#include "projections/jobs/projection.hpp"

#include "events/catalog.hpp"
#include "events/types.hpp"
#include "projections/read_model_names.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"

namespace beampipe::projections::jobs {
namespace et = beampipe::events::type;
using util::at_or_null;

namespace {

// A job as it is asked for: queued, nothing tried yet.
json::object queued_job(const std::string& id, const char* kind, json::value project_module,
                        json::value subject, json::value execution_id, int64_t attempt,
                        json::value claim_token, json::value reason, const std::string& at) {
  return {{"id", id},
          {"kind", kind},
          {"status", "queued"},
          {"project_module", std::move(project_module)},
          {"subject", std::move(subject)},
          {"execution_id", std::move(execution_id)},
          {"attempt", attempt},
          {"claim_token", std::move(claim_token)},
          {"reason", std::move(reason)},
          {"last_error", nullptr},
          {"created_at", at},
          {"updated_at", at},
          {"finished_at", nullptr},
          {"next_run_at", nullptr},
          {"failure_class", nullptr},
          {"dead_lettered_at", nullptr}};
}

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
    if (e.type == et::discovery_requested) {
      rows.put("jobs", id,
               queued_job(id, "discover_source", d.at("project_module"), d.at("source_identifier"),
                          nullptr, 1, at_or_null(d, "claim_token"), at_or_null(d, "reason"),
                          e.recorded_at));
      return;
    }
    if (e.type == et::execution_execute_requested || e.type == et::execution_retry_requested) {
      rows.put("jobs", id,
               queued_job(id, "execute", d.at("project_module"), d.at("uuid"), d.at("uuid"),
                          d.at("attempt").as_int64() + 1, nullptr,
                          e.type == et::execution_retry_requested ? json::value("retry")
                                                                  : json::value(nullptr),
                          e.recorded_at));
      return;
    }
    auto* row = rows.edit("jobs", id);
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
      bool dead = util::get_bool(d, "dead_letter").value_or(false);
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

}  // namespace

std::shared_ptr<const projection> make_projection() { return std::make_shared<jobs_projection>(); }

}  // namespace beampipe::projections::jobs

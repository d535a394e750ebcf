// Simulated DALiuGE DIM and Slurm (the default backends when none is configured): the state
// is a pure function of the time since the submission intent, so a restarted process sees
// the same run, and nothing is stored outside the event log.
#include "adapters/execution_backend.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"

namespace beampipe::adapters {
namespace json = boost::json;

namespace {

double progress_of(const execution_ref& ref, std::chrono::milliseconds duration) {
  auto start = util::parse_rfc3339(ref.intent_at);
  if (!start || duration.count() <= 0) return 1.0;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(util::clock::now() - *start);
  return static_cast<double>(elapsed.count()) / static_cast<double>(duration.count());
}

// The run record of one poll as the real backends write it: {<backend>: {last_observation,
// terminal?}}, the terminal entry being the last observation with the completed ledger status
// and the backend's own reference fields.
json::object observed_run_record(const char* backend, const json::object& last, bool terminal,
                                 const json::object& terminal_fields) {
  json::object entry{{"last_observation", last}};
  if (terminal) {
    auto t = last;
    t["ledger_status"] = "completed";
    for (const auto& kv : terminal_fields) t[kv.key()] = kv.value();
    entry["terminal"] = std::move(t);
  }
  return {{backend, std::move(entry)}};
}

class simulated_dim final : public execution_backend {
 public:
  explicit simulated_dim(std::chrono::milliseconds d) : duration_(d) {}
  std::string description() const override { return "simulated DALiuGE DIM"; }
  std::string scheduler_name() const override { return "daliuge"; }
  std::string target_fingerprint(const domain::DeploymentProfile&) const override {
    return util::sha256_hex("simulated-dim");
  }
  std::string manager_url(const domain::DeploymentProfile&) const override { return ""; }

  submit_receipt submit(const submit_request& req) override {
    if (req.after_dispatch) req.after_dispatch();
    submit_receipt r;
    r.scheduler_name = "daliuge";
    r.scheduler_job_id = req.session_id;
    r.physical_is_logical = true;
    r.run_record = {
        {"dim", json::object{{"session_id", req.session_id},
                             {"deploy",
                              json::object{{"deployed_at", util::to_iso_millis(util::clock::now())},
                                           {"dim_rest_base", ""},
                                           {"verify_ssl", false},
                                           {"simulated", true}}}}}};
    return r;
  }

  std::vector<observation> poll(const std::vector<execution_ref>& refs) override {
    std::vector<observation> out;
    for (const auto& ref : refs) {
      auto p = progress_of(ref, duration_);
      observation o;
      o.kind = "daliuge_session";
      int code = p < 0.2 ? 2 : p < 1.0 ? 3 : 4;  // DEPLOYING, RUNNING, FINISHED
      o.daliuge_state = code == 2 ? "deploying" : code == 3 ? "running" : "finished";
      o.raw_state = code == 2 ? "DEPLOYING" : code == 3 ? "RUNNING" : "FINISHED";
      o.daliuge_raw_status = json::object{{"simulated:8000:5555:6666", code}};
      json::object last{{"session_state", o.raw_state},
                        {"observed_at", util::to_iso_millis(util::clock::now())}};
      o.run_record = observed_run_record(
          "dim", last, code == 4, {{"session_id", ref.session_id}, {"error_drops_count", 0}});
      out.push_back(std::move(o));
    }
    return out;
  }

  lookup_result lookup(const execution_ref& ref) override {
    // The simulated DIM knows every session whose intent was recorded.
    lookup_result r;
    r.outcome = "found";
    r.scheduler_job_id = ref.session_id;
    r.state = poll({ref}).front();
    r.payload = {{"session_id", ref.session_id}, {"simulated", true}};
    return r;
  }

  cancel_result cancel(const execution_ref&) override {
    cancel_result c;
    c.confirmed = true;
    c.state.kind = "daliuge_session";
    c.state.daliuge_state = "cancelled";
    c.state.raw_state = "CANCELLED";
    return c;
  }

 private:
  std::chrono::milliseconds duration_;
};

class simulated_slurm final : public execution_backend {
 public:
  explicit simulated_slurm(std::chrono::milliseconds d) : duration_(d) {}
  std::string description() const override { return "simulated Slurm"; }
  std::string scheduler_name() const override { return "slurm"; }
  std::string target_fingerprint(const domain::DeploymentProfile&) const override {
    return util::sha256_hex("simulated-slurm");
  }
  std::string manager_url(const domain::DeploymentProfile&) const override { return ""; }

  // A stable numeric job id per session, like sbatch --parsable would print.
  static std::string job_id_for(const std::string& session_id) {
    auto h = util::sha256_hex(session_id);
    return std::to_string(100000 + std::stoul(h.substr(0, 7), nullptr, 16) % 900000);
  }

  submit_receipt submit(const submit_request& req) override {
    if (req.after_dispatch) req.after_dispatch();
    submit_receipt r;
    r.scheduler_name = "slurm";
    r.scheduler_job_id = job_id_for(req.session_id);
    r.remote_session_dir = "/tmp/beampipe/" + req.session_id;
    r.physical_graph = json::array{req.session_id + ".pgt.graph", json::array{}};
    r.run_record = {
        {"slurm", json::object{{"session_id", req.session_id},
                               {"slurm_job_id", r.scheduler_job_id},
                               {"submitted_at", util::to_iso_millis(util::clock::now())},
                               {"paths", json::object{{"session_dir", r.remote_session_dir}}},
                               {"simulated", true}}}};
    return r;
  }

  std::vector<observation> poll(const std::vector<execution_ref>& refs) override {
    std::vector<observation> out;
    for (const auto& ref : refs) {
      auto p = progress_of(ref, duration_);
      observation o;
      o.raw_state = p < 0.3 ? "PENDING" : p < 1.0 ? "RUNNING" : "COMPLETED";
      o.scheduler_state = p < 0.3 ? "pending" : p < 1.0 ? "running" : "succeeded";
      if (p >= 1.0) o.exit_code = 0;
      json::object last{{"state", o.raw_state},
                        {"source", "mock"},
                        {"observed_at", util::to_iso_millis(util::clock::now())}};
      if (o.exit_code) last["exit_code"] = *o.exit_code;
      o.run_record = observed_run_record("slurm", last, p >= 1.0,
                                         {{"slurm_job_id_ref", ref.scheduler_job_id}});
      out.push_back(std::move(o));
    }
    return out;
  }

  lookup_result lookup(const execution_ref& ref) override {
    lookup_result r;
    r.outcome = "found";
    r.scheduler_job_id = job_id_for(ref.session_id);
    r.state = poll({ref}).front();
    r.payload = {{"session_id", ref.session_id}, {"simulated", true}};
    return r;
  }

  cancel_result cancel(const execution_ref&) override {
    cancel_result c;
    c.confirmed = true;
    c.state.scheduler_state = "cancelled";
    c.state.raw_state = "CANCELLED";
    return c;
  }

 private:
  std::chrono::milliseconds duration_;
};

}  // namespace

std::shared_ptr<execution_backend> make_simulated_dim(std::chrono::milliseconds duration) {
  return std::make_shared<simulated_dim>(duration);
}

std::shared_ptr<execution_backend> make_simulated_slurm(std::chrono::milliseconds duration) {
  return std::make_shared<simulated_slurm>(duration);
}

}  // namespace beampipe::adapters

#include "actors/execution_worker.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/graph_source.hpp"
#include "adapters/http_client.hpp"
#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/daliuge.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/graph_prep.hpp"
#include "domain/manifest.hpp"
#include "domain/project_config.hpp"
#include "domain/readiness.hpp"
#include "domain/redaction.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/source_registry/queries.hpp"
#include "services/job_lease_keeper.hpp"
#include "store/artifact_store.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"
#include "util/log_context.hpp"
#include "util/time.hpp"

namespace beampipe::actors {
namespace json = boost::json;
namespace ledger = beampipe::projections::execution_ledger;
using clock = std::chrono::steady_clock;

namespace {

// A step that fails the execution for certain (nothing external happened yet).
struct prepare_failure : std::runtime_error {
  std::string failure_class;
  prepare_failure(const std::string& m, std::string cls = "configuration")
      : std::runtime_error(m), failure_class(std::move(cls)) {}
};

std::string text(const json::object& o, std::string_view k) {
  return util::get_string_or(o, k, "");
}

constexpr size_t kGraphLimit = size_t{16} << 20;  // protocols §3.1

// A built-in two-node graph for projects without one (§3.5 step 9).
json::value builtin_graph() {
  return json::parse(R"({"nodeDataArray":[
    {"id":"ingest","name":"beampipe-ingest","category":"PythonApp","categoryType":"Application",
     "fields":[{"id":"manifest_path","name":"manifest_path","type":"String","value":""}]},
    {"id":"manifest","name":"manifest","category":"Memory","categoryType":"Data","fields":[]}],
    "linkDataArray":[{"from":"ingest","to":"manifest"}]})");
}

}  // namespace

// Names the recurring poll job of a backend target (fixed: the job id of a target must not
// change between releases).
constexpr const char* kPollTickNamespace = "6a0e2f3c-41d7-4b8e-9f25-7c3d9b1e5a80";

struct execution_worker::impl {
  runtime& rt;
  adapters::backend_factory backends;
  stager stage;
  execution_worker_options opts;
  store::connection_pool& pool;
  boost::asio::thread_pool workers;
  std::atomic<bool> stopping{false};
  std::thread scanner;
  std::mutex mu;
  std::set<std::string> active;                     // executions with a task running here
  std::map<std::string, int64_t> seen_version;      // last stream version this worker wrote
  std::map<std::string, std::string> correlations;  // execution -> its request's correlation id
  std::map<std::string, clock::time_point> next_poll, next_lookup;
  std::map<std::string, int> cancel_attempts;  // unconfirmed cancels in a row, per run
  std::map<std::string, int> poll_failures;    // polls in a row that could not ask, per target
  std::map<std::string, int> missing_polls;    // polls in a row the DIM did not know the run
  // What this process's lookups of an unresolved submission saw (the evidence recorded when
  // their budget runs out).
  struct lookup_stats {
    int lookups = 0, not_found = 0, errors = 0, ambiguous = 0, same_in_row = 0;
    std::string last_outcome, last_error, first_at, last_at;
  };
  std::map<std::string, lookup_stats> lookup_seen;
  services::job_lease_keeper leases;
  std::map<std::string, std::optional<domain::DeploymentProfile>> profiles;  // by snapshot
  std::map<std::string, std::shared_ptr<const json::value>> graphs;          // by sha256

  impl(runtime& r, store::database& db, adapters::backend_factory b, stager s,
       execution_worker_options o)
      : rt(r),
        backends(std::move(b)),
        stage(std::move(s)),
        opts(std::move(o)),
        pool(db.pool(store::db_role::executions)),
        workers(opts.concurrency),
        leases(db, r.node_id(), opts.lock) {}

  // ------------------------------------------------------------------ commands

  // The run's correlation id: the thread's (an execute job), else the one of the request that
  // asked for the run (polls, finalisation), else the execution id.
  std::string correlation_for(const std::string& id) {
    if (const auto& corr = util::current_correlation_id(); !corr.empty()) return corr;
    std::lock_guard lk(mu);
    auto it = correlations.find(id);
    return it != correlations.end() ? it->second : id;
  }

  command_reply send(const std::string& id, const std::string& name, json::object body) {
    command_request cr;
    cr.stream_id = domain::execution_stream_id(id);
    cr.cmd = {name, std::move(body), "system:execution"};
    cr.correlation_id = correlation_for(id);
    auto r = rt.send_sync(std::move(cr), std::chrono::seconds(60));
    if (r.ok()) {
      std::lock_guard lk(mu);
      seen_version[id] = std::max(seen_version[id], r.version);
    } else if (r.result != outcome::conflict) {
      spdlog::warn("execution {}: {} refused: {} {}", id, name, r.code, r.message);
    } else {
      spdlog::debug("execution {}: {} not applicable: {}", id, name, r.message);
    }
    return r;
  }

  // ------------------------------------------------------------------ reads

  std::optional<json::object> load_row(const std::string& id) {
    return store::with_connection(pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      return ledger::row(tx, id);
    });
  }

  // The pinned profile snapshot of a run, parsed once per distinct snapshot (many runs share
  // one; polls ask for it every round).
  std::optional<domain::DeploymentProfile> profile_of(const json::object& row) {
    const auto& snap = row.contains("deployment_profile_snapshot")
                           ? row.at("deployment_profile_snapshot")
                           : json::value(nullptr);
    if (!snap.is_object()) return std::nullopt;
    auto key = json::serialize(snap);
    {
      std::lock_guard lk(mu);
      if (auto it = profiles.find(key); it != profiles.end()) return it->second;
    }
    auto body = snap.as_object();
    body.erase("revision");
    body.erase("spec_sha256");
    auto parsed = domain::parse_deployment_profile(json::value(body)).profile;
    std::lock_guard lk(mu);
    if (profiles.size() > 256) profiles.clear();
    profiles.emplace(std::move(key), parsed);
    return parsed;
  }

  // The columns a poll needs, for many runs in one read.
  std::vector<json::object> load_poll_rows(const std::vector<std::string>& ids) {
    return store::with_connection(pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      return ledger::poll_rows(tx, ids);
    });
  }

  // ------------------------------------------------------------------ scan

  bool owner_gone(const std::string& node) const { return services::node_gone(node, rt.node_id()); }

  void scan_loop() {
    while (!stopping) {
      try {
        scan();
      } catch (const std::exception& e) {
        spdlog::warn("execution scan failed: {}", e.what());
      }
      std::this_thread::sleep_for(opts.scan_every);
    }
  }

  struct work_row : ledger::work_item {
    bool orphaned = false;
  };

  void scan() {
    std::vector<work_row> rows;
    store::with_connection(pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      for (auto& item : ledger::needing_work(tx, 500)) {
        work_row w{std::move(item)};
        // An in-flight submission is orphaned when the process that recorded it is gone, or
        // when its deadline has passed.
        if (w.submission == "in_flight")
          w.orphaned = w.submission_deadline_passed || owner_gone(w.submission_node);
        if (!w.correlation_id.empty()) {
          std::lock_guard lk(mu);
          correlations[w.id] = w.correlation_id;
        }
        rows.push_back(std::move(w));
      }
    });
    auto now = clock::now();
    // Runs to poll, by backend target: a round polls every run of its target (issue #17: a
    // round used to poll only the runs due at that instant, starving the others).
    std::map<std::string, std::vector<std::string>> pollable;
    for (const auto& w : rows) {
      auto status = domain::parse_execution_status(w.status);
      bool ended = status && domain::is_terminal(*status);
      {
        std::lock_guard lk(mu);
        if (active.count(w.id)) continue;
        // The read model has not caught up with what this worker last wrote: wait. A poll is
        // the exception: it only asks and records an observation the aggregate judges on its
        // own state, and skipping it left the run out of its target's round (issue #17).
        bool polled_run = !ended && !w.cancel_requested &&
                          (w.submission == "submitted" ||
                           (w.submission == "uncertain" && !w.scheduler_job_id.empty()));
        if (auto it = seen_version.find(w.id);
            it != seen_version.end() && w.version < it->second && !polled_run)
          continue;
      }
      if (ended) {
        dispatch(w.id, [this, id = w.id] { finalize_sources(id); });
      } else if (w.submission == "not_started" || w.submission == "failed") {
        if (w.execute_requested &&
            (w.status == "pending" || w.status == "retrying" || w.status == "running"))
          dispatch(w.id, [this, id = w.id, job = w.job_id, corr = w.correlation_id] {
            // The run's events and log lines carry the operator request's correlation id.
            util::correlation_scope correlation(corr.empty() ? id : corr);
            execute_job(id, job);
          });
      } else if (w.submission == "in_flight") {
        if (w.orphaned) dispatch(w.id, [this, id = w.id] { orphaned_submission(id); });
      } else if (w.submission == "uncertain" && w.scheduler_job_id.empty()) {
        if (due(next_lookup, w.id, now, opts.lookup_every))
          dispatch(w.id, [this, id = w.id] { lookup(id); });
      } else if (w.cancel_requested) {
        if (due(next_poll, w.id, now, cancel_backoff(w.id)))
          dispatch(w.id, [this, id = w.id] { cancel(id); });
      } else if (w.submission == "submitted" || w.submission == "uncertain") {
        pollable[w.backend_kind + "|" + w.target].push_back(w.id);
      }
    }
    for (const auto& [target, ids] : pollable)
      if (due(next_poll, "target:" + target, now, poll_interval(target))) poll_due(target, ids);
  }

  // A target's polling interval, doubled for each round in a row that could not ask it.
  std::chrono::milliseconds poll_interval(const std::string& target) {
    auto every =
        target.rfind("slurm_remote|", 0) == 0 ? opts.slurm_poll_every : opts.dim_poll_every;
    std::lock_guard lk(mu);
    auto n = std::min(poll_failures[target], 12);
    return std::max(every,
                    std::min<std::chrono::milliseconds>(every * (1 << n), opts.poll_backoff_max));
  }

  bool due(std::map<std::string, clock::time_point>& schedule, const std::string& id,
           clock::time_point now, std::chrono::milliseconds every) {
    std::lock_guard lk(mu);
    auto& next = schedule[id];
    if (now < next) return false;
    next = now + every;
    return true;
  }

  template <class F>
  void dispatch(const std::string& id, F task) {
    {
      std::lock_guard lk(mu);
      if (active.size() >= opts.concurrency * 4 || !active.insert(id).second) return;
    }
    spdlog::debug("execution {}: task dispatched", id);
    boost::asio::post(workers, [this, id, task = std::move(task)] {
      try {
        task();
        spdlog::debug("execution {}: task done", id);
      } catch (const std::exception& e) {
        spdlog::error("execution {}: {}", id, e.what());
      }
      std::lock_guard lk(mu);
      active.erase(id);
    });
  }

  // ------------------------------------------------------------------ execute

  // The execute job under its lease: one worker at a time, recovered when its worker dies.
  void execute_job(const std::string& id, const std::string& job) {
    if (job.empty()) return prepare_and_submit(id, nullptr);
    auto claim = leases.claim(job, "execute", 1);
    if (!claim) return;  // another worker runs it, or it is finished
    if (claim->recovered && claim->recoveries >= opts.max_attempts) {
      send(id, "fail",
           {{"error", "execute job dead-lettered: its worker was lost " +
                          std::to_string(claim->recoveries) +
                          " times (last: " + claim->previous_owner + ")"},
            {"failure_class", "worker_lost"}});
      leases.finish(*claim, true, "dead letter");
      return;
    }
    bool done = false;
    try {
      prepare_and_submit(id, &*claim);
      done = true;
    } catch (...) {
      // Released, not finished: the job runs again (on this or another worker).
      leases.finish(*claim, false, "error");
      throw;
    }
    leases.finish(*claim, done);
  }

  void prepare_and_submit(const std::string& id, const store::job_claim* claim) {
    auto start = send(id, "start", {});
    if (!start.ok()) return;
    if (opts.fault == "kill_during_prepare") {
      // A poison pill: the worker dies while it holds the execute job's lease.
      spdlog::default_logger()->flush();
      ::kill(::getpid(), SIGKILL);
    }
    auto row = load_row(id);
    if (!row) return;
    const auto& req = row->at("execute_request");
    if (!req.is_object()) return;
    bool do_stage = util::get_bool(req.as_object(), "do_stage").value_or(true);
    bool do_submit = util::get_bool(req.as_object(), "do_submit").value_or(true);
    try {
      json::value patched_graph;
      // A retry of the submit stage reuses the persisted manifest and graph (§3.5 replay).
      bool replay =
          text(*row, "execution_phase") == "submit" && !text(*row, "patched_graph_sha256").empty();
      std::string manifest_sha = text(*row, "manifest_sha256");
      if (replay) {
        patched_graph = load_artifact_json(text(*row, "patched_graph_sha256"));
      } else {
        patched_graph = prepare(id, *row, do_stage, do_submit, manifest_sha);
        if (patched_graph.is_null()) return;  // refused: someone else moved the execution on
      }
      if (!do_submit) {
        send(id, "not_submitted", {});
        return;
      }
      if (claim && !leases.held(*claim)) {
        // Another worker recovered this job: it submits, not us.
        spdlog::warn("execution {}: execute lease lost before submission, stopping", id);
        return;
      }
      submit(id, *row, std::move(patched_graph), manifest_sha);
    } catch (const prepare_failure& e) {
      send(id, "fail", {{"error", e.what()}, {"failure_class", e.failure_class}});
    }
  }

  json::value load_artifact_json(const std::string& sha) {
    std::optional<store::artifact_blob> blob;
    store::with_connection(pool, [&](pqxx::connection& c) { blob = store::get_artifact(c, sha); });
    if (!blob) throw prepare_failure("artifact " + sha + " is missing from the artifact store");
    return util::parse_stored(blob->content);
  }

  std::string put_artifact(const std::string& media_type, const std::string& bytes) {
    std::string sha;
    store::with_connection(
        pool, [&](pqxx::connection& c) { sha = store::put_artifact(c, media_type, bytes); });
    return sha;
  }

  // Builds and persists the manifest and the patched graph; returns the patched graph, or
  // null when the aggregate refused the result.
  json::value prepare(const std::string& id, const json::object& row, bool do_stage, bool do_submit,
                      std::string& manifest_out) {
    auto module = text(row, "project_module");
    std::optional<domain::ProjectConfig> config;
    json::array records;
    std::map<std::string, std::string> current_signatures;
    store::with_connection(pool, [&](pqxx::connection& c) {
      pqxx::read_transaction tx{c};
      namespace configs = projections::project_configs;
      auto stored = row.at("project_config_id").is_null()
                        ? configs::active_config(tx, module)
                        : configs::config_by_id(tx, text(row, "project_config_id"));
      if (stored) config = domain::parse_project_config(util::parse_stored(stored->spec)).config;
      for (const auto& src : row.at("sources").as_array()) {
        const auto& sel = src.as_object();
        auto ident = text(sel, "source_identifier");
        std::set<std::string> wanted;
        if (auto sb = sel.find("sbids"); sb != sel.end() && sb->value().is_array())
          for (const auto& v : sb->value().as_array()) wanted.insert(std::string(v.as_string()));
        auto uuid = domain::source_uuid(module, ident);
        auto found = projections::source_registry::readiness_inputs(tx, uuid);
        if (!found) throw prepare_failure("source '" + ident + "' is no longer registered");
        current_signatures[ident] = found->discovery_signature;
        auto& st = *found;
        std::vector<std::string> filter(wanted.begin(), wanted.end());
        if (auto err = domain::source_readiness_error(ident, st, filter))
          throw prepare_failure(*err, "not_ready");
        for (const auto& [sbid, meta] : st.metadata_rows) {
          if (!wanted.empty() && !wanted.count(sbid)) continue;
          if (!meta.is_object()) continue;
          if (auto ds = meta.as_object().find("datasets");
              ds != meta.as_object().end() && ds->value().is_array())
            for (const auto& d : ds->value().as_array()) records.push_back(d);
        }
      }
    });
    if (!config) throw prepare_failure("project '" + module + "' has no usable config revision");
    // §12.6: the sources must still be what was admitted.
    if (row.at("source_signatures").is_object())
      for (const auto& kv : row.at("source_signatures").as_object())
        if (kv.value().is_string() &&
            current_signatures[std::string(kv.key())] != kv.value().as_string())
          throw prepare_failure(
              "source discovery state changed after execution admission; prepare a new execution",
              "conflict");

    // The manifest and the patched graph for a set of records (the graph is fetched once).
    std::string graph_bytes;
    std::shared_ptr<const json::value> graph;
    auto build = [&](const json::array& recs, const std::set<std::string>& exclude) {
      domain::ManifestInputs inputs;
      inputs.records = recs;
      inputs.exclude_sbids = exclude;
      inputs.staging = domain::staging_context_from_records(recs);
      auto manifest = domain::build_manifest_for_project(*config, inputs);
      if (!manifest) throw prepare_failure(manifest.error());
      if (!graph) {
        graph_bytes = fetch_graph(*config);
        graph = parsed_graph(graph_bytes);
        if (graph_bytes.empty()) graph_bytes = json::serialize(*graph);
      }
      auto patched = *graph;
      auto now_s =
          std::chrono::duration_cast<std::chrono::seconds>(util::clock::now().time_since_epoch())
              .count();
      auto injected = domain::inject_manifest_config_into_graph(
          patched, json::value(manifest.value()), util::uuid_v5(id, "manifest-config"), now_s);
      if (!injected) throw prepare_failure(injected.error());
      if (auto it = manifest.value().find("graph_overrides"); it != manifest.value().end()) {
        auto st = domain::apply_manifest_graph_overrides(patched, it->value());
        if (!st) throw prepare_failure(st.error());
      }
      return std::make_pair(std::move(manifest.value()), std::move(patched));
    };

    std::set<std::string> excluded;
    json::object staging_report{{"mode", "pass_through"}};
    if (do_stage && stage) {
      // Issue #17: everything that needs no backend (manifest, graph, patches) is checked on
      // the records as discovered before staging, which on CASDA may recall tapes: a broken
      // config fails here, not after the staging.
      build(records, {});
      staging_outcome staged;
      try {
        staged = stage(text(row, "archive_name"), records);
      } catch (const std::exception& e) {
        throw prepare_failure(std::string("staging failed: ") + e.what(), "dependency_unavailable");
      }
      records = std::move(staged.records);
      for (auto& s : staged.skipped_sbids) excluded.insert(s);
      staging_report = std::move(staged.report);
    }
    auto built = build(records, excluded);
    auto& manifest_doc = built.first;
    auto& patched = built.second;
    auto manifest_text = domain::stable_json(json::value(manifest_doc));
    auto patched_text = json::serialize(patched);
    auto manifest_sha = put_artifact("application/json", manifest_text);
    auto source_sha = put_artifact("application/json", graph_bytes);
    auto patched_sha = put_artifact("application/json", patched_text);
    auto artifact = [](const char* kind, const std::string& sha, size_t size) {
      return json::object{{"kind", kind},
                          {"sha256", sha},
                          {"size_bytes", size},
                          {"media_type", "application/json"},
                          {"producer_phase", "stage_and_manifest"}};
    };
    json::object body{
        {"manifest", manifest_doc},
        {"manifest_sha256", manifest_sha},
        {"source_graph_sha256", source_sha},
        {"patched_graph_sha256", patched_sha},
        {"do_submit", do_submit},
        {"staging", staging_report},
        {"artifacts", json::array{artifact("manifest", manifest_sha, manifest_text.size()),
                                  artifact("source_graph", source_sha, graph_bytes.size()),
                                  artifact("patched_graph", patched_sha, patched_text.size())}}};
    auto r = send(id, "prepared", std::move(body));
    if (!r.ok()) return nullptr;
    manifest_out = manifest_sha;
    return patched;
  }

  // The parsed source graph, shared by every run of the same graph bytes (a survey's runs
  // all start from one graph of several hundred KB; parsing it per run was a large share of
  // the execute step's CPU).
  std::shared_ptr<const json::value> parsed_graph(const std::string& bytes) {
    auto key = bytes.empty() ? std::string("builtin") : util::sha256_hex(bytes);
    {
      std::lock_guard lk(mu);
      if (auto it = graphs.find(key); it != graphs.end()) return it->second;
    }
    std::shared_ptr<const json::value> g;
    try {
      g = std::make_shared<const json::value>(bytes.empty() ? builtin_graph() : json::parse(bytes));
    } catch (const std::exception& e) {
      throw prepare_failure(std::string("graph is not valid JSON: ") + e.what());
    }
    std::lock_guard lk(mu);
    if (graphs.size() >= 8) graphs.clear();
    graphs.emplace(key, g);
    return g;
  }

  // graph.path (confined to BEAMPIPE_HOME) or graph.url; SHA-256 verified when given.
  std::string fetch_graph(const domain::ProjectConfig& config) {
    if (!config.graph) return "";
    std::string bytes;
    adapters::graph_source_options go = opts.graphs;
    go.max_bytes = kGraphLimit;
    try {
      if (config.graph->path && !config.graph->path->empty())
        bytes = adapters::read_graph_file(*config.graph->path, go);
      else if (config.graph->url && !config.graph->url->empty())
        bytes = adapters::fetch_graph_url(*config.graph->url, go);
      else
        return "";
    } catch (const adapters::graph_source_error& e) {
      throw prepare_failure(e.what(), e.failure_class);
    }
    if (bytes.size() > kGraphLimit) throw prepare_failure("graph is larger than 16 MiB");
    if (config.graph->sha256) {
      auto want = *config.graph->sha256;
      for (auto& ch : want) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      auto got = util::sha256_hex(bytes);
      if (want != got)
        throw prepare_failure("graph sha256 mismatch: expected " + want + ", got " + got);
    }
    return bytes;
  }

  void submit(const std::string& id, const json::object& row, json::value patched_graph,
              const std::string& manifest_sha) {
    auto profile = profile_of(row);
    if (!profile) throw prepare_failure("execution has no usable deployment profile snapshot");
    auto backend = backends(*profile);
    auto session = domain::dim_session_id(id, row.at("created_at_ms").as_int64());
    if (!session) throw prepare_failure(session.error());
    // Nothing is intended for a backend that does not answer: that failure is certain.
    if (auto why = backend->preflight(*profile)) {
      send(id, "fail",
           {{"error", "DALiuGE preflight failed: " + *why},
            {"failure_class", "dependency_unavailable"}});
      return;
    }
    auto deadline_wall = util::clock::now() + opts.submission_timeout;
    auto intent =
        send(id, "intend_submission",
             {{"session_id", session.value()},
              {"backend", std::holds_alternative<domain::SlurmRemoteDeployment>(profile->deployment)
                              ? "slurm_remote"
                              : "rest_remote"},
              {"target_fingerprint", backend->target_fingerprint(*profile)},
              {"manager_url", backend->manager_url(*profile)},
              {"deadline_at", util::to_rfc3339(deadline_wall)},
              {"timeout_seconds", opts.submission_timeout.count()},
              {"node", rt.node_id()}});
    if (!intent.ok()) return;  // held, cancelled or terminal: never submit
    adapters::submit_request req;
    req.execution_id = id;
    req.session_id = session.value();
    req.logical_graph = std::move(patched_graph);
    req.profile = *profile;
    req.deadline = clock::now() + opts.submission_timeout;
    if (opts.fault == "kill_after_dispatch")
      req.after_dispatch = [] {
        spdlog::default_logger()->flush();
        ::kill(::getpid(), SIGKILL);
      };
    adapters::submit_receipt receipt;
    try {
      receipt = backend->submit(req);
    } catch (const adapters::submission_error& e) {
      if (e.uncertain()) {
        json::object body{{"error", e.what()}, {"failure_class", e.failure_class()}};
        if (!e.remote_session_dir.empty()) {
          body["remote_session_dir"] = e.remote_session_dir;
          body["staging_root"] = e.staging_root;
        }
        send(id, "submission_uncertain", std::move(body));
      } else
        send(id, "fail",
             {{"error", e.what()},
              {"submission_failed", true},
              {"failure_class",
               e.failure_class().empty() ? "dependency_unavailable" : e.failure_class()}});
      return;
    } catch (const std::exception& e) {
      // Unclassified: it may have reached the backend, so it is never treated as a failure.
      send(id, "submission_uncertain", {{"error", e.what()}, {"failure_class", "unknown"}});
      return;
    }
    auto physical_text = json::serialize(receipt.physical_graph);
    auto physical_sha = put_artifact("application/json", physical_text);
    auto next_status = receipt.scheduler_name == "slurm" ? "awaiting_scheduler" : "running";
    json::object receipt_doc{{"schema", "beampipe-submission-receipt/v1"},
                             {"scheduler_name", receipt.scheduler_name},
                             {"scheduler_job_id", receipt.scheduler_job_id},
                             {"daliuge_session_id", session.value()},
                             {"remote_session_dir", receipt.remote_session_dir},
                             {"staging_root", receipt.staging_root},
                             {"workflow_manifest_sha256", manifest_sha},
                             {"physical_graph_sha256", physical_sha},
                             {"next_status", next_status}};
    auto receipt_sha = util::sha256_hex(domain::stable_json(json::value(receipt_doc)));
    send(id, "record_submission",
         {{"scheduler_name", receipt.scheduler_name},
          {"scheduler_job_id", receipt.scheduler_job_id},
          {"remote_session_dir", receipt.remote_session_dir.empty()
                                     ? json::value(nullptr)
                                     : json::value(receipt.remote_session_dir)},
          {"staging_root",
           receipt.staging_root.empty() ? json::value(nullptr) : json::value(receipt.staging_root)},
          {"manager_url",
           receipt.manager_url.empty() ? json::value(nullptr) : json::value(receipt.manager_url)},
          {"physical_graph_sha256", physical_sha},
          {"receipt_sha256", receipt_sha},
          {"receipt", receipt_doc},
          {"run_record", receipt.run_record},
          {"artifacts", json::array{json::object{{"kind", "physical_graph"},
                                                 {"sha256", physical_sha},
                                                 {"size_bytes", physical_text.size()},
                                                 {"media_type", "application/json"},
                                                 {"producer_phase", "submit"}}}}});
  }

  // Tells each source how the run ended (pending flags, consumed signature), then records
  // that on the execution; both commands are idempotent, so a crash in between is harmless.
  void finalize_sources(const std::string& id) {
    auto row = load_row(id);
    if (!row) return;
    auto module = text(*row, "project_module");
    auto outcome = text(*row, "status");
    const auto& sigs = row->at("source_signatures");
    for (const auto& src : row->at("sources").as_array()) {
      auto ident = text(src.as_object(), "source_identifier");
      std::string sig;
      if (sigs.is_object())
        if (auto it = sigs.as_object().find(ident);
            it != sigs.as_object().end() && it->value().is_string())
          sig = std::string(it->value().as_string());
      command_request cr;
      cr.stream_id = domain::source_stream_id(domain::source_uuid(module, ident));
      cr.cmd = {"execution_finished",
                {{"execution_id", id},
                 {"outcome", outcome},
                 {"signature", sig},
                 {"finished_at", util::now_rfc3339()}},
                "system:execution"};
      cr.correlation_id = correlation_for(id);
      auto r = rt.send_sync(std::move(cr), std::chrono::seconds(60));
      if (!r.ok() && r.result != outcome::not_found) {
        spdlog::warn("execution {}: finalising source {} refused: {}", id, ident, r.message);
        return;
      }
    }
    release_backend(id, *row);
    auto r = send(id, "finalize_sources", {});
    if (r.ok()) {
      spdlog::info("execution {} ({}): sources finalised", id, outcome);
      std::lock_guard lk(mu);
      correlations.erase(id);  // the run is over: no more work carries its id
      lookup_seen.erase(id);
      missing_polls.erase(id);
      cancel_attempts.erase(id);
    }
  }

  // A run whose DALiuGE session was observed ended (and recorded: the row says so) lets the
  // backend free it, e.g. delete the DIM session when the profile asks for it. Best effort,
  // before the sources are marked finalised: a failure is logged and does not hold the run.
  void release_backend(const std::string& id, const json::object& row) {
    auto state = text(row, "daliuge_state");
    if (state != "finished" && state != "failed" && state != "cancelled") return;
    auto ref = ref_of(row);
    if (!ref || ref->session_id.empty()) return;
    try {
      if (auto done = backends(ref->profile)->release(*ref))
        spdlog::info("execution {}: {}", id, *done);
    } catch (const std::exception& e) {
      spdlog::warn("execution {}: releasing the finished session failed: {}", id, e.what());
    }
  }

  // ------------------------------------------------------------------ recovery

  std::optional<adapters::execution_ref> ref_of(const json::object& row) {
    auto profile = profile_of(row);
    if (!profile) return std::nullopt;
    adapters::execution_ref ref;
    ref.execution_id = text(row, "uuid");
    ref.session_id = text(row, "daliuge_session_id");
    ref.scheduler_job_id = text(row, "scheduler_job_id");
    ref.remote_session_dir = text(row, "remote_session_dir");
    ref.intent_at = text(row, "submission_intent_at");
    ref.profile = *profile;
    return ref;
  }

  // The process that recorded the intent is gone: the call may or may not have reached the
  // backend, which is exactly an uncertain submission.
  void orphaned_submission(const std::string& id) {
    send(id, "submission_uncertain",
         {{"error",
           "submission interrupted before its receipt was recorded (worker restart or deadline)"},
          {"failure_class", "unknown"}});
  }

  void lookup(const std::string& id) {
    auto row = load_row(id);
    if (!row) return;
    auto ref = ref_of(*row);
    if (!ref) return;
    auto backend = backends(ref->profile);
    if (backend->target_fingerprint(ref->profile) != text(*row, "target_fingerprint")) {
      spdlog::warn("execution {}: target changed since the intent; lookup skipped", id);
      return;
    }
    adapters::lookup_result r;
    try {
      r = backend->lookup(*ref);
    } catch (const std::exception& e) {
      r.outcome = "error";
      r.payload = {{"error", e.what()}};
    }
    auto observed_at = util::now_rfc3339();
    json::object body{{"lookup", json::object{{"outcome", r.outcome}, {"detail", r.payload}}},
                      {"raw_state", "lookup:" + r.outcome}};
    if (r.outcome == "found") {
      body = observation_body(r.state);
      body["lookup"] = json::object{{"outcome", r.outcome}, {"detail", r.payload}};
      body["adopt_scheduler_job_id"] = r.scheduler_job_id;
      body["scheduler_name"] = backend->scheduler_name();
      // The folder the lost receipt would have named: found now, or known from the attempt.
      auto dir =
          r.remote_session_dir.empty() ? text(*row, "remote_session_dir") : r.remote_session_dir;
      if (!dir.empty()) {
        body["remote_session_dir"] = dir;
        body["staging_root"] = dir + "/wallaby-staging";
      }
      // What a receipt would have said, marked as found by name (issue #17: adopted runs had
      // no receipt and no session block in their run record).
      bool slurm = backend->scheduler_name() == "slurm";
      auto session = text(*row, "daliuge_session_id");
      json::value physical_sha = nullptr;
      if (!r.physical_graph.is_null()) {
        auto physical_text = json::serialize(r.physical_graph);
        auto sha = put_artifact("application/json", physical_text);
        physical_sha = sha;
        body["physical_graph_sha256"] = sha;
        body["artifacts"] = json::array{json::object{{"kind", "physical_graph"},
                                                     {"sha256", sha},
                                                     {"size_bytes", physical_text.size()},
                                                     {"media_type", "application/json"},
                                                     {"producer_phase", "submit"}}};
      }
      json::object receipt_doc{
          {"schema", "beampipe-submission-receipt/v1"},
          {"scheduler_name", backend->scheduler_name()},
          {"scheduler_job_id", r.scheduler_job_id},
          {"daliuge_session_id", session},
          {"remote_session_dir", dir.empty() ? json::value(nullptr) : json::value(dir)},
          {"staging_root",
           dir.empty() ? json::value(nullptr) : json::value(dir + "/wallaby-staging")},
          {"workflow_manifest_sha256", text(*row, "manifest_sha256")},
          {"physical_graph_sha256", physical_sha},
          {"next_status", slurm ? "awaiting_scheduler" : "running"},
          {"adopted_by_lookup", true}};
      body["submission_receipt_sha256"] =
          util::sha256_hex(domain::stable_json(json::value(receipt_doc)));
      json::object block{
          {"session_id", session}, {"adopted_by_lookup", true}, {"adopted_at", observed_at}};
      if (slurm) {
        block["slurm_job_id"] = r.scheduler_job_id;
        if (!dir.empty())
          block["paths"] =
              json::object{{"session_dir", dir}, {"staging_root", dir + "/wallaby-staging"}};
      }
      auto& rr = body["run_record"];
      if (!rr.is_object()) rr = json::object{};
      auto& side = rr.as_object()[slurm ? "slurm" : "dim"];
      if (!side.is_object()) side = json::object{};
      for (auto& kv : block) side.as_object()[kv.key()] = kv.value();
      body["receipt"] = std::move(receipt_doc);
    } else if (r.outcome == "not_found" || r.outcome == "ambiguous") {
      body["scheduler_state"] = "unknown";
      body["reason"] = r.outcome;
    } else {
      r.outcome = "error";
      body["raw_state"] = "lookup:error";
      body["reason"] = text(r.payload, "error");
      spdlog::warn("execution {}: lookup of its submission failed: {}", id,
                   domain::recorded_text(text(r.payload, "error"), 300));
    }
    body["observed_at"] = observed_at;
    int same_in_row = 0;
    json::object evidence;
    {
      std::lock_guard lk(mu);
      auto& st = lookup_seen[id];
      ++st.lookups;
      if (r.outcome == "not_found") ++st.not_found;
      if (r.outcome == "ambiguous") ++st.ambiguous;
      if (r.outcome == "error") {
        ++st.errors;
        st.last_error = domain::recorded_text(text(r.payload, "error"), 300);
      }
      st.same_in_row = st.last_outcome == r.outcome ? st.same_in_row + 1 : 0;
      st.last_outcome = r.outcome;
      if (st.first_at.empty()) st.first_at = observed_at;
      st.last_at = observed_at;
      same_in_row = st.same_in_row;
      evidence = {{"lookups", st.lookups},
                  {"not_found", st.not_found},
                  {"errors", st.errors},
                  {"ambiguous", st.ambiguous},
                  {"first_at", st.first_at},
                  {"last_at", st.last_at},
                  {"last_error",
                   st.last_error.empty() ? json::value(nullptr) : json::value(st.last_error)}};
    }
    // Past its budget with no match, the run is flagged so an operator can abandon it; the
    // lookups go on (at their slowest) so a late match is still adopted.
    auto budget =
        backend->scheduler_name() == "slurm" ? opts.slurm_lookup_budget : opts.dim_lookup_budget;
    auto deadline = util::parse_rfc3339(text(*row, "submission_deadline_at"));
    if (r.outcome != "found" && evidence.at("lookups").as_int64() >= 3 && deadline &&
        util::clock::now() > *deadline + budget) {
      evidence["budget_seconds"] = budget.count();
      evidence["submission_deadline_at"] = text(*row, "submission_deadline_at");
      body["lookup_budget_exhausted"] = true;
      body["lookup_evidence"] = std::move(evidence);
    }
    send(id, "observe", std::move(body));
    {
      // The same answer again is asked for less often: 1×, 2×, 4× … the interval.
      std::lock_guard lk(mu);
      auto wait = std::min<std::chrono::milliseconds>(
          opts.lookup_every * (1 << std::min(same_in_row, 12)), opts.lookup_backoff_max);
      next_lookup[id] = clock::now() + std::max(wait, opts.lookup_every);
      if (r.outcome == "found") lookup_seen.erase(id);
    }
    if (r.outcome == "found") undeployed_check(id, r.state);
  }

  // Issue #17: a DALiuGE session found created but not deployed (its deploy's answer was lost
  // or refused) runs nothing. It is deployed once more, recorded first; a session still not
  // deployed after that, or one that never got its graph, fails the run for certain.
  void undeployed_check(const std::string& id, const adapters::observation& o) {
    if (o.daliuge_state != "pristine" && o.daliuge_state != "building") return;
    auto row = load_row(id);
    if (!row) return;
    auto sub = text(*row, "submission_state");
    // Only a run whose deploy answer was lost: one with a real receipt had its deploy answered,
    // and the DIM is only slow to show it.
    bool adopted = util::get_bool(*row, "adopted_by_lookup").value_or(false);
    if (!(sub == "uncertain" || (sub == "submitted" && adopted))) return;
    auto ref = ref_of(*row);
    if (!ref) return;
    auto sid = text(*row, "daliuge_session_id");
    auto redeployed = text(*row, "redeploy_intended_at");
    bool pristine = o.daliuge_state == "pristine";
    if (pristine || !redeployed.empty()) {
      if (!pristine)
        if (auto t = util::parse_rfc3339(redeployed);
            t && util::clock::now() - *t < opts.redeploy_grace)
          return;  // the redeploy may still be on its way
      send(id, "fail",
           {{"error", pristine ? "DALiuGE session " + sid +
                                     " was created but never received its graph; nothing ran"
                               : "DALiuGE session " + sid +
                                     " is still BUILDING after it was deployed again; nothing ran"},
            {"deploy_not_taken", true},
            {"session_state", o.daliuge_state},
            {"failure_class", "deploy_not_taken"}});
      return;
    }
    auto r = send(id, "intend_redeploy",
                  {{"session_state", o.raw_state},
                   {"reason", "the session was found built but not deployed"}});
    if (!r.ok()) return;
    try {
      backends(ref->profile)->redeploy(*ref);
      spdlog::info("execution {}: DALiuGE session {} deployed again", id, sid);
    } catch (const std::exception& e) {
      spdlog::warn("execution {}: deploying session {} again failed: {}", id, sid,
                   domain::recorded_text(e.what(), 300));
    }
  }

  static json::object observation_body(const adapters::observation& o) {
    json::object b{{"kind", o.kind}, {"raw_state", o.raw_state}, {"reason", o.reason}};
    if (!o.scheduler_state.empty()) b["scheduler_state"] = o.scheduler_state;
    if (!o.daliuge_state.empty()) b["daliuge_state"] = o.daliuge_state;
    if (!o.error.empty()) b["error"] = o.error;
    if (!o.daliuge_raw_status.is_null()) b["daliuge_raw_status"] = o.daliuge_raw_status;
    if (!o.run_record.empty()) b["run_record"] = o.run_record;
    json::object payload = o.payload;
    if (o.exit_code) payload["exit_code"] = *o.exit_code;
    b["payload"] = std::move(payload);
    return b;
  }

  // ------------------------------------------------------------------ polling

  // Whether a run outlived its polling budget (counted from its intent).
  bool past_poll_budget(const adapters::execution_backend& backend,
                        const adapters::execution_ref& ref) const {
    auto budget =
        backend.scheduler_name() == "slurm" ? opts.slurm_poll_budget : opts.dim_poll_budget;
    auto t0 = util::parse_rfc3339(ref.intent_at);
    return t0 && util::clock::now() - *t0 > budget;
  }

  // One observation of a polled run: recorded (the aggregate keeps only changes), with the
  // checks that end runs the backend lost or never started.
  void polled(const adapters::execution_backend& backend, const adapters::execution_ref& ref,
              const adapters::observation& o) {
    const auto& id = ref.execution_id;
    auto body = observation_body(o);
    body["confirms_submission"] = !ref.scheduler_job_id.empty();
    if (past_poll_budget(backend, ref)) body["poll_budget_exhausted"] = true;
    if (o.reason == "session_missing") {
      int n = 0;
      {
        std::lock_guard lk(mu);
        n = ++missing_polls[id];
      }
      if (n >= opts.session_missing_polls) {
        body["daliuge_state"] = "failed";
        body["error"] = "DALiuGE session " + ref.session_id + " is no longer known to the DIM (" +
                        std::to_string(n) + " polls in a row; did it restart?): its run is lost";
        body["failure_class"] = "session_lost";
      }
    } else {
      std::lock_guard lk(mu);
      missing_polls.erase(id);
    }
    send(id, "observe", std::move(body));
    undeployed_check(id, o);
  }

  void poll_due(const std::string& target, const std::vector<std::string>& ids) {
    // Group by backend target so one call (one SSH session, one DIM) serves many runs.
    auto rows = load_poll_rows(ids);
    std::map<std::string, std::pair<std::shared_ptr<adapters::execution_backend>,
                                    std::vector<adapters::execution_ref>>>
        by_target;
    for (const auto& row : rows) {
      auto ref = ref_of(row);
      if (!ref) continue;
      auto backend = backends(ref->profile);
      auto key = backend->description() + "|" + backend->target_fingerprint(ref->profile);
      auto& slot = by_target[key];
      slot.first = backend;
      slot.second.push_back(std::move(*ref));
    }
    for (auto& [key, group] : by_target) {
      // One poll per target and round across every process: the round is claimed as a
      // recurring job (dim_poll_tick / slurm_poll_tick) before the backend is asked.
      const auto& backend = group.first;
      bool slurm = backend->scheduler_name() == "slurm";
      auto every =
          std::max<int64_t>(1, (slurm ? opts.slurm_poll_every : opts.dim_poll_every).count());
      auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        util::clock::now().time_since_epoch())
                        .count();
      int64_t round = now_ms / every;
      auto next =
          util::to_rfc3339(util::clock::time_point(std::chrono::milliseconds((round + 1) * every)));
      auto tick = leases.claim(util::uuid_v5(kPollTickNamespace, key),
                               slurm ? "slurm_poll_tick" : "dim_poll_tick", round,
                               backend->description(), next);
      if (!tick) continue;  // another process polls this target this round
      std::vector<adapters::execution_ref> refs;
      {
        // Runs with a task of their own (a cancel, a lookup) are left to it this round.
        std::lock_guard lk(mu);
        for (auto& ref : group.second)
          if (active.insert(ref.execution_id).second) refs.push_back(std::move(ref));
      }
      if (refs.empty()) {
        leases.finish(*tick, true);
        continue;
      }
      boost::asio::post(workers, [this, target, backend = group.first, refs, tick = *tick] {
        try {
          auto obs = backend->poll(refs);
          {
            std::lock_guard lk(mu);
            poll_failures.erase(target);
          }
          for (size_t i = 0; i < refs.size() && i < obs.size(); ++i)
            polled(*backend, refs[i], obs[i]);
        } catch (const std::exception& e) {
          // The backend could not be asked at all (issue #17: this was only a log line every
          // round). Each run records it once, as an observation; the target is asked again
          // less and less often until it answers.
          int n = 0;
          {
            std::lock_guard lk(mu);
            n = ++poll_failures[target];
          }
          auto error = domain::recorded_text(e.what(), 300);
          spdlog::warn("poll of {} execution(s) via {} failed ({} in a row, next in {} s): {}",
                       refs.size(), backend->description(), n, poll_interval(target).count() / 1000,
                       error);
          for (const auto& ref : refs) {
            json::object body{
                {"kind", backend->scheduler_name() == "slurm" ? "scheduler" : "daliuge_session"},
                {"raw_state", "poll_error"},
                {"reason", error},
                {"payload", json::object{{"error", error}, {"failures_in_row", n}}}};
            if (past_poll_budget(*backend, ref)) body["poll_budget_exhausted"] = true;
            try {
              send(ref.execution_id, "observe", std::move(body));
            } catch (const std::exception& e2) {
              spdlog::warn("execution {}: poll failure not recorded: {}", ref.execution_id,
                           e2.what());
            }
          }
        }
        try {
          leases.finish(tick, true);
        } catch (const std::exception& e) {
          spdlog::warn("poll round of {} not recorded as done: {}", backend->description(),
                       e.what());
        }
        std::lock_guard lk(mu);
        for (const auto& ref : refs) active.erase(ref.execution_id);
      });
    }
  }

  // How long until the next cancel attempt of a run: 3 s, doubling to 5 min (issue #17: a
  // refused cancel was re-sent every 3 s for ever).
  std::chrono::milliseconds cancel_backoff(const std::string& id) {
    std::lock_guard lk(mu);
    auto n = std::min(cancel_attempts[id], 7);
    return std::min<std::chrono::milliseconds>(std::chrono::seconds(3) * (1 << n),
                                               std::chrono::minutes(5));
  }

  // A cancel request. The run may have ended while the cancel was on its way (the DIM answers
  // a cancel of a finished session with InvalidSessionState), so it is observed first: a run
  // whose backend no longer runs it ends as the backend says, and no cancel is sent.
  void cancel(const std::string& id) {
    auto row = load_row(id);
    if (!row) return;
    auto ref = ref_of(*row);
    if (!ref) return;
    auto backend = backends(ref->profile);
    try {
      auto obs = backend->poll({*ref});
      if (!obs.empty()) {
        const auto& o = obs.front();
        bool ended = backend->scheduler_name() == "slurm"
                         ? o.scheduler_state == "succeeded" || o.scheduler_state == "failed" ||
                               o.scheduler_state == "cancelled" || o.scheduler_state == "timed_out"
                         : o.daliuge_state == "finished" || o.daliuge_state == "failed" ||
                               o.daliuge_state == "cancelled";
        auto body = observation_body(o);
        body["confirms_submission"] = !ref->scheduler_job_id.empty();
        send(id, "observe", std::move(body));
        if (ended) {
          spdlog::info("execution {}: the backend ended the run before its cancel ({})", id,
                       o.raw_state);
          std::lock_guard lk(mu);
          cancel_attempts.erase(id);
          return;
        }
      }
    } catch (const std::exception& e) {
      spdlog::warn("execution {}: poll before cancel failed: {}", id, e.what());
    }
    adapters::cancel_result r;
    try {
      r = backend->cancel(*ref);
    } catch (const std::exception& e) {
      r.confirmed = false;
      r.reason = e.what();
    }
    if (!r.confirmed) {
      int attempts = 0;
      {
        std::lock_guard lk(mu);
        attempts = ++cancel_attempts[id];
      }
      auto reason = domain::recorded_text(r.reason, 300);
      if (attempts >= opts.cancel_attempts) {
        // Bounded: the request is withdrawn with its evidence; the run is polled again and
        // an operator may cancel once more or abandon it.
        spdlog::warn("execution {}: cancel not confirmed after {} attempts; withdrawn: {}", id,
                     attempts, reason);
        send(id, "cancel_unconfirmed", {{"attempts", attempts}, {"error", reason}});
        std::lock_guard lk(mu);
        cancel_attempts.erase(id);
        return;
      }
      spdlog::warn("execution {}: cancel not confirmed yet (attempt {}, next in {} s): {}", id,
                   attempts, cancel_backoff(id).count() / 1000, reason);
      return;
    }
    {
      std::lock_guard lk(mu);
      cancel_attempts.erase(id);
    }
    auto body = observation_body(r.state);
    body["confirms_submission"] = true;
    send(id, "observe", std::move(body));
  }
};

execution_worker::execution_worker(runtime& rt, store::database& db,
                                   adapters::backend_factory backends, stager stage,
                                   execution_worker_options opts)
    : impl_(
          std::make_unique<impl>(rt, db, std::move(backends), std::move(stage), std::move(opts))) {}

execution_worker::~execution_worker() { stop(); }

void execution_worker::start() {
  impl_->scanner = std::thread([this] { impl_->scan_loop(); });
}

void execution_worker::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  if (impl_->scanner.joinable()) impl_->scanner.join();
  impl_->workers.join();
}

}  // namespace beampipe::actors

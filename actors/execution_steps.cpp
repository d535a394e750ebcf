#include "actors/execution_steps.hpp"

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

#include "adapters/graph_source.hpp"
#include "adapters/http_client.hpp"
#include "domain/aggregates.hpp"
#include "domain/canonical_json.hpp"
#include "domain/daliuge.hpp"
#include "domain/execution_fsm.hpp"
#include "domain/graph_prep.hpp"
#include "domain/hooks.hpp"
#include "domain/manifest.hpp"
#include "domain/project_config.hpp"
#include "domain/readiness.hpp"
#include "domain/redaction.hpp"
#include "projections/execution_ledger/queries.hpp"
#include "projections/project_configs/queries.hpp"
#include "projections/source_registry/queries.hpp"
#include "services/job_lease_keeper.hpp"
#include "services/project_hooks.hpp"
#include "services/run_graph.hpp"
#include "store/artifact_store.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/json.hpp"
#include "util/json_delta.hpp"
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
  std::vector<events::hook_run> wasm_hooks;  // the hooks that ran (a failing one among them)
  prepare_failure(const std::string& m, std::string cls = "configuration",
                  std::vector<events::hook_run> hooks = {})
      : std::runtime_error(m), failure_class(std::move(cls)), wasm_hooks(std::move(hooks)) {}
};

std::string text(const json::object& o, std::string_view k) {
  return util::get_string_or(o, k, "");
}

}  // namespace

// Names the recurring poll job of a backend target (fixed: the job id of a target must not
// change between releases).
constexpr const char* kPollTickNamespace = "6a0e2f3c-41d7-4b8e-9f25-7c3d9b1e5a80";

std::chrono::milliseconds run_steps::cancel_backoff(const run_memory& m) const {
  auto n = std::min(m.cancel_attempts, 7);
  return std::min<std::chrono::milliseconds>(std::chrono::seconds(3) * (1 << n),
                                             std::chrono::minutes(5));
}

run_step step_for(const work_row& w) {
  auto status = domain::parse_execution_status(w.status);
  if (status && domain::is_terminal(*status)) return run_step::finalize;
  if (w.submission == "not_started" || w.submission == "failed")
    return w.execute_requested &&
                   (w.status == "pending" || w.status == "retrying" || w.status == "running")
               ? run_step::execute
               : run_step::none;
  if (w.submission == "in_flight") return w.orphaned ? run_step::orphaned : run_step::none;
  if (w.submission == "uncertain" && w.scheduler_job_id.empty()) return run_step::lookup;
  if (w.cancel_requested) return run_step::cancel;
  if (w.submission == "submitted" || w.submission == "uncertain") return run_step::poll;
  return run_step::none;
}

struct execution_steps::impl {
  runtime& rt;
  adapters::backend_factory backends;
  stager stage;
  execution_worker_options opts;
  store::connection_pool& pool;
  services::job_lease_keeper leases;
  // Parsed once per process, shared by every run's steps (under cache_mu).
  std::mutex cache_mu;
  std::map<std::string, std::optional<domain::DeploymentProfile>> profiles;  // by snapshot
  // A project's source graph as fetched, its digest and its parse, found by comparing bytes
  // (cheaper than hashing several hundred KB per run); `stored` once its artifact is written.
  struct source_graph {
    std::string bytes;
    std::string sha256;
    std::shared_ptr<const json::value> parsed;
    bool builtin = false;  // no graph named: the built-in one
    std::atomic<bool> stored{false};
    // `parsed` serialised: a run's patched graph is this text with the build's delta spliced
    // in, and is stored against it. Made once, kept only if its text survives a parse.
    std::once_flag canonical_once;
    std::unique_ptr<const util::json_text_patcher> canonical;
    std::string canonical_sha256;
    const util::json_text_patcher* base() {
      std::call_once(canonical_once, [this] {
        auto text = json::serialize(*parsed);
        if (!util::json_text_round_trips(text)) return;
        canonical_sha256 = util::sha256_hex(text);
        canonical = std::make_unique<const util::json_text_patcher>(std::move(text));
      });
      return canonical.get();
    }
  };
  std::vector<std::shared_ptr<source_graph>> graphs;
  boost::asio::thread_pool workers;

  impl(runtime& r, store::database& db, adapters::backend_factory b, stager s,
       execution_worker_options o)
      : rt(r),
        backends(std::move(b)),
        stage(std::move(s)),
        opts(std::move(o)),
        pool(db.pool(store::db_role::executions)),
        leases(db, r.node_id(), opts.lock),
        workers(opts.concurrency) {}

  // ------------------------------------------------------------------ commands

  // The run's correlation id: the thread's (an execute job), else the one of the request that
  // asked for the run (polls, finalisation), else the execution id.
  static std::string correlation_for(const run_memory& m) {
    if (const auto& corr = util::current_correlation_id(); !corr.empty()) return corr;
    return m.correlation.empty() ? m.id : m.correlation;
  }

  command_reply send(run_memory& m, const std::string& name, json::object body) {
    const auto& id = m.id;
    command_request cr;
    cr.stream_id = domain::execution_stream_id(id);
    cr.cmd = {name, std::move(body), "system:execution"};
    cr.correlation_id = correlation_for(m);
    auto r = rt.send_sync(std::move(cr), std::chrono::seconds(60));
    if (r.ok()) {
      m.seen_version = std::max(m.seen_version, r.version);
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
      pqxx::nontransaction tx{c};  // one statement: no BEGIN/ROLLBACK round trips
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
      std::lock_guard lk(cache_mu);
      if (auto it = profiles.find(key); it != profiles.end()) return it->second;
    }
    auto body = snap.as_object();
    body.erase("revision");
    body.erase("spec_sha256");
    auto parsed = domain::parse_deployment_profile(json::value(body)).profile;
    std::lock_guard lk(cache_mu);
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

  bool owner_gone(const std::string& node) const { return services::node_gone(node, rt.node_id()); }
  bool moved_here(const work_row& w) const {
    return rt.clustered() && !w.submission_node.empty() && w.submission_node != rt.node_id() &&
           rt.holds(domain::execution_stream_id(w.id));
  }

  // ------------------------------------------------------------------ execute

  // The execute job under its lease: one worker at a time, recovered when its worker dies.
  void execute_job(const std::string& job, run_memory& m) {
    if (job.empty()) return prepare_and_submit(m, nullptr);
    auto claim = leases.claim(job, "execute", 1);
    if (!claim) return;  // another worker runs it, or it is finished
    if (claim->recovered && claim->recoveries >= opts.max_attempts) {
      send(m, "fail",
           {{"error", "execute job dead-lettered: its worker was lost " +
                          std::to_string(claim->recoveries) +
                          " times (last: " + claim->previous_owner + ")"},
            {"failure_class", "worker_lost"}});
      leases.finish(*claim, true, "dead letter");
      return;
    }
    bool done = false;
    try {
      prepare_and_submit(m, &*claim);
      done = true;
    } catch (...) {
      // Released, not finished: the job runs again (on this or another worker).
      leases.finish(*claim, false, "error");
      throw;
    }
    leases.finish(*claim, done);
  }

  void prepare_and_submit(run_memory& m, const store::job_claim* claim) {
    const auto& id = m.id;
    auto start = send(m, "start", {});
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
      std::optional<std::string> patched_graph;  // its JSON text
      // A retry of the submit stage reuses the persisted manifest and graph (§3.5 replay).
      bool replay =
          text(*row, "execution_phase") == "submit" && !text(*row, "patched_graph_sha256").empty();
      std::string manifest_sha = text(*row, "manifest_sha256");
      std::string patched_sha = text(*row, "patched_graph_sha256");
      size_t patched_size = 0;
      if (replay) {
        patched_graph = load_artifact(patched_sha);
        patched_size = patched_graph->size();
      } else {
        patched_graph = prepare(m, *row, do_stage, do_submit, manifest_sha, patched_sha);
        if (!patched_graph) return;  // refused: someone else moved the execution on
        patched_size = patched_graph->size();
      }
      if (!do_submit) {
        send(m, "not_submitted", {});
        return;
      }
      if (claim && !leases.held(*claim)) {
        // Another worker recovered this job: it submits, not us.
        spdlog::warn("execution {}: execute lease lost before submission, stopping", id);
        return;
      }
      submit(m, *row, std::move(*patched_graph), manifest_sha, patched_sha, patched_size);
    } catch (const prepare_failure& e) {
      json::object body{{"error", e.what()}, {"failure_class", e.failure_class}};
      if (!e.wasm_hooks.empty()) body["wasm_hooks"] = domain::hook_runs_json(e.wasm_hooks);
      send(m, "fail", std::move(body));
    }
  }

  std::string load_artifact(const std::string& sha) {
    std::optional<store::artifact_blob> blob;
    store::with_connection(pool, [&](pqxx::connection& c) { blob = store::get_artifact(c, sha); });
    if (!blob) throw prepare_failure("artifact " + sha + " is missing from the artifact store");
    return std::move(blob->content);
  }

  std::string put_artifact(const std::string& media_type, const std::string& bytes) {
    return put_artifacts({{media_type, &bytes, {}}}).front();
  }

  std::vector<std::string> put_artifacts(const std::vector<store::artifact_input>& blobs) {
    std::vector<std::string> shas;
    store::with_connection(pool,
                           [&](pqxx::connection& c) { shas = store::put_artifacts(c, blobs); });
    return shas;
  }

  // The run's config revision and the dataset records of its sources, read in one snapshot;
  // throws when a source is gone or no longer ready.
  void read_run_inputs(pqxx::connection& c, const json::object& row, const std::string& module,
                       std::optional<domain::ProjectConfig>& config, json::array& records,
                       std::map<std::string, std::string>& current_signatures) {
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
  }

  // Builds and persists the manifest and the patched graph; returns the patched graph's text,
  // or nullopt when the aggregate refused the result.
  std::optional<std::string> prepare(run_memory& m, const json::object& row, bool do_stage,
                                     bool do_submit, std::string& manifest_out,
                                     std::string& patched_out) {
    const auto& id = m.id;
    auto module = text(row, "project_module");
    std::optional<domain::ProjectConfig> config;
    json::array records;
    std::map<std::string, std::string> current_signatures;
    std::optional<domain::project_hooks> hooks;
    store::with_connection(pool, [&](pqxx::connection& c) {
      read_run_inputs(c, row, module, config, records, current_signatures);
      if (config) hooks = services::bind_project_hooks(c, *config, opts.wasm);
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

    // The manifest and the patched graph for a set of records (the graph is fetched once);
    // `ran` says which hooks the last build ran.
    std::shared_ptr<source_graph> graph;
    std::vector<events::hook_run> ran;
    auto build = [&](const json::array& recs, const std::set<std::string>& exclude) {
      if (!graph) graph = project_graph(*config);
      auto now_s =
          std::chrono::duration_cast<std::chrono::seconds>(util::clock::now().time_since_epoch())
              .count();
      ran.clear();
      try {
        auto built = services::build_run_graph(*config, recs, exclude, *graph->parsed,
                                               util::uuid_v5(id, "manifest-config"), now_s,
                                               hooks ? &*hooks : nullptr, &ran);
        return std::make_pair(std::move(built.manifest), std::move(built.delta));
      } catch (const services::run_graph_error& e) {
        throw prepare_failure(e.what(), e.failure_class, ran);
      }
    };

    std::set<std::string> excluded;
    json::object staging_report{{"mode", "pass_through"}};
    std::optional<std::pair<json::object, json::array>> built;
    if (do_stage && stage) {
      // Issue #17: everything that needs no backend (manifest, graph, patches) is checked on
      // the records as discovered before staging, which on CASDA may recall tapes: a broken
      // config fails here, not after the staging.
      built.emplace(build(records, {}));
      staging_outcome staged;
      try {
        staged = stage(text(row, "archive_name"), records);
      } catch (const std::exception& e) {
        throw prepare_failure(std::string("staging failed: ") + e.what(), "dependency_unavailable");
      }
      // Staging that changed nothing (pass-through) keeps the build it checked.
      if (staged.records != records || !staged.skipped_sbids.empty()) built.reset();
      records = std::move(staged.records);
      for (auto& s : staged.skipped_sbids) excluded.insert(s);
      staging_report = std::move(staged.report);
    }
    if (!built) built.emplace(build(records, excluded));
    auto& manifest_doc = built->first;
    const auto& delta = built->second;
    auto manifest_text = domain::stable_json(json::value(manifest_doc));
    // The patched graph's text: the source graph's with the delta spliced in, the bytes
    // serialising the patched value would give (no 300 KB copy and serialisation per run);
    // applied to a copy when the delta is not one that splices.
    const auto* base = graph->base();
    std::optional<std::string> patched_text;
    if (base) patched_text = base->apply(delta);
    if (!patched_text) {
      json::value patched = *graph->parsed;
      util::apply_json_delta(patched, delta);
      patched_text = json::serialize(patched);
    }
    std::vector<store::artifact_input> blobs{{"application/json", &manifest_text, {}},
                                             {"application/json", &*patched_text, {}}};
    // The patched graph as the source graph plus what the build set (a few KB, not ~300 KB),
    // when that is smaller and its text rebuilds the same bytes.
    if (base) {
      auto text = json::serialize(delta);
      if (!delta.empty() && text.size() < patched_text->size() / 2 &&
          util::json_text_round_trips(text))
        blobs[1].delta = store::artifact_input::as_delta{&base->text(), graph->canonical_sha256,
                                                         std::move(text)};
    }
    if (!graph->stored.load()) blobs.push_back({"application/json", &graph->bytes, graph->sha256});
    auto shas = put_artifacts(blobs);
    graph->stored = true;  // only set, never cleared: a race writes it twice, harmlessly
    const auto& manifest_sha = shas[0];
    const auto& patched_sha = shas[1];
    const auto& source_sha = graph->sha256;
    const auto& graph_bytes = graph->bytes;
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
                                  artifact("patched_graph", patched_sha, patched_text->size())}}};
    if (!ran.empty()) body["wasm_hooks"] = domain::hook_runs_json(ran);
    auto r = send(m, "prepared", std::move(body));
    if (!r.ok()) return std::nullopt;
    manifest_out = manifest_sha;
    patched_out = patched_sha;
    return patched_text;
  }

  // The source graph for fetched bytes, shared by every run of the same bytes (a survey's runs
  // all start from one graph of several hundred KB; parsing and hashing it per run was a large
  // share of the execute step's CPU).
  std::shared_ptr<source_graph> cached_graph(std::string bytes) {
    auto same = [&](const source_graph& g) {
      return bytes.empty() ? g.builtin : !g.builtin && g.bytes == bytes;
    };
    {
      std::lock_guard lk(cache_mu);
      for (auto& g : graphs)
        if (same(*g)) return g;
    }
    auto g = std::make_shared<source_graph>();
    g->parsed = std::make_shared<const json::value>(services::parse_graph(bytes));
    // The built-in graph (no bytes) is stored as its serialisation.
    g->builtin = bytes.empty();
    g->bytes = g->builtin ? json::serialize(*g->parsed) : std::move(bytes);
    g->sha256 = util::sha256_hex(g->bytes);
    std::lock_guard lk(cache_mu);
    if (graphs.size() >= 8) graphs.erase(graphs.begin());
    graphs.push_back(g);
    return g;
  }

  // The project's source graph: graph.path (confined to BEAMPIPE_HOME) or graph.url, fetched,
  // found in (or added to) the cache, its pinned SHA-256 checked against the cached digest (the
  // same bytes have the same digest: no hashing several hundred KB per run).
  std::shared_ptr<source_graph> project_graph(const domain::ProjectConfig& config) {
    try {
      auto g = cached_graph(services::fetch_project_graph(config, opts.graphs, false));
      if (!g->builtin) services::check_graph_sha256(config, g->sha256);
      return g;
    } catch (const services::run_graph_error& e) {
      throw prepare_failure(e.what(), e.failure_class);
    }
  }

  void submit(run_memory& m, const json::object& row, std::string patched_graph,
              const std::string& manifest_sha, const std::string& patched_sha,
              size_t patched_size) {
    const auto& id = m.id;
    auto profile = profile_of(row);
    if (!profile) throw prepare_failure("execution has no usable deployment profile snapshot");
    auto backend = backends(*profile);
    auto session = domain::dim_session_id(id, row.at("created_at_ms").as_int64());
    if (!session) throw prepare_failure(session.error());
    // Nothing is intended for a backend that does not answer: that failure is certain.
    if (auto why = backend->preflight(*profile)) {
      send(m, "fail",
           {{"error", "DALiuGE preflight failed: " + *why},
            {"failure_class", "dependency_unavailable"}});
      return;
    }
    auto deadline_wall = util::clock::now() + opts.submission_timeout;
    auto intent =
        send(m, "intend_submission",
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
    adapters::submit_request req{id,
                                 session.value(),
                                 std::move(patched_graph),
                                 *profile,
                                 clock::now() + opts.submission_timeout,
                                 {}};
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
        send(m, "submission_uncertain", std::move(body));
      } else
        send(m, "fail",
             {{"error", e.what()},
              {"submission_failed", true},
              {"failure_class",
               e.failure_class().empty() ? "dependency_unavailable" : e.failure_class()}});
      return;
    } catch (const std::exception& e) {
      // Unclassified: it may have reached the backend, so it is never treated as a failure.
      send(m, "submission_uncertain", {{"error", e.what()}, {"failure_class", "unknown"}});
      return;
    }
    // A backend that deployed the logical graph as given: its physical graph is the patched
    // graph's artifact (no second serialisation and hash of the same bytes).
    std::string physical_sha = patched_sha;
    size_t physical_size = patched_size;
    if (!receipt.physical_is_logical || patched_sha.empty()) {
      auto physical_text = json::serialize(receipt.physical_graph);
      physical_sha = put_artifact("application/json", physical_text);
      physical_size = physical_text.size();
    }
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
    send(m, "record_submission",
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
                                                 {"size_bytes", physical_size},
                                                 {"media_type", "application/json"},
                                                 {"producer_phase", "submit"}}}}});
  }

  // Tells each source how the run ended (pending flags, consumed signature), then records
  // that on the execution; both commands are idempotent, so a crash in between is harmless.
  void finalize_sources(run_memory& m) {
    const auto& id = m.id;
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
      cr.correlation_id = correlation_for(m);
      auto r = rt.send_sync(std::move(cr), std::chrono::seconds(60));
      if (!r.ok() && r.result != outcome::not_found) {
        spdlog::warn("execution {}: finalising source {} refused: {}", id, ident, r.message);
        return;
      }
    }
    release_backend(id, *row);
    auto r = send(m, "finalize_sources", {});
    if (r.ok()) {
      spdlog::info("execution {} ({}): sources finalised", id, outcome);
      m.finished = true;  // the run is over: its actor may go
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
  void orphaned_submission(run_memory& m) {
    send(m, "submission_uncertain",
         {{"error",
           "submission interrupted before its receipt was recorded (worker restart or deadline)"},
          {"failure_class", "unknown"}});
  }

  void lookup(run_memory& m) {
    const auto& id = m.id;
    m.lookup_wait = opts.lookup_every;
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
      auto& st = m.lookups;
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
    send(m, "observe", std::move(body));
    // The same answer again is asked for less often: 1×, 2×, 4× … the interval.
    auto wait = std::min<std::chrono::milliseconds>(
        opts.lookup_every * (1 << std::min(same_in_row, 12)), opts.lookup_backoff_max);
    m.lookup_wait = std::max(wait, opts.lookup_every);
    if (r.outcome == "found") {
      m.lookups = {};
      undeployed_check(m, r.state);
    }
  }

  // Issue #17: a DALiuGE session found created but not deployed (its deploy's answer was lost
  // or refused) runs nothing. It is deployed once more, recorded first; a session still not
  // deployed after that, or one that never got its graph, fails the run for certain.
  void undeployed_check(run_memory& m, const adapters::observation& o) {
    const auto& id = m.id;
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
      send(m, "fail",
           {{"error", pristine ? "DALiuGE session " + sid +
                                     " was created but never received its graph; nothing ran"
                               : "DALiuGE session " + sid +
                                     " is still BUILDING after it was deployed again; nothing ran"},
            {"deploy_not_taken", true},
            {"session_state", o.daliuge_state},
            {"failure_class", "deploy_not_taken"}});
      return;
    }
    auto r = send(m, "intend_redeploy",
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
              const adapters::observation& o, run_memory& m) {
    auto body = observation_body(o);
    body["confirms_submission"] = !ref.scheduler_job_id.empty();
    if (past_poll_budget(backend, ref)) body["poll_budget_exhausted"] = true;
    if (o.reason == "session_missing") {
      int n = ++m.missing_polls;
      if (n >= opts.session_missing_polls) {
        body["daliuge_state"] = "failed";
        body["error"] = "DALiuGE session " + ref.session_id + " is no longer known to the DIM (" +
                        std::to_string(n) + " polls in a row; did it restart?): its run is lost";
        body["failure_class"] = "session_lost";
      }
    } else {
      m.missing_polls = 0;
    }
    send(m, "observe", std::move(body));
    undeployed_check(m, o);
  }

  // The target could not be asked at all (issue #17: this was only a log line every round).
  // Each run records it once, as an observation; the target is asked again less and less
  // often until it answers.
  void poll_failed(const poll_answer& a, run_memory& m) {
    const auto& backend = *a.backend;
    json::object body{
        {"kind", backend.scheduler_name() == "slurm" ? "scheduler" : "daliuge_session"},
        {"raw_state", "poll_error"},
        {"reason", a.error},
        {"payload", json::object{{"error", a.error}, {"failures_in_row", a.failures_in_row}}}};
    if (past_poll_budget(backend, a.ref)) body["poll_budget_exhausted"] = true;
    send(m, "observe", std::move(body));
  }

  // A target's polling interval, doubled for each round in a row that could not ask it.
  std::chrono::milliseconds poll_interval(const std::string& target, int failures) const {
    auto every =
        target.rfind("slurm_remote|", 0) == 0 ? opts.slurm_poll_every : opts.dim_poll_every;
    auto n = std::min(failures, 12);
    return std::max(every,
                    std::min<std::chrono::milliseconds>(every * (1 << n), opts.poll_backoff_max));
  }

  poll_round poll(const std::string& target, const std::vector<std::string>& ids, int failures) {
    poll_round round;
    round.target = target;
    round.ids = ids;
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
      int64_t round_no = now_ms / every;
      auto next = util::to_rfc3339(
          util::clock::time_point(std::chrono::milliseconds((round_no + 1) * every)));
      auto tick = leases.claim(util::uuid_v5(kPollTickNamespace, key),
                               slurm ? "slurm_poll_tick" : "dim_poll_tick", round_no,
                               backend->description(), next);
      if (!tick) continue;  // another process polls this target this round
      auto& refs = group.second;
      try {
        auto obs = backend->poll(refs);
        for (size_t i = 0; i < refs.size() && i < obs.size(); ++i)
          round.answers.push_back({{}, backend, refs[i], obs[i], {}, 0});
      } catch (const std::exception& e) {
        round.asked = false;
        auto error = domain::recorded_text(e.what(), 300);
        spdlog::warn("poll of {} execution(s) via {} failed ({} in a row, next in {} s): {}",
                     refs.size(), backend->description(), failures + 1,
                     poll_interval(target, failures + 1).count() / 1000, error);
        for (auto& ref : refs)
          round.answers.push_back({{}, backend, ref, std::nullopt, error, failures + 1});
      }
      try {
        leases.finish(*tick, true);
      } catch (const std::exception& e) {
        spdlog::warn("poll round of {} not recorded as done: {}", backend->description(), e.what());
      }
    }
    return round;
  }

  // A cancel request. The run may have ended while the cancel was on its way (the DIM answers
  // a cancel of a finished session with InvalidSessionState), so it is observed first: a run
  // whose backend no longer runs it ends as the backend says, and no cancel is sent.
  void cancel(run_memory& m) {
    const auto& id = m.id;
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
        send(m, "observe", std::move(body));
        if (ended) {
          spdlog::info("execution {}: the backend ended the run before its cancel ({})", id,
                       o.raw_state);
          m.cancel_attempts = 0;
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
      int attempts = ++m.cancel_attempts;
      auto reason = domain::recorded_text(r.reason, 300);
      if (attempts >= opts.cancel_attempts) {
        // Bounded: the request is withdrawn with its evidence; the run is polled again and
        // an operator may cancel once more or abandon it.
        spdlog::warn("execution {}: cancel not confirmed after {} attempts; withdrawn: {}", id,
                     attempts, reason);
        send(m, "cancel_unconfirmed", {{"attempts", attempts}, {"error", reason}});
        m.cancel_attempts = 0;
        return;
      }
      spdlog::warn("execution {}: cancel not confirmed yet (attempt {}): {}", id, attempts, reason);
      return;
    }
    m.cancel_attempts = 0;
    auto body = observation_body(r.state);
    body["confirms_submission"] = true;
    send(m, "observe", std::move(body));
  }
};

execution_steps::execution_steps(runtime& rt, store::database& db,
                                 adapters::backend_factory backends, stager stage,
                                 execution_worker_options opts)
    : impl_(
          std::make_unique<impl>(rt, db, std::move(backends), std::move(stage), std::move(opts))) {}

execution_steps::~execution_steps() { join(); }

void execution_steps::join() { impl_->workers.join(); }

void execution_steps::finalize(run_memory& m) { impl_->finalize_sources(m); }

void execution_steps::execute(const std::string& job_id, run_memory& m) {
  // The run's events and log lines carry the operator request's correlation id.
  util::correlation_scope correlation(m.correlation.empty() ? m.id : m.correlation);
  impl_->execute_job(job_id, m);
}

void execution_steps::orphaned(run_memory& m) { impl_->orphaned_submission(m); }

void execution_steps::lookup(run_memory& m) { impl_->lookup(m); }

void execution_steps::cancel(run_memory& m) { impl_->cancel(m); }

void execution_steps::polled(const poll_answer& a, run_memory& m) {
  if (!a.correlation.empty()) m.correlation = a.correlation;
  if (a.observed)
    impl_->polled(*a.backend, a.ref, *a.observed, m);
  else
    impl_->poll_failed(a, m);
}

void execution_steps::run_blocking(std::function<void()> job) {
  boost::asio::post(impl_->workers, std::move(job));
}

std::vector<work_row> execution_steps::needing_work() {
  std::vector<work_row> rows;
  store::with_connection(impl_->pool, [&](pqxx::connection& c) {
    pqxx::read_transaction tx{c};
    for (auto& item : ledger::needing_work(tx, 500)) {
      work_row w{std::move(item)};
      // An in-flight submission is orphaned when the process that recorded it is gone, or
      // when its deadline has passed; in a cluster, when another node recorded it and this node
      // now holds the run's shard (that node can no longer record the receipt: the store fences
      // it), so the holder looks the submission up by name at once.
      if (w.submission == "in_flight")
        w.orphaned = w.submission_deadline_passed || impl_->owner_gone(w.submission_node) ||
                     impl_->moved_here(w);
      rows.push_back(std::move(w));
    }
  });
  return rows;
}

std::chrono::milliseconds execution_steps::poll_interval(const std::string& target,
                                                         int failures) const {
  return impl_->poll_interval(target, failures);
}

poll_round execution_steps::poll(const std::string& target, const std::vector<std::string>& ids,
                                 int failures) {
  return impl_->poll(target, ids, failures);
}

}  // namespace beampipe::actors

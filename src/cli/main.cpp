// beampipe: the command-line entry point. Every subcommand answers --help.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "actors/runtime.hpp"
#include "adapters/credential_slots.hpp"
#include "adapters/wasm_hooks.hpp"
#include "app/backends.hpp"
#include "app/diagnostics.hpp"
#include "app/node.hpp"
#include "app/security.hpp"
#include "app/settings.hpp"
#include "app/users.hpp"
#include "cli/console.hpp"
#include "cli/history.hpp"
#include "cli/installation.hpp"
#include "cli/logging.hpp"
#include "cli/openapi_export.hpp"
#include "cli/remote.hpp"
#include "cli/service.hpp"
#include "domain/alerting.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/document.hpp"
#include "domain/graph_prep.hpp"
#include "domain/project_config.hpp"
#include "domain/project_explain.hpp"
#include "domain/slurm.hpp"
#include "events/validity.hpp"
#include "projections/catch_up.hpp"
#include "projections/verify.hpp"
#include "services/run_graph.hpp"
#include "store/artifact_store.hpp"
#include "store/database.hpp"
#include "store/db.hpp"
#include "store/embedded_pg.hpp"
#include "store/event_chain.hpp"
#include "store/event_store.hpp"
#include "store/migrations.hpp"
#include "util/hash.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"

#ifndef BEAMPIPE_VERSION
#define BEAMPIPE_VERSION "0.0.0"
#endif

namespace {
using namespace beampipe;

const char* kUsage = R"(beampipe — control plane for archive-driven radio-astronomy workflows

Usage: beampipe <command> [options]

Commands:
  start                    run everything in one process; starts a private PostgreSQL
                           when DATABASE_URL is unset
  start --detach, stop, restart, logs
                           the same as a background service of this data folder
  init [--directory DIR]   a local installation: settings file, generated secrets, an
                           example project and profile (--force replaces; secrets kept)
  setup [--directory DIR] [--yes] [--no-start]
                           the guided first steps on it: start, sign in, upload, doctor
  serve                    run API, actors and projections against DATABASE_URL
                           (--worker false: API only)
  worker                   run discovery, executions and the scheduler, no API
  migrate                  apply database migrations
  projections rebuild      reset read models and replay them from position 0
  projections dead-letters events a projection could not apply (--retry POSITION)
  replay --verify          rebuild every projection in a shadow schema and compare digests
  events tail              print the global event feed
  events export [-o FILE] [--artifacts DIR]
                           the whole store as JSON lines in the feed's shape (backup, audit)
  events import FILE [--artifacts DIR]
                           load an export (idempotent; conflicts refused), rebuild read models
  project validate|explain -f FILE
                           check a project config (YAML or JSON); explain: what it would do
  profile validate|render -f FILE
                           check a deployment profile by the API's rules, offline; render:
                           the #SBATCH lines or manager URLs a run on it would use
  graph diff BEFORE AFTER  two DALiuGE graphs node by node (exit 1 when they differ)
  wasm run --module FILE --hook NAME --input FILE
                           runs a WebAssembly hook locally as beampipe would (§5.9 ABI)
  slurm credentials list|init|import|check|remove|copy-id|sync
                           the Slurm SSH credential slots of this machine
  admin create-user        add a user (--username --password-file|--password --email
                           [--superuser]); also admin set-password, admin disable-user
  security check           report security settings; exit 1 if production would refuse one
  doctor [--profile NAME] [--json]
                           the checks of GET /diagnostics, run here against the database (works
                           while the API is down); exit 1 when one fails
  openapi export [-o FILE] print the OpenAPI 3 document of /api/v2 (no database needed)
  settings [--markdown]    the effective settings and where each came from (a secret shows
                           only as set); --markdown: the README's Environment table
  config explain           the same as settings
  console                  the terminal console (overview, executions, workers, jobs,
                           events; drain, resume, cancel) of a running beampipe
  login, logout, status, worker {list,show,pools,leases,drain,resume},
  execution {retry,cancel}, graph prepare, timeline, project add, profile add,
  wasm upload, slurm ping, purge-provenance, audit {execution,diff}
                           operator commands through a running beampipe's API (beampipe
                           login --help)

Options: --help on any command, --version, --env-file FILE (settings file; also
         BEAMPIPE_ENV_FILE).

Environment (default, then meaning; `beampipe settings` shows the effective values):
)";

struct args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --key value / --key=value
  std::set<std::string> flags;                 // --flag
  app::settings settings;  // the environment, parsed once, with the options below applied
  std::map<std::string, std::string> file_settings;  // what the settings file (--env-file) holds
  bool has(const std::string& f) const { return flags.count(f) || options.count(f); }
  std::optional<std::string> opt(const std::string& k) const {
    auto it = options.find(k);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }
};

// Options that take a value; everything else starting with -- is a flag.
const std::set<std::string> kValued = {"data-dir",
                                       "bind",
                                       "name",
                                       "after",
                                       "limit",
                                       "database-url",
                                       "file",
                                       "worker",
                                       "username",
                                       "password-file",
                                       "email",
                                       "password",
                                       "retry",
                                       "artifacts",
                                       "profile",
                                       "url",
                                       "reason",
                                       "project",
                                       "sources",
                                       "config-id",
                                       "dir",
                                       "private-key",
                                       "public-key",
                                       "known-hosts",
                                       "passphrase-file",
                                       "interval",
                                       "lines",
                                       "before",
                                       "older-than-days",
                                       "env-file",
                                       "directory",
                                       "admin-username",
                                       "host",
                                       "port",
                                       "user",
                                       "identity",
                                       "identity-passphrase-file",
                                       "to",
                                       "at",
                                       "against",
                                       "module",
                                       "hook",
                                       "input"};

args parse_args(int argc, char** argv, int from) {
  args a;
  // The input rule of the API holds for the command line too (util/input_rules.hpp).
  for (int i = from; i < argc; ++i)
    if (auto p = util::text_problem(argv[i], util::text_kind::text))
      throw std::invalid_argument("argument " + std::to_string(i) + " " + *p);
  for (int i = from; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      auto eq = s.find('=');
      std::string key = s.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos)
        a.options[key] = s.substr(eq + 1);
      else if (kValued.count(key)) {
        if (i + 1 >= argc) throw std::invalid_argument("--" + key + " needs a value");
        a.options[key] = argv[++i];
      } else
        a.flags.insert(key);
    } else if (s == "-h") {
      a.flags.insert("help");
    } else if (s == "-f" || s == "-o") {
      if (i + 1 >= argc) throw std::invalid_argument(s + " needs a file");
      a.options[s.substr(1)] = argv[++i];
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

// Command-line options that stand for a setting: applied over the environment.
std::map<std::string, std::string> setting_overrides(const args& a) {
  std::map<std::string, std::string> o;
  for (const auto& [option, name] :
       {std::pair{"data-dir", "BEAMPIPE_DATA_DIR"}, std::pair{"bind", "BEAMPIPE_BIND_ADDR"},
        std::pair{"database-url", "DATABASE_URL"}, std::pair{"env-file", "BEAMPIPE_ENV_FILE"}})
    if (auto v = a.opt(option)) o[name] = *v;
  return o;
}

std::string require_database_url(const args& a) {
  const auto& url = a.settings.database_url;
  if (url.empty()) throw std::invalid_argument("DATABASE_URL is not set (or pass --database-url)");
  return url;
}

std::shared_ptr<projections::engine> make_engine() {
  return std::make_shared<projections::engine>(projections::standard_projections());
}

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// One node until a signal: built and started from the settings (app::node), stopped in order.
int run_server(const std::string& conninfo, const args& a, app::node_role role = {}) {
  app::node_options o;
  o.conninfo = conninfo;
  o.role = role;
  o.demo = a.has("demo");
  o.stopping = [] { return g_stop != 0; };
  app::node n(a.settings, std::move(o));
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  n.start();
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("shutting down");
  n.stop();
  return 0;
}

// DATABASE_URL (or --database-url), else the embedded cluster `start` uses (reused when a
// `beampipe start` is running, started and stopped around fn otherwise).
template <class F>
int with_database(const args& a, F&& fn) {
  const auto& url = a.settings.database_url;
  if (!url.empty()) return fn(url);
  store::embedded_pg_options eo;
  eo.data_dir = std::filesystem::path(a.settings.data_dir) / "pg";
  store::embedded_pg pg(eo);
  pg.start();
  spdlog::info("embedded PostgreSQL in {}", eo.data_dir.string());
  int rc = fn(pg.conninfo());
  pg.stop();
  return rc;
}

// The options of this command line again, as `beampipe start` takes them (without --detach).
// A database URL may carry a password: it goes to the service in its environment, never in
// its command line (which every user of the machine can read).
std::vector<std::string> start_args(const args& a) {
  std::vector<std::string> out;
  if (auto url = a.opt("database-url")) ::setenv("DATABASE_URL", url->c_str(), 1);
  for (const auto& [k, v] : a.options)
    if (k != "database-url") out.push_back("--" + k + "=" + v);
  for (const auto& f : a.flags)
    if (f != "detach") out.push_back("--" + f);
  return out;
}

int cmd_start(const args& a) {
  if (a.has("help")) {
    std::cout << "Usage: beampipe start [--bind HOST:PORT] [--data-dir DIR] [--database-url URL] "
                 "[--demo] [--detach]\n"
                 "--detach: run as a background service (pid and log in the data folder; "
                 "beampipe stop,\nrestart, logs).\n"
                 "Runs API, actors and projections in one process. Without DATABASE_URL it "
                 "initialises and\n"
                 "runs a private PostgreSQL cluster under DIR/pg (default "
              << a.settings.data_dir
              << ") and stops it on exit.\n"
                 "--demo: on a database without a project, load the WALLABY demo (project, "
                 "default profile for\n"
                 "the simulated DIM, two sources, their discovery) and, when no user exists "
                 "and BEAMPIPE_ADMIN_*\n"
                 "is unset, create the superuser 'admin' with a generated password kept in "
                 "DIR/demo-admin.password.\n";
    return 0;
  }
  if (a.has("detach")) return cli::start_detached(a.settings.data_dir, start_args(a));
  return with_database(a, [&](const std::string& conninfo) { return run_server(conninfo, a); });
}

// stop, restart (with start's options) and logs of the service `start --detach` runs.
int cmd_service(const std::string& cmd, const args& a) {
  if (a.has("help")) {
    std::cout << "Usage: beampipe stop | restart [start options] | logs [--lines N] [--follow]\n"
                 "The service of `beampipe start --detach` from this data folder (--data-dir, "
                 "else\nBEAMPIPE_DATA_DIR): stop asks it to stop and waits up to 60 s; restart "
                 "stops it and\nstarts it detached again; logs prints the end of "
                 "DATA_DIR/beampipe.log.\n";
    return 0;
  }
  if (cmd == "logs") {
    int lines = 100;
    if (auto n = a.opt("lines")) {
      try {
        lines = std::stoi(*n);
      } catch (const std::exception&) {
        lines = -1;
      }
      if (lines < 0 || lines > 100000) throw std::invalid_argument("--lines is 0..100000");
    }
    return cli::show_logs(a.settings.data_dir, lines, a.has("follow"));
  }
  int rc = cli::stop_service(a.settings.data_dir);
  if (cmd == "stop" || rc != 0) return rc;
  return cli::start_detached(a.settings.data_dir, start_args(a));
}

int cmd_serve(const args& a) {
  if (a.has("help")) {
    std::cout
        << "Usage: beampipe serve [--bind HOST:PORT] [--database-url URL] [--worker true|false]\n"
           "Runs API, actors and projections against DATABASE_URL (no embedded database).\n"
           "--worker false: API only; discovery, executions and the scheduler run elsewhere.\n";
    return 0;
  }
  app::node_role role;
  if (auto w = a.opt("worker")) {
    if (*w != "true" && *w != "false")
      throw std::invalid_argument("--worker must be true or false");
    role.workers = *w == "true";
  }
  return run_server(require_database_url(a), a, role);
}

int cmd_worker(const args& a) {
  if (a.has("help")) {
    std::cout
        << "Usage: beampipe worker [--database-url URL]\n"
           "Runs discovery, executions and the scheduler election against DATABASE_URL, no API.\n";
    return 0;
  }
  return run_server(require_database_url(a), a, app::node_role{false, true});
}

int cmd_migrate(const args& a) {
  if (a.has("help")) {
    std::cout << "Usage: beampipe migrate [--database-url URL]\nApplies pending migrations; "
                 "re-running is a no-op.\n";
    return 0;
  }
  auto c = store::connect(require_database_url(a), "beampipe-migrate");
  auto applied = store::migrate(*c);
  for (const auto& m : applied) std::cout << "applied " << m << "\n";
  auto st = store::check_migrations(*c);
  std::cout << "schema at version " << st.applied << " ("
            << (applied.empty() ? "nothing to do" : "migrated") << ")\n";
  return 0;
}

// `projections dead-letters [--retry POSITION] [--json]`: events a projection could not apply.
int cmd_dead_letters(const args& a) {
  return with_database(a, [&](const std::string& url) {
    auto c = store::connect(url, "beampipe-dead-letters");
    store::migrate(*c);
    auto eng = make_engine();
    if (auto r = a.opt("retry")) {
      int64_t position = 0;
      try {
        position = std::stoll(*r);
      } catch (...) {
        throw std::invalid_argument("--retry needs an event position, got '" + *r + "'");
      }
      int failed = 0;
      boost::json::array out;
      for (const auto& o : eng->retry_dead_letter(*c, position)) {
        failed += o.applied ? 0 : 1;
        out.push_back({{"projection", o.projection}, {"applied", o.applied}, {"error", o.error}});
        if (!a.has("json"))
          std::cout << o.projection << ": "
                    << (o.applied ? "applied, dead letter removed" : "still fails: " + o.error)
                    << "\n";
      }
      if (a.has("json")) std::cout << boost::json::serialize(out) << "\n";
      return failed ? 1 : 0;
    }
    auto letters = eng->dead_letters(*c);
    if (a.has("json")) {
      boost::json::array out;
      for (const auto& d : letters)
        out.push_back({{"projection", d.projection},
                       {"position", d.position},
                       {"event_id", d.event_id},
                       {"event_type", d.event_type},
                       {"stream_id", d.stream_id},
                       {"error", d.error},
                       {"attempts", d.attempts},
                       {"recorded_at", d.recorded_at},
                       {"last_attempt_at", d.last_attempt_at}});
      std::cout << boost::json::serialize(out) << "\n";
      return 0;
    }
    if (letters.empty()) std::cout << "no dead letters\n";
    for (const auto& d : letters)
      std::cout << d.position << "  " << d.projection << "  " << d.event_type << "  " << d.stream_id
                << "  attempts " << d.attempts << "\n    " << d.error << "\n";
    return 0;
  });
}

// Resets the read models (all, or the named ones) and replays the store into them, the groups
// of those read models at once.
void rebuild_projections(const std::string& url, pqxx::connection& c, projections::engine& eng,
                         const std::vector<std::string>& names) {
  auto head = store::head_position(c);
  eng.reset(c, names);
  std::vector<std::shared_ptr<projections::engine>> groups;
  for (auto& g : projections::engines_by_group(eng.projections()))
    if (names.empty() ||
        std::any_of(g->projections().begin(), g->projections().end(), [&](const auto& p) {
          return std::find(names.begin(), names.end(), p->name()) != names.end();
        }))
      groups.push_back(std::move(g));
  auto t0 = std::chrono::steady_clock::now();
  projections::catch_up_options o;
  o.progress = [&](size_t n) {
    std::cout << "rebuilt " << n << " events (head position " << head << ")\n" << std::flush;
  };
  auto total = projections::catch_up_together(url, groups, o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "rebuild complete: " << total << " events in " << secs << " s\n";
}

int cmd_projections(const args& a) {
  bool rebuild = a.positional.size() >= 2 && a.positional[1] == "rebuild";
  bool dead = a.positional.size() >= 2 && a.positional[1] == "dead-letters";
  if (a.has("help") || (!rebuild && !dead)) {
    std::cout << "Usage: beampipe projections rebuild [--name NAME] [--database-url URL]\n"
                 "       beampipe projections dead-letters [--retry POSITION] [--json] "
                 "[--database-url URL]\n"
                 "rebuild: resets the read models (all, or one projection) and replays events from "
                 "position 0\n"
                 "(their dead letters are cleared and recorded again if the events still fail).\n"
                 "dead-letters: lists the events a projection could not apply and skipped; --retry "
                 "applies\n"
                 "the event at POSITION again to those projections, now (exit 1 if one still "
                 "fails).\n";
    return a.has("help") ? 0 : 2;
  }
  if (dead) return cmd_dead_letters(a);
  auto url = require_database_url(a);
  auto c = store::connect(url, "beampipe-rebuild");
  store::migrate(*c);
  auto eng = make_engine();
  std::vector<std::string> names;
  if (auto n = a.opt("name")) {
    bool known = false;
    for (const auto& p : eng->projections()) known |= p->name() == *n;
    if (!known) throw std::invalid_argument("unknown projection '" + *n + "'");
    names.push_back(*n);
  }
  rebuild_projections(url, *c, *eng, names);
  return 0;
}

int cmd_replay(const args& a) {
  if (a.has("help") || !a.has("verify")) {
    std::cout
        << "Usage: beampipe replay --verify [--database-url URL]\n"
           "Rebuilds every projection into a shadow schema up to the live checkpoints and "
           "compares\n"
           "per-table digests with the live read models. Exits 1 naming any table that differs.\n";
    return a.has("help") ? 0 : 2;
  }
  auto url = require_database_url(a);
  auto report = projections::verify_replay(url, make_engine);
  for (const auto& t : report.tables)
    std::cout << (t.equal() ? "ok      " : "DIFFERS ") << t.table << " live " << t.live.rows
              << " rows " << t.live.md5 << " shadow " << t.shadow.rows << " rows " << t.shadow.md5
              << "\n";
  std::cout << "replayed " << report.events_replayed
            << " events: " << (report.ok() ? "read models verified" : "MISMATCH") << "\n";
  return report.ok() ? 0 : 1;
}

// -f FILE (or --file): its name and text; no text (said on stderr) when it cannot be read.
std::pair<std::string, std::optional<std::string>> input_file(const args& a,
                                                              const std::string& command) {
  auto file = a.opt("f");
  if (!file) file = a.opt("file");
  if (!file) throw std::invalid_argument(command + " needs -f FILE");
  auto text = domain::read_config_file(*file);
  if (!text) std::cerr << "beampipe: cannot read " << *file << "\n";
  return {*file, text};
}

void print_diagnostics(const std::string& file, const std::vector<domain::Diagnostic>& ds,
                       std::ostream& out, const char* severity) {
  for (const auto& d : ds)
    out << file << ": " << severity << ": " << d.path << ": " << d.message << " [" << d.code
        << "]\n";
}

// What a config would do, without a database: its id, version, SHA, adapters, transforms,
// graph patches, manifest and automation, with the validation's diagnostics.
int cmd_project_explain(const domain::ValidationReport& report) {
  boost::json::object out{{"project_id", report.project_id},
                          {"valid", report.valid},
                          {"spec_sha256", report.spec_sha256}};
  if (report.config) {
    auto spec = domain::to_json(*report.config);
    auto at = [&](std::initializer_list<const char*> path) -> boost::json::value {
      const boost::json::value* v = &spec;
      for (const char* k : path) {
        if (!v->is_object() || !v->as_object().contains(k)) return nullptr;
        v = &v->as_object().at(k);
      }
      return *v;
    };
    auto size_of = [](const boost::json::value& v) -> int64_t {
      if (v.is_array()) return static_cast<int64_t>(v.as_array().size());
      if (v.is_object()) return static_cast<int64_t>(v.as_object().size());
      return 0;
    };
    out["api_version"] = report.config->api_version;
    out["required_adapters"] = at({"adapters", "required"});
    out["transform_count"] = size_of(at({"definitions", "transforms"}));
    out["graph_patch_count"] = size_of(at({"graph_patches"}));
    out["has_manifest_template"] = !at({"manifest"}).is_null();
    out["graph"] = at({"graph"});
    out["automation"] = at({"automation"});
  }
  out["errors"] = report.to_json().as_object().at("errors");
  std::cout << beampipe::domain::alerting::pretty_json(out) << "\n";
  return report.valid ? 0 : 1;
}

int cmd_project(const args& a) {
  bool validate = a.positional.size() >= 2 && a.positional[1] == "validate";
  bool explain = a.positional.size() >= 2 && a.positional[1] == "explain";
  if (a.has("help") || (!validate && !explain)) {
    std::cout
        << "Usage: beampipe project validate -f FILE [--json]\n"
           "       beampipe project explain -f FILE [--json]\n"
           "       beampipe project add -f FILE   (through the API: beampipe login --help)\n"
           "Validates a project config (YAML or JSON). Exit 0 valid, 1 invalid, 2 unreadable.\n"
           "Human output lists each diagnostic with its path; --json prints the report.\n"
           "explain prints what the config would do (adapters, transforms, graph patches,\n"
           "manifest, automation) with the diagnostics.\n";
    return a.has("help") ? 0 : 2;
  }
  auto [file, text] = input_file(a, "project " + a.positional[1]);
  if (!text) return 2;
  auto report = domain::validate_project_config_text(*text);
  if (explain) {
    if (!a.has("json")) {
      std::cout << domain::explain_project(report);
      return report.valid ? 0 : 1;
    }
    print_diagnostics(file, report.warnings, std::cerr, "warning");
    return cmd_project_explain(report);
  }
  if (a.has("json")) {
    std::cout << boost::json::serialize(report.to_json()) << "\n";
  } else {
    print_diagnostics(file, report.errors, std::cout, "error");
    print_diagnostics(file, report.warnings, std::cerr, "warning");
    std::cout << (report.valid ? "valid" : "invalid") << " project config '" << report.project_id
              << "' spec_sha256 " << report.spec_sha256 << "\n";
  }
  return report.valid ? 0 : 1;
}

// Two DALiuGE graph files compared node by node, as the preview's patch summary does: which
// nodes were added, removed or modified, and in which fields.
int cmd_graph_diff(const args& a) {
  if (a.has("help") || a.positional.size() != 4) {
    std::cout
        << "Usage: beampipe graph diff BEFORE.graph AFTER.graph [--json]\n"
           "       beampipe graph prepare --project MODULE --sources A,B   (through the API)\n"
           "Compares two logical graphs (e.g. a run's source and patched graph, or the "
           "patched graphs\nof two runs): nodes added, removed or modified with the "
           "fields that differ. Exit 0 when\nthey are the same, 1 when they differ.\n";
    return a.has("help") ? 0 : 2;
  }
  auto load = [](const std::string& file) {
    auto text = domain::read_config_file(file);
    if (!text) throw std::invalid_argument("cannot read " + file);
    try {
      return services::parse_graph(*text);
    } catch (const std::exception& e) {
      throw std::invalid_argument(file + ": " + e.what());
    }
  };
  auto summary = domain::patch_summary(load(a.positional[2]), load(a.positional[3]));
  bool same =
      summary.at("changed_node_count") == 0 && !summary.at("graph_configuration_changed").as_bool();
  if (a.has("json")) {
    std::cout << boost::json::serialize(summary) << "\n";
  } else {
    std::cout << "nodes " << boost::json::serialize(summary.at("before_node_count")) << " -> "
              << boost::json::serialize(summary.at("after_node_count")) << ", "
              << boost::json::serialize(summary.at("changed_node_count")) << " changed"
              << (summary.at("graph_configuration_changed").as_bool()
                      ? ", graph configuration changed"
                      : "")
              << "\n";
    for (const auto& n : summary.at("changed_nodes").as_array()) {
      const auto& o = n.as_object();
      std::cout << "  " << o.at("change").as_string().c_str() << " "
                << boost::json::serialize(o.at("node"));
      if (o.contains("fields")) std::cout << ": " << boost::json::serialize(o.at("fields"));
      std::cout << "\n";
    }
  }
  return same ? 0 : 1;
}

// A project's WebAssembly hook run locally, with the limits the server would apply, so an
// author can test a module before uploading it.
int cmd_wasm(const args& a) {
  auto module_file = a.opt("module");
  auto hook = a.opt("hook");
  auto input_file = a.opt("input");
  if (a.has("help") || a.positional.size() != 2 || a.positional[1] != "run" || !module_file ||
      !hook || !input_file) {
    std::cout << "Usage: beampipe wasm run --module FILE --hook NAME --input FILE\n"
                 "Runs hook NAME (prepare_metadata, manifest, graph_patches) of a WebAssembly "
                 "module on the\nJSON in FILE and prints its output, under "
                 "BEAMPIPE_WASM_MAX_MEMORY_MB and BEAMPIPE_WASM_TIMEOUT_MS.\nThe input is what "
                 "beampipe passes: the hook's envelope plus \"declarative_output\".\nExit 0 with "
                 "the output, 1 when the hook fails, 2 on a usage or file error.\n";
    return a.has("help") ? 0 : 2;
  }
  auto read = [](const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::invalid_argument("cannot read " + file);
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
  };
  auto module = read(*module_file);
  std::string why;
  auto input = util::parse_json(read(*input_file), &why);
  if (!input) throw std::invalid_argument(*input_file + ": not JSON: " + why);
  adapters::wasm_limits limits;
  limits.max_memory_bytes = static_cast<size_t>(a.settings.wasm_max_memory_mb) << 20;
  limits.timeout = a.settings.wasm_timeout;
  limits.threads = 1;
  adapters::wasm_hook_runner runner(limits);
  if (auto problem = runner.check_module(module, {*hook})) {
    std::cerr << "beampipe wasm: " << *module_file << ": " << *problem << "\n";
    return 1;
  }
  try {
    auto out = runner.run_hook(util::sha256_hex(module), module, *hook, *input);
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  } catch (const adapters::wasm_hook_error& e) {
    std::cerr << "beampipe wasm: wasm error: " << e.what() << "\n";
    return 1;
  }
}

// A deployment profile file checked as POST /deployment-profiles would check it, offline.
int cmd_profile(const args& a) {
  bool render = a.positional.size() >= 2 && a.positional[1] == "render";
  if (a.has("help") || a.positional.size() < 2 || (a.positional[1] != "validate" && !render)) {
    std::cout << "Usage: beampipe profile validate -f FILE [--json]\n"
                 "       beampipe profile render -f FILE   what a run on it would use: the "
                 "#SBATCH lines of a\n"
                 "                                         Slurm profile, the manager URLs of a "
                 "DALiuGE one\n"
                 "       beampipe profile add -f FILE   (through the API: beampipe login --help)\n"
                 "Checks a deployment profile (YAML or JSON) by the rules the API applies. Exit 0 "
                 "valid,\n1 invalid, 2 unreadable.\n";
    return a.has("help") ? 0 : 2;
  }
  auto [file, text] = input_file(a, "profile " + a.positional[1]);
  if (!text) return 2;
  auto parsed = domain::parse_yaml_or_json(*text);
  auto diagnostics = parsed.diagnostics;
  std::optional<domain::DeploymentProfile> profile;
  if (parsed.value) {
    auto v = domain::validate_deployment_profile_body(*parsed.value);
    profile = v.profile;
    diagnostics.insert(diagnostics.end(), v.diagnostics.begin(), v.diagnostics.end());
  }
  if (render && profile) {
    boost::json::object out{{"profile", domain::to_json(*profile)},
                            {"spec_sha256", domain::profile_spec_sha256(*profile)}};
    if (const auto* slurm = std::get_if<domain::SlurmRemoteDeployment>(&profile->deployment)) {
      boost::json::object resources;
      for (const auto& [option, value] : domain::slurm_resource_options(*slurm))
        resources[option] = value;
      out["resource_request"] = std::move(resources);
      out["sbatch_directives"] = domain::slurm_sbatch_directives(*slurm);
    } else if (const auto* rest = std::get_if<domain::RestRemoteDeployment>(&profile->deployment)) {
      auto dim = domain::dim_base_url(*rest);
      out["manager_url"] = dim ? boost::json::value(*dim) : boost::json::value(nullptr);
      out["translator_url"] = profile->translation.tm_url
                                  ? boost::json::value(*profile->translation.tm_url)
                                  : boost::json::value(nullptr);
    }
    if (a.has("json"))
      std::cout << boost::json::serialize(out) << "\n";
    else
      std::cout << beampipe::domain::alerting::pretty_json(out) << "\n";
    return 0;
  }
  if (a.has("json")) {
    boost::json::array ds;
    for (const auto& d : diagnostics) ds.push_back(domain::to_json(d));
    boost::json::object out{{"valid", profile.has_value()}, {"diagnostics", std::move(ds)}};
    if (profile) {
      out["name"] = profile->name;
      out["spec_sha256"] = domain::profile_spec_sha256(*profile);
    }
    std::cout << boost::json::serialize(out) << "\n";
  } else {
    print_diagnostics(file, diagnostics, std::cout, "error");
    if (profile)
      std::cout << "valid deployment profile '" << profile->name << "' spec_sha256 "
                << domain::profile_spec_sha256(*profile) << "\n";
    else
      std::cout << "invalid deployment profile\n";
  }
  return profile ? 0 : 1;
}

// The Slurm SSH credential slots of this machine (BEAMPIPE_SSH_CREDENTIALS_DIR, or --dir):
// listed, created, imported, checked and removed here, where the files live. No secret is
// ever printed; `init` prints the public key for the login node's authorized_keys.
int cmd_slurm(const args& a) {
  const char* usage =
      "Usage: beampipe slurm credentials list\n"
      "       beampipe slurm credentials init SLOT [--known-hosts FILE] [--force]\n"
      "       beampipe slurm credentials import SLOT --private-key FILE [--public-key FILE]\n"
      "                [--known-hosts FILE] [--passphrase-file FILE] [--force]\n"
      "       beampipe slurm credentials check SLOT\n"
      "       beampipe slurm credentials remove SLOT\n"
      "       beampipe slurm credentials copy-id SLOT --host HOST [--port N] --user USER\n"
      "                --identity FILE [--identity-passphrase-file FILE]\n"
      "       beampipe slurm credentials sync --to DIR [SLOT...] [--dry-run] [--json]\n"
      "       beampipe slurm ping [--profile NAME]   (through the API: beampipe login --help)\n"
      "Slots live in BEAMPIPE_SSH_CREDENTIALS_DIR (or --dir DIR); a profile names its slot in\n"
      "deployment.ssh_credential. Secrets are written owner-only and never printed. init makes an\n"
      "ed25519 key pair and prints its public key; check exits 1 when the slot cannot work.\n"
      "copy-id adds the slot's public key to the login node's ~/.ssh/authorized_keys, signing in\n"
      "with --identity (a key that already signs in there; the host key is checked against the\n"
      "slot's known_hosts), then proves the slot's key signs in. sync mirrors slots into another\n"
      "folder (the service's BEAMPIPE_SSH_CREDENTIALS_DIR), file by file, secrets owner-only.\n";
  static const std::set<std::string> kActions = {"list",   "init",    "import", "check",
                                                 "remove", "copy-id", "sync"};
  if (a.has("help") || a.positional.size() < 3 || a.positional[1] != "credentials" ||
      !kActions.count(a.positional[2])) {
    std::cout << usage;
    return a.has("help") ? 0 : 2;
  }
  const auto& action = a.positional[2];
  auto dir = a.opt("dir").value_or(a.settings.ssh_credentials_dir);
  if (dir.empty())
    throw std::invalid_argument("BEAMPIPE_SSH_CREDENTIALS_DIR is not set (or --dir)");
  if (action == "list") {
    for (const auto& s : adapters::list_credential_slots(dir))
      std::cout << s.name << ": private_key " << (s.private_key ? "yes" : "no") << ", public_key "
                << (s.public_key ? "yes" : "no") << ", passphrase " << (s.passphrase ? "yes" : "no")
                << ", known_hosts " << (s.known_hosts ? "yes" : "no")
                << (s.safe_permissions ? "" : " (UNSAFE permissions)") << "\n";
    return 0;
  }
  if (action == "sync") {
    std::vector<std::string> names(a.positional.begin() + 3, a.positional.end());
    auto changes =
        adapters::sync_credential_slots(dir, a.opt("to").value_or(""), names, a.has("dry-run"));
    if (a.has("json")) {
      boost::json::array rows;
      for (const auto& c : changes)
        rows.push_back(
            boost::json::object{{"slot", c.slot}, {"file", c.file}, {"change", c.change}});
      std::cout << boost::json::serialize(
                       boost::json::object{{"dry_run", a.has("dry-run")}, {"changes", rows}})
                << "\n";
      return 0;
    }
    for (const auto& c : changes)
      std::cout << (a.has("dry-run") ? "would be " : "") << c.change << "  " << c.slot << "/"
                << c.file << "\n";
    return 0;
  }
  if (a.positional.size() < 4) throw std::invalid_argument("the slot name is required");
  const auto& slot = a.positional[3];
  if (action == "copy-id") {
    adapters::ssh_options via;
    via.host = a.opt("host").value_or("");
    via.user = a.opt("user").value_or("");
    if (via.host.empty() || via.user.empty())
      throw std::invalid_argument("--host and --user are required");
    if (auto p = a.opt("port")) {
      try {
        via.port = std::stoi(*p);
      } catch (const std::exception&) {
        via.port = 0;
      }
      if (via.port < 1 || via.port > 65535) throw std::invalid_argument("--port is 1..65535");
    }
    auto identity = a.opt("identity");
    if (!identity)
      throw std::invalid_argument(
          "--identity FILE (a key that already signs in there) is required");
    via.private_key_file = *identity;
    via.passphrase_file = a.opt("identity-passphrase-file");
    auto r = adapters::copy_slot_public_key(dir, slot, via);
    std::cout << "slot " << slot << ": its public key "
              << (r.added ? "was added to" : "was already in") << " ~/.ssh/authorized_keys of "
              << r.destination << ", and it signs in\n";
    return 0;
  }
  if (action == "init") {
    auto pub = adapters::init_credential_slot(dir, slot, a.has("force"), a.opt("known-hosts"));
    std::cout << "slot " << slot
              << " created with a new ed25519 key; add this public key to the login node's "
                 "~/.ssh/authorized_keys"
              << (a.opt("known-hosts") ? "" : ", and its host key to the slot's known_hosts")
              << ":\n"
              << pub;
    return 0;
  }
  if (action == "import") {
    adapters::slot_files files;
    auto key = a.opt("private-key");
    if (!key) throw std::invalid_argument("--private-key FILE is required");
    files.private_key = *key;
    files.public_key = a.opt("public-key");
    files.known_hosts = a.opt("known-hosts");
    files.passphrase_file = a.opt("passphrase-file");
    adapters::import_credential_slot(dir, slot, files, a.has("force"));
    std::cout << "slot " << slot << " imported\n";
    return 0;
  }
  if (action == "check") {
    auto problems = adapters::check_credential_slot(dir, slot);
    for (const auto& p : problems) std::cout << "FAIL  " << slot << ": " << p << "\n";
    if (problems.empty()) std::cout << "OK    " << slot << ": the key opens and is owner-only\n";
    return problems.empty() ? 0 : 1;
  }
  if (!adapters::remove_credential_slot(dir, slot)) {
    std::cerr << "beampipe: no slot " << slot << "\n";
    return 1;
  }
  std::cout << "slot " << slot << " removed\n";
  return 0;
}

std::string read_password(const args& a) {
  if (auto file = a.opt("password-file")) {
    std::ifstream in(*file);
    if (!in) throw std::invalid_argument("--password-file: cannot read " + *file);
    std::string line;
    std::getline(in, line);
    return line;
  }
  if (auto p = a.opt("password")) return *p;
  throw std::invalid_argument("--password-file FILE (or --password) is required");
}

int cmd_admin(const args& a) {
  const char* usage =
      "Usage: beampipe admin create-user --username NAME (--password-file FILE | --password P)\n"
      "                                  --email ADDRESS [--superuser]\n"
      "       beampipe admin set-password --username NAME (--password-file FILE | --password P)\n"
      "       beampipe admin disable-user --username NAME\n"
      "Options: --database-url URL (default DATABASE_URL, else the embedded cluster of `start`,\n"
      "         --data-dir DIR). set-password revokes the user's sign-in sessions.\n";
  static const std::set<std::string> kActions = {"create-user", "set-password", "disable-user"};
  if (a.has("help") || a.positional.size() < 2 || !kActions.count(a.positional[1])) {
    std::cout << usage;
    return a.has("help") ? 0 : 2;
  }
  const auto& action = a.positional[1];
  auto username = a.opt("username").value_or("");
  if (username.empty()) throw std::invalid_argument("--username is required");
  app::user_account u{username, "", a.opt("email").value_or(""), a.has("superuser")};
  if (action != "disable-user") u.password = read_password(a);
  if (action == "create-user" && u.email.empty())
    throw std::invalid_argument("--email is required");
  return with_database(a, [&](const std::string& conninfo) {
    {
      auto c = store::connect(conninfo, "beampipe-migrate");
      store::migrate(*c);
    }
    store::database db(conninfo);
    actors::runtime_options ro;
    ro.node_id = a.settings.node_id;
    actors::runtime rt(db, ro);
    try {
      if (action == "create-user") {
        app::create_user(rt, db, u);
        std::cout << "created " << (u.superuser ? "superuser" : "user") << " '" << username
                  << "'\n";
      } else if (action == "set-password") {
        app::set_password(rt, db, username, u.password);
        std::cout << "password of '" << username << "' changed; its sessions are revoked\n";
      } else {
        app::disable_user(rt, db, username);
        std::cout << "disabled '" << username << "'\n";
      }
    } catch (...) {
      rt.shutdown();
      throw;
    }
    rt.shutdown();
    return 0;
  });
}

boost::json::array effective_settings(const args& a) {
  boost::json::array out;
  for (const auto& r :
       app::effective(a.settings, app::process_env(), setting_overrides(a), a.file_settings))
    out.push_back({{"name", r.name}, {"value", r.value}, {"origin", r.origin}});
  return out;
}

int cmd_doctor(const args& a) {
  if (a.has("help")) {
    std::cout << "Usage: beampipe doctor [--profile NAME] [--json] [--database-url URL]\n"
                 "Runs the checks of GET /api/v2/diagnostics from here: settings, security "
                 "policy, TAP services,\n"
                 "database and migrations, projections, project configs, the deployment profile "
                 "(--profile, else\n"
                 "the global default) and its DALiuGE or Slurm targets, workers and the "
                 "scheduler.\n"
                 "Exit 0 when no check fails (warnings allowed), 1 when one fails.\n";
    return 0;
  }
  return with_database(a, [&](const std::string& conninfo) {
    store::database db(conninfo);
    app::diagnostics_options o;
    o.profile = a.opt("profile");
    o.backends = app::make_backend_factory(a.settings);
    auto d = app::diagnose(db, a.settings, o);
    if (a.has("json")) {
      std::cout << boost::json::serialize(app::to_json(d)) << "\n";
    } else {
      size_t width = 0;
      for (const auto& c : d.checks) width = std::max(width, c.id.size());
      int warned = 0, failed = 0;
      for (const auto& c : d.checks) {
        std::string mark = c.status == "pass" ? "OK  " : c.status == "warn" ? "WARN" : "FAIL";
        warned += c.status == "warn";
        failed += c.status == "fail";
        std::cout << mark << "  " << c.id << std::string(width - c.id.size() + 2, ' ')
                  << (c.subject.empty() ? "" : "[" + c.subject + "] ") << c.message << "\n";
        if (!c.hint.empty()) std::cout << "      fix: " << c.hint << "\n";
      }
      std::cout << "Result: "
                << (failed ? "attention required (" + std::to_string(failed) + " failed, " +
                                 std::to_string(warned) + " warnings)"
                    : warned ? "ready, with " + std::to_string(warned) + " warnings"
                             : std::string("ready"))
                << "\n";
    }
    return d.ok() ? 0 : 1;
  });
}

int cmd_security(const args& a) {
  if (a.has("help") || a.positional.size() < 2 || a.positional[1] != "check") {
    std::cout << "Usage: beampipe security check [--json]\n"
                 "Reports the security settings of this environment. Exit 1 when a check fails "
                 "(only\nproduction, BEAMPIPE_ENV=production, fails checks; development warns).\n";
    return a.has("help") ? 0 : 2;
  }
  auto findings = app::security_findings(a.settings);
  bool failed = false;
  boost::json::array out;
  for (const auto& f : findings) {
    failed |= f.status == "fail";
    out.push_back({{"check", f.check}, {"status", f.status}, {"message", f.message}});
    if (!a.has("json")) std::cout << f.status << "\t" << f.check << "\t" << f.message << "\n";
  }
  // With the settings the findings were made from, from the same table (secrets as "(set)").
  if (a.has("json"))
    std::cout << boost::json::serialize(boost::json::object{{"environment", a.settings.environment},
                                                            {"ok", !failed},
                                                            {"findings", std::move(out)},
                                                            {"settings", effective_settings(a)}})
              << "\n";
  return failed ? 1 : 0;
}

// audit verify | checkpoint: the tamper-evident history, against the database itself (the API
// is not needed, nor trusted). audit execution | diff go through the API (remote.cpp).
int cmd_audit(const args& a) {
  const char* usage = R"(Usage: beampipe audit verify [--against SEQ:DIGEST] [--json]
       beampipe audit checkpoint [--json]
       beampipe audit execution ID [--at POSITION|TIME] | audit diff A B   (through the API)
verify walks every stream's hash chain and every checkpoint and names each event that was
altered, removed, reordered or inserted, by position and stream (exit 1 when it finds one).
checkpoint records a digest over every finished transaction not yet covered and prints it as
SEQ:DIGEST: keep it outside the database; verify --against SEQ:DIGEST then proves the history
up to it unchanged.
)";
  if (a.has("help") || a.positional.size() != 2 ||
      (a.positional[1] != "verify" && a.positional[1] != "checkpoint")) {
    std::cout << usage;
    return a.has("help") ? 0 : 2;
  }
  bool as_json = a.has("json");
  return with_database(a, [&](const std::string& conninfo) {
    auto c = store::connect(conninfo, "beampipe-audit");
    auto cp_json = [](const store::checkpoint& cp) {
      return boost::json::object{{"seq", cp.seq},           {"reference", cp.reference()},
                                 {"events", cp.events},     {"last_position", cp.last_position},
                                 {"digest", cp.digest_hex}, {"taken_at", cp.taken_at}};
    };
    if (a.positional[1] == "checkpoint") {
      auto cp = store::take_checkpoint(*c);
      if (!cp) {
        std::cerr << "beampipe: no finished event to take a checkpoint over\n";
        return 1;
      }
      if (as_json)
        std::cout << boost::json::serialize(cp_json(*cp)) << "\n";
      else
        std::cout << cp->reference() << "\n"
                  << "checkpoint " << cp->seq << ": " << cp->events << " events up to position "
                  << cp->last_position << ", taken " << cp->taken_at
                  << "; keep the line above outside the database\n";
      return 0;
    }
    auto rep = store::verify_history(*c, a.opt("against"));
    if (as_json) {
      boost::json::array problems;
      for (const auto& p : rep.problems)
        problems.push_back(boost::json::object{
            {"position", p.position ? boost::json::value(p.position) : nullptr},
            {"stream_id",
             p.stream_id.empty() ? boost::json::value(nullptr) : boost::json::value(p.stream_id)},
            {"stream_version", p.stream_version ? boost::json::value(p.stream_version) : nullptr},
            {"problem", p.what}});
      std::cout << boost::json::serialize(boost::json::object{
                       {"ok", rep.ok()},
                       {"events", rep.events},
                       {"streams", rep.streams},
                       {"checkpoints", rep.checkpoints},
                       {"latest_checkpoint",
                        rep.latest ? boost::json::value(cp_json(*rep.latest)) : nullptr},
                       {"problems", std::move(problems)},
                       {"truncated", rep.truncated}})
                << "\n";
      return rep.ok() ? 0 : 1;
    }
    for (const auto& p : rep.problems) {
      std::cout << "FAIL  ";
      if (p.position) std::cout << "position " << p.position << " ";
      if (!p.stream_id.empty()) std::cout << p.stream_id << " v" << p.stream_version << " ";
      std::cout << p.what << "\n";
    }
    std::cout << (rep.ok() ? "OK    " : "Result: ") << rep.events << " events in " << rep.streams
              << " streams, " << rep.checkpoints << " checkpoint(s)"
              << (rep.latest ? " (latest " + rep.latest->reference() + ")" : "") << "; "
              << rep.problems.size() << (rep.truncated ? "+" : "") << " problem(s)\n";
    return rep.ok() ? 0 : 1;
  });
}

// init and setup: a local installation in one folder (cli/installation.hpp).
int cmd_installation(const std::string& cmd, const args& a) {
  auto dir = std::filesystem::path(a.opt("directory").value_or("."));
  if (cmd == "init") {
    if (a.has("help")) {
      std::cout
          << R"(Usage: beampipe init [--directory DIR] [--force] [--admin-username NAME] [--json]
Writes a local installation into DIR (default: here): beampipe.env (the settings file),
secrets/ (a JWT secret and the first superuser's password, owner-only), ssh/ (credential
slots), projects/ and profiles/ (the WALLABY example and a DALiuGE profile) and the example's
graph. Refuses when one of its files exists, unless --force; generated secrets are never
replaced.
)";
      return 0;
    }
    cli::init_options o;
    o.directory = dir;
    o.force = a.has("force");
    o.json = a.has("json");
    if (auto u = a.opt("admin-username")) {
      if (!util::is_short_name(*u))
        throw std::invalid_argument("--admin-username: not a user name");
      o.admin_username = *u;
    }
    return cli::run_init(o);
  }
  if (a.has("help")) {
    std::cout << R"(Usage: beampipe setup [--directory DIR] [--yes] [--no-start] [--json]
The first steps on the installation in DIR (default: here), each reported: the installation
(beampipe init when missing: asked in a terminal, else --yes), the service (started detached
from DIR/beampipe.env), the sign-in as its first superuser, the files of projects/ and
profiles/ uploaded, and the doctor's checks. Run it again at any time: what is done stays done.
--no-start: stop before starting anything. Exit 0 when every step passed, 1 at the first that
failed, 2 when a question needs a terminal.
)";
    return 0;
  }
  cli::setup_options o;
  o.directory = dir;
  o.yes = a.has("yes");
  o.start = !a.has("no-start");
  o.json = a.has("json");
  return cli::run_setup(o);
}

int cmd_settings(const args& a) {
  if (a.has("help")) {
    std::cout << "Usage: beampipe settings [--markdown | --json]\n"
                 "The effective value of every setting and where it came from (default, "
                 "environment,\nsettings file or option); secrets show only as (set). --markdown "
                 "prints the "
                 "README's Environment table.\n";
    return 0;
  }
  if (a.has("markdown")) {
    std::cout << app::markdown_table();
    return 0;
  }
  if (a.has("json")) {
    std::cout << boost::json::serialize(effective_settings(a)) << "\n";
    return 0;
  }
  for (const auto& r :
       app::effective(a.settings, app::process_env(), setting_overrides(a), a.file_settings))
    std::cout << r.name << "=" << r.value << (r.origin == "default" ? "" : "  # " + r.origin)
              << "\n";
  return 0;
}

// The whole store in read order, one event per line in the feed's shape, written to FILE
// (under FILE.partial, renamed when complete) or standard output; with --artifacts DIR every
// content-addressed artifact too, as DIR/<sha256> plus DIR/index.jsonl {sha256, media_type,
// size_bytes}. Issue #18: backup, moving a store, and the auditor's copy.
int cmd_events_export(const args& a) {
  auto c = store::connect(require_database_url(a), "beampipe-export");
  std::optional<std::string> file = a.opt("o");
  if (!file) file = a.opt("output");
  std::ofstream out_file;
  if (file) {
    out_file.open(*file + ".partial", std::ios::binary | std::ios::trunc);
    if (!out_file) throw std::invalid_argument("cannot write " + *file + ".partial");
  }
  std::ostream& out = file ? static_cast<std::ostream&>(out_file) : std::cout;
  events::read_position from{};
  int64_t count = 0;
  for (;;) {
    auto batch = store::read_all(*c, from, 1000);
    // Each line carries its event's chain hash, so an import proves the file unaltered.
    auto hashes = store::event_hashes(*c, batch);
    for (const auto& e : batch) {
      auto line = events::feed_json(e);
      if (auto h = hashes.find(e.position); h != hashes.end()) line["hash"] = h->second;
      out << boost::json::serialize(line) << "\n";
      from = events::position_of(e);
      ++count;
    }
    if (batch.size() < 1000) break;
  }
  out.flush();
  if (!out) throw std::runtime_error("writing the export failed");
  int64_t artifacts = 0;
  if (auto dir = a.opt("artifacts")) {
    std::filesystem::create_directories(*dir);
    std::ofstream index(std::filesystem::path(*dir) / "index.jsonl", std::ios::trunc);
    std::string after;
    for (;;) {
      pqxx::read_transaction tx{*c};
      auto rows = tx.exec_params(
          "SELECT sha256, media_type, content, base_sha256 IS NOT NULL FROM artifact_blobs "
          "WHERE sha256 > $1 ORDER BY sha256 LIMIT 50",
          after);
      for (const auto& r : rows) {
        auto sha = r[0].as<std::string>();
        // A blob stored as a delta of another is exported as its bytes.
        auto bytes = r[3].as<bool>() ? store::get_artifact(tx, sha)->content
                                     : pqxx::binarystring(r[2]).str();
        std::ofstream blob(std::filesystem::path(*dir) / sha, std::ios::binary | std::ios::trunc);
        blob.write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
        if (!blob) throw std::runtime_error("writing artifact " + sha + " failed");
        index << boost::json::serialize(boost::json::object{{"sha256", sha},
                                                            {"media_type", r[1].as<std::string>()},
                                                            {"size_bytes", bytes.size()}})
              << "\n";
        after = sha;
        ++artifacts;
      }
      if (rows.size() < 50) break;
    }
    if (!index.flush()) throw std::runtime_error("writing the artifact index failed");
  }
  if (file) {
    out_file.close();
    std::filesystem::rename(*file + ".partial", *file);
  }
  std::cerr << "exported " << count << " events" << (a.has("artifacts") ? " and " : "")
            << (a.has("artifacts") ? std::to_string(artifacts) + " artifacts" : std::string())
            << "\n";
  return 0;
}

// Loads an export into the store (see cli/history.hpp), then rebuilds the read models.
int cmd_events_import(const args& a) {
  if (a.positional.size() < 3) throw std::invalid_argument("events import needs a FILE");
  std::ifstream in(a.positional[2], std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read " + a.positional[2]);
  auto url = require_database_url(a);
  auto c = store::connect(url, "beampipe-import");
  store::migrate(*c);
  bool tty = ::isatty(STDERR_FILENO);
  auto report = cli::import_history(*c, in, a.opt("artifacts"), [&](int64_t lines) {
    if (tty) std::cerr << "\rimported " << lines << " lines" << std::flush;
  });
  if (tty) std::cerr << "\r";
  std::cout << "imported " << report.added << " of " << report.read << " events ("
            << report.read - report.added << " already stored, " << report.hashes_checked
            << " hashes checked)"
            << (a.has("artifacts") ? ", " + std::to_string(report.artifacts) + " artifacts" : "")
            << "\n";
  auto eng = make_engine();
  rebuild_projections(url, *c, *eng, {});
  return 0;
}

int cmd_events(const args& a) {
  if (a.positional.size() >= 2 && a.positional[1] == "export" && !a.has("help"))
    return cmd_events_export(a);
  if (a.positional.size() >= 2 && a.positional[1] == "import" && !a.has("help"))
    return cmd_events_import(a);
  if (a.has("help") || a.positional.size() < 2 || a.positional[1] != "tail") {
    std::cout << "Usage: beampipe events tail [--after POSITION] [--limit N] [--follow] "
                 "[--database-url URL]\n"
                 "       beampipe events export [-o FILE] [--artifacts DIR] [--database-url URL]\n"
                 "       beampipe events import FILE [--artifacts DIR] [--database-url URL]\n"
                 "tail prints events as JSON lines in the store's read order; export writes the "
                 "whole store in the /api/v2/events feed's shape, each line with its event's "
                 "chain hash (to FILE, complete or not at all) and, with --artifacts, every "
                 "stored artifact as DIR/<sha256> with DIR/index.jsonl; import loads such a file "
                 "(positions, ids and times kept; identical events already stored are skipped; a "
                 "conflicting event, or a hash the store does not recompute, refuses the whole "
                 "import) and rebuilds the read models.\n";
    return a.has("help") ? 0 : 2;
  }
  auto c = store::connect(require_database_url(a), "beampipe-tail");
  events::read_position from{};
  if (auto after = a.opt("after")) {
    int64_t position = 0;
    try {
      position = std::stoll(*after);
    } catch (...) {
      throw std::invalid_argument("--after needs an event position, got '" + *after + "'");
    }
    // 0 is "from the start", as GET /events?after=0.
    if (position > 0) {
      auto p = store::read_position_of(*c, position);
      if (!p) throw std::invalid_argument("no event at position " + *after);
      from = *p;
    }
  }
  long limit = a.opt("limit") ? std::stol(*a.opt("limit")) : -1;
  bool follow = a.has("follow");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  long printed = 0;
  while (!g_stop) {
    auto batch = store::read_all(*c, from, 500);
    for (const auto& e : batch) {
      std::cout << boost::json::serialize(events::feed_json(e)) << "\n";
      from = events::position_of(e);
      if (limit > 0 && ++printed >= limit) return 0;
    }
    std::cout.flush();
    if (batch.empty()) {
      if (!follow) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifndef BEAMPIPE_JEMALLOC
  // glibc gives each thread that contends an arena of its own, up to 8 per core; the freed
  // memory they keep (projection batches, request bodies, graphs) doubled the resident size of
  // a process holding many live aggregates. One arena per core; MALLOC_ARENA_MAX overrides.
  // (The release build allocates with jemalloc; this is for the sanitizer build.)
  if (!std::getenv("MALLOC_ARENA_MAX"))
    ::mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
#endif
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage << beampipe::app::help_text();
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  if (cmd == "--version" || cmd == "version") {
    std::cout << "beampipe " << BEAMPIPE_VERSION << "\n";
    return 0;
  }
  try {
    auto a = parse_args(argc, argv, 1);
    if (a.has("version")) {
      std::cout << "beampipe " << BEAMPIPE_VERSION << "\n";
      return 0;
    }
    // The environment is read here, once; a bad value stops every command (settings_error
    // names each bad variable).
    // Under the environment, the settings file it or --env-file names (beampipe init).
    auto env = app::process_env();
    auto env_file = a.opt("env-file");
    if (!env_file)
      if (auto v = env("BEAMPIPE_ENV_FILE"); v && !v->empty()) env_file = *v;
    app::env_file file;
    if (env_file) file = app::read_env_file(*env_file);
    a.file_settings = file.values;
    auto loaded = app::load_settings(app::with_env_file(env, file.values), setting_overrides(a));
    a.settings = std::move(loaded.values);
    beampipe::cli::setup_logging(a.settings);
    for (const auto& w : file.warnings) spdlog::warn("{}", w);
    for (const auto& w : loaded.warnings) spdlog::warn("{}", w);
    for (const auto& [name, meant] : app::misspelt_variables(environ))
      spdlog::warn("{} is not a beampipe setting and is ignored: did you mean {}?", name, meant);
    if (cmd == "console") {
      if (a.has("help")) {
        std::cout << "Usage: beampipe console [--url URL] [--interval SECONDS]\n"
                     "The terminal console of a running beampipe, through its API with the sign-in "
                     "of beampipe login:\noverview, executions, workers, jobs and the event feed, "
                     "refreshed every interval (default 2 s).\nKeys: 1-5 or tab switch views, "
                     "up/down select, d/u drain or resume the selected worker,\nc cancel the "
                     "selected execution (each asks first), r refresh, q quit.\n";
        return 0;
      }
      cli::console_options co;
      co.url = a.opt("url");
      co.default_url = "http://" + a.settings.bind_addr;
      if (auto iv = a.opt("interval")) {
        int secs = 0;
        try {
          secs = std::stoi(*iv);
        } catch (const std::exception&) {
          secs = 0;
        }
        if (secs < 1 || secs > 3600) throw std::invalid_argument("--interval is 1..3600 seconds");
        co.interval = std::chrono::seconds(secs);
      }
      return cli::run_console(co);
    }
    if (cli::is_remote_command(a.positional)) {
      cli::remote_args r{a.positional, a.options, a.flags, "http://" + a.settings.bind_addr};
      return cli::run_remote(r);
    }
    if (cmd == "settings" ||
        (cmd == "config" && a.positional.size() > 1 && a.positional[1] == "explain"))
      return cmd_settings(a);
    if (cmd == "init" || cmd == "setup") return cmd_installation(cmd, a);
    if (cmd == "start") return cmd_start(a);
    if (cmd == "stop" || cmd == "restart" || cmd == "logs") return cmd_service(cmd, a);
    if (cmd == "serve") return cmd_serve(a);
    if (cmd == "worker") return cmd_worker(a);
    if (cmd == "migrate") return cmd_migrate(a);
    if (cmd == "projections") return cmd_projections(a);
    if (cmd == "replay") return cmd_replay(a);
    if (cmd == "events") return cmd_events(a);
    if (cmd == "project") return cmd_project(a);
    if (cmd == "profile") return cmd_profile(a);
    if (cmd == "graph" && a.positional.size() > 1 && a.positional[1] == "diff")
      return cmd_graph_diff(a);
    if (cmd == "slurm") return cmd_slurm(a);
    if (cmd == "wasm") return cmd_wasm(a);
    if (cmd == "admin") return cmd_admin(a);
    if (cmd == "openapi") return beampipe::cli::openapi_main(argc, argv);
    if (cmd == "security") return cmd_security(a);
    if (cmd == "doctor") return cmd_doctor(a);
    if (cmd == "audit") return cmd_audit(a);
    std::cerr << "beampipe: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "beampipe: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "beampipe: error: " << e.what() << "\n";
    return 1;
  }
}

#include "cli/remote.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "adapters/http_client.hpp"
#include "cli/api_client.hpp"
#include "cli/run_diff_text.hpp"
#include "domain/alerting.hpp"
#include "domain/daliuge.hpp"
#include "domain/document.hpp"
#include "util/json.hpp"
#include "util/time.hpp"

namespace beampipe::cli {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const char* kRemoteUsage = R"(Usage (commands that act through a running beampipe's API):
  beampipe login --username NAME [--password-file FILE] [--url URL]
                                 sign in; the URL and tokens are kept owner-only in
                                 $XDG_CONFIG_HOME/beampipe/credentials.json (the password
                                 is read from FILE, else from standard input)
  beampipe logout                revoke the kept sign-in and forget it
  beampipe status                the operator overview (GET /overview)
  beampipe worker list|pools     workers by heartbeat; their pools
  beampipe worker show ID        one worker
  beampipe worker leases [ID]    the job leases held (of one worker)
  beampipe worker drain ID [--reason TEXT]
                                 the worker claims no new job and finishes what it holds
  beampipe worker resume ID      it claims work again
  beampipe execution retry ID [--reason TEXT]
  beampipe execution cancel ID [--reason TEXT]
  beampipe graph prepare --project MODULE --sources ID[,ID...]
                                 what a run of these sources would submit (nothing recorded)
  beampipe project add -f FILE   upload a project config (YAML or JSON) and activate it
  beampipe profile add -f FILE   create a deployment profile (YAML or JSON)
  beampipe wasm upload --config-id ID -f FILE
                                 store a WASM hook module for the active config
  beampipe timeline execution|source ID | project MODULE [--limit N]
                                 what happened to it, oldest first (the provenance events)
  beampipe purge-provenance --before TIME | --older-than-days N [--project MODULE]
                                 [--reason TEXT]
                                 drop older provenance rows from the read model (superuser;
                                 the events stay, and the purge is recorded)
  beampipe slurm ping [--profile NAME]
                                 ask a Slurm profile's login node now (exit 1 when unreachable)
  beampipe audit execution ID [--at POSITION|TIME]
                                 a run's timeline (actor, correlation id, state changes); with
                                 --at, up to then and the run as it was (time travel)
  beampipe audit diff A B        what differs from run A to run B: config at YAML paths,
                                 profile, sources and signatures, manifest, patched graph
                                 (exit 0 the same, 1 they differ)
Options: --url URL (default: the URL of the last login, else http://BEAMPIPE_BIND_ADDR),
         --json (the API's answer as JSON). Exit 1 when the API refuses, with its error.
)";

std::string read_secret_line(const remote_args& a) {
  std::string line;
  if (auto file = a.opt("password-file")) {
    std::ifstream in(*file);
    if (!in) throw std::invalid_argument("--password-file: cannot read " + *file);
    std::getline(in, line);
  } else {
    if (::isatty(STDIN_FILENO)) std::cerr << "password: " << std::flush;
    std::getline(std::cin, line);
  }
  if (line.empty()) throw std::invalid_argument("no password given");
  return line;
}

// Path segments from the command line: the API refuses what does not fit, but a '/' or '?'
// would make another request altogether.
std::string segment(const std::string& v, const char* what) {
  if (v.empty() || v.find_first_of("/?#%") != std::string::npos)
    throw std::invalid_argument(std::string(what) + " must not be empty nor hold / ? # %");
  return v;
}

std::string operand(const remote_args& a, size_t i, const char* what) {
  if (a.positional.size() <= i) throw std::invalid_argument(std::string(what) + " is required");
  return segment(a.positional[i], what);
}

json::object reason_body(const remote_args& a) {
  json::object b;
  if (auto r = a.opt("reason")) b["reason"] = *r;
  return b;
}

std::string num(const json::value& v) {
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_double()) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(1) << v.as_double();
    return o.str();
  }
  if (v.is_string()) return std::string(v.as_string());
  return v.is_null() ? "-" : json::serialize(v);
}

std::string counts(const json::value& v) {
  std::string out;
  if (!v.is_object()) return out;
  for (const auto& [k, n] : v.as_object())
    out += (out.empty() ? "" : ", ") + std::string(k) + " " + num(n);
  return out.empty() ? "none" : out;
}

void print_status(const json::object& o) {
  auto at = [&](const char* k) { return o.contains(k) ? num(o.at(k)) : std::string("-"); };
  std::cout << "sources      " << at("registered_sources") << " registered, "
            << at("pending_admissions") << " pending admission ("
            << counts(o.contains("sources_by_state") ? o.at("sources_by_state") : nullptr) << ")\n";
  std::cout << "executions   " << at("running_executions") << " running, "
            << at("failed_executions") << " failed ("
            << counts(o.contains("executions_by_status") ? o.at("executions_by_status") : nullptr)
            << ")\n";
  std::cout << "jobs         " << at("queue_depth") << " queued, " << at("jobs_running")
            << " running\n";
  std::cout << "workers      " << at("active_workers") << " taking work, " << at("draining_workers")
            << " drained, " << at("stale_workers") << " stale; scheduler leader "
            << at("scheduler_leader") << "\n";
  if (o.contains("projections") && o.at("projections").is_object()) {
    const auto& p = o.at("projections").as_object();
    std::cout << "projections  lag " << (p.contains("lag") ? num(p.at("lag")) : "-")
              << ", dead letters "
              << (p.contains("dead_letters_total") ? num(p.at("dead_letters_total")) : "-") << "\n";
  }
  std::cout << "alerts (24h) " << at("recent_alerts") << "\n";
  if (o.contains("recent_failures") && o.at("recent_failures").is_array())
    for (const auto& f : o.at("recent_failures").as_array()) {
      const auto& r = f.as_object();
      std::cout << "failed       " << num(r.at("execution_id")) << " "
                << num(r.at("project_module")) << ": " << num(r.at("last_error")) << "\n";
    }
}

void print_workers(const json::object& page) {
  std::cout << std::left << std::setw(34) << "ID" << std::setw(10) << "STATUS" << std::setw(10)
            << "HEALTH" << std::setw(12) << "POOL" << std::setw(8) << "LEASES"
            << "LAST BEAT\n";
  for (const auto& w : page.at("items").as_array()) {
    const auto& r = w.as_object();
    std::cout << std::left << std::setw(34) << num(r.at("id")) << std::setw(10)
              << num(r.at("status")) << std::setw(10) << num(r.at("health")) << std::setw(12)
              << num(r.at("pool")) << std::setw(8) << num(r.at("active_leases"))
              << num(r.at("heartbeat_age_seconds")) << " s ago\n";
  }
  std::cout << num(page.at("total")) << " worker(s)\n";
}

void print(const remote_args& a, const json::value& v) {
  if (a.flags.count("json"))
    std::cout << json::serialize(v) << "\n";
  else
    std::cout << domain::alerting::pretty_json(v) << "\n";
}

int worker_command(const remote_args& a, api_client& api) {
  const auto& what = a.positional.size() > 1 ? a.positional[1] : std::string();
  if (what == "list") {
    auto page = api.call("GET", "/workers?items_per_page=500");
    if (a.flags.count("json"))
      print(a, page);
    else
      print_workers(page.as_object());
  } else if (what == "pools") {
    print(a, api.call("GET", "/workers/pools?items_per_page=500"));
  } else if (what == "show") {
    print(a, api.call("GET", "/workers/" + operand(a, 2, "the worker id")));
  } else if (what == "leases") {
    std::string q = "/workers/leases?items_per_page=500";
    if (a.positional.size() > 2) q += "&worker_id=" + segment(a.positional[2], "the worker id");
    print(a, api.call("GET", q));
  } else if (what == "drain" || what == "resume") {
    auto id = operand(a, 2, "the worker id");
    auto row = api.call("POST", "/workers/" + id + "/" + what, payload(reason_body(a)));
    if (a.flags.count("json"))
      print(a, row);
    else
      std::cout << "worker " << id << " is " << num(row.as_object().at("status"))
                << (what == "drain" ? ": it claims no new work and finishes what it holds\n"
                                    : ": it claims work again\n");
  } else {
    std::cerr << kRemoteUsage;
    return 2;
  }
  return 0;
}

int execution_command(const remote_args& a, api_client& api) {
  const auto& what = a.positional.size() > 1 ? a.positional[1] : std::string();
  if (what != "retry" && what != "cancel") {
    std::cerr << kRemoteUsage;
    return 2;
  }
  auto id = operand(a, 2, "the execution id");
  if (what == "retry") {
    print(a, api.call("POST", "/executions/" + id + "/retry", payload(reason_body(a))));
  } else {
    auto body = reason_body(a);
    body["status"] = "cancelled";
    print(a, api.call("PATCH", "/executions/" + id, payload(body)));
  }
  return 0;
}

int graph_command(const remote_args& a, api_client& api) {
  if (a.positional.size() < 2 || a.positional[1] != "prepare") {
    std::cerr << kRemoteUsage;
    return 2;
  }
  auto project = a.opt("project");
  auto sources = a.opt("sources");
  if (!project || !sources) throw std::invalid_argument("--project and --sources are required");
  json::array ids;
  std::stringstream in(*sources);
  for (std::string id; std::getline(in, id, ',');)
    if (!id.empty()) ids.push_back(json::value(id));
  auto preview =
      api.call("POST", "/graphs/prepare",
               payload(json::object{{"project_module", *project}, {"source_identifiers", ids}}));
  if (a.flags.count("json") || a.flags.count("full")) {
    print(a, preview);
    return 0;
  }
  // The summary an operator checks; --full (or --json) shows the manifest and both graphs.
  const auto& p = preview.as_object();
  json::object summary;
  for (const char* k :
       {"project_module", "project_config_version", "project_spec_sha256", "manifest_sha256",
        "source_graph_sha256", "patched_graph_sha256", "patch_summary"})
    if (p.contains(k)) summary[k] = p.at(k);
  print(a, summary);
  return 0;
}

std::string file_bytes(const remote_args& a) {
  auto file = a.opt("f");
  if (!file) file = a.opt("file");
  if (!file) throw std::invalid_argument("-f FILE is required");
  std::ifstream in(*file, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read " + *file);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// project add / profile add / wasm upload: what a file holds, sent to the API as it is (the
// API validates it and names the path of each problem).
int upload_command(const remote_args& a, api_client& api) {
  const auto& c = a.positional[0];
  json::value answer;
  if (c == "project") {
    answer = api.call("POST", "/project-configs", payload("application/yaml", file_bytes(a)));
  } else if (c == "profile") {
    auto parsed = domain::parse_yaml_or_json(file_bytes(a));
    if (!parsed.value) {
      for (const auto& d : parsed.diagnostics)
        std::cerr << "beampipe: " << d.path << ": " << d.message << " [" << d.code << "]\n";
      return 1;
    }
    answer = api.call("POST", "/deployment-profiles", payload(*parsed.value));
  } else {
    auto id = a.opt("config-id");
    if (!id) throw std::invalid_argument("--config-id is required");
    answer = api.call("POST", "/project-configs/" + segment(*id, "--config-id") + "/wasm",
                      payload("application/wasm", file_bytes(a)));
  }
  print(a, answer);
  return 0;
}

std::string field(const json::value& row, const char* k) {
  return row.is_object() && row.as_object().contains(k) ? num(row.as_object().at(k)) : "-";
}

// A run's timeline from its own events (GET /executions/{id}/history): each event with who
// recorded it, its correlation id, and the state fields it changed.
int execution_timeline(const remote_args& a, api_client& api, const std::string& id) {
  auto history = api.call("GET", "/executions/" + id + "/history");
  // audit execution --at POSITION|TIME: the timeline up to then, and the run as it was.
  std::optional<json::value> then;
  if (auto at = a.opt("at")) {
    bool by_position = !at->empty() && std::all_of(at->begin(), at->end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch));
    });
    auto when = util::parse_rfc3339(*at);
    if (!by_position && !when)
      throw std::invalid_argument("--at is a position or an RFC 3339 time");
    auto& all = history.as_object().at("steps").as_array();
    json::array kept;
    for (auto& step : all) {
      const auto& o = step.as_object();
      bool after =
          by_position
              ? o.at("position").as_int64() > std::stoll(*at)
              : util::parse_rfc3339(std::string(o.at("recorded_at").as_string())).value_or(*when) >
                    *when;
      if (after) break;
      kept.push_back(step);
    }
    all = std::move(kept);
    then = api.call("GET", "/executions/" + id + (by_position ? "?as_of_position=" : "?as_of=") +
                               domain::percent_encode_path_segment(*at));
  }
  if (a.flags.count("json")) {
    if (then) history.as_object()["as_of"] = *then;
    print(a, history);
    return 0;
  }
  const auto& steps = history.at("steps").as_array();
  std::string status = steps.empty() ? "-" : field(steps.back().as_object().at("state"), "status");
  std::cout << "execution " << id << " (" << status << ")\n";
  json::object before;
  for (const auto& step : steps) {
    const auto& st = step.as_object().at("state").as_object();
    std::string changes;
    for (const auto& [k, v] : st) {
      if (k == "updated_at") continue;
      auto was = before.contains(k) ? before.at(k) : json::value(nullptr);
      if (was != v) changes += "  " + std::string(k) + " " + num(was) + " -> " + num(v);
    }
    std::cout << "  " << field(step, "recorded_at") << "  " << std::left << std::setw(30)
              << field(step, "type") << " " << field(step, "actor") << "  "
              << field(step, "correlation_id") << "\n";
    if (!changes.empty()) std::cout << "     " << changes << "\n";
    before = st;
  }
  if (then)
    std::cout << "as of " << *a.opt("at") << ": " << field(*then, "status") << " (control "
              << field(*then, "control_phase") << ", submission "
              << field(*then, "submission_state") << ", scheduler "
              << field(*then, "scheduler_state") << ", output " << field(*then, "output_state")
              << ")\n";
  return 0;
}

// audit diff A B: what differs from run A to run B (GET /executions/A/diff/B); exit 0 when
// nothing does, 1 when something does.
int audit_diff(const remote_args& a, api_client& api) {
  if (a.positional.size() != 4) {
    std::cerr << kRemoteUsage;
    return 2;
  }
  auto d = api.call("GET", "/executions/" + segment(a.positional[2], "run A") + "/diff/" +
                               segment(a.positional[3], "run B"));
  bool same = d.at("same").as_bool();
  if (a.flags.count("json")) {
    print(a, d);
    return same ? 0 : 1;
  }
  for (const auto& line : run_diff_lines(d)) std::cout << line << "\n";
  return same ? 0 : 1;
}

// A source's or a project's history as the provenance read model holds it, oldest first: what
// happened, when, by whom, under which correlation id.
int timeline_command(const remote_args& a, api_client& api) {
  if (a.positional.size() < 3) {
    std::cerr << kRemoteUsage;
    return 2;
  }
  const auto& kind = a.positional[1];
  auto id = segment(a.positional[2], "the id");
  std::string limit = a.opt("limit").value_or("100");
  for (char ch : limit)
    if (!std::isdigit(static_cast<unsigned char>(ch)))
      throw std::invalid_argument("--limit must be a number");
  json::value subject, events;
  if (kind == "execution") return execution_timeline(a, api, id);
  if (kind == "source") {
    subject = api.call("GET", "/sources/" + id);
    events = api.call("GET", "/sources/" + id + "/events?limit=" + limit);
  } else if (kind == "project") {
    events = api.call("GET", "/projects/" + id + "/events?limit=" + limit);
  } else {
    std::cerr << kRemoteUsage;
    return 2;
  }
  // The feed answers newest first; a timeline reads oldest first.
  json::array ordered(events.as_array().rbegin(), events.as_array().rend());
  if (a.flags.count("json")) {
    print(a, json::object{{"subject", subject}, {"events", ordered}});
    return 0;
  }
  if (kind == "source")
    std::cout << "source " << field(subject, "source_identifier") << " (" << id << ") module "
              << field(subject, "project_module") << "\n";
  else
    std::cout << "project " << id << "\n";
  for (const auto& e : ordered)
    std::cout << "  " << field(e, "occurred_at") << "  " << std::left << std::setw(32)
              << field(e, "event_type") << " " << field(e, "actor") << "  "
              << field(e, "correlation_id") << "\n";
  return 0;
}

// Read-model retention: provenance rows older than a time leave the read model (the events
// stay; the purge is recorded). --older-than-days N counts back from now.
int purge_command(const remote_args& a, api_client& api) {
  json::object body;
  if (auto b = a.opt("before")) {
    body["before"] = *b;
  } else if (auto d = a.opt("older-than-days")) {
    long days = -1;
    try {
      days = std::stol(*d);
    } catch (const std::exception&) {
    }
    if (days < 0 || days > 36500) throw std::invalid_argument("--older-than-days is 0..36500");
    body["before"] = util::to_rfc3339(util::clock::now() - std::chrono::hours(24 * days));
  } else {
    throw std::invalid_argument("--before TIME or --older-than-days N is required");
  }
  if (auto p = a.opt("project")) body["project_module"] = *p;
  if (auto r = a.opt("reason")) body["reason"] = *r;
  auto answer = api.call("POST", "/provenance/purge", payload(body));
  if (a.flags.count("json"))
    print(a, answer);
  else
    std::cout << "provenance before " << field(answer, "before") << " purged ("
              << (a.opt("project") ? *a.opt("project") : std::string("every project")) << "); "
              << field(answer, "remaining_rows") << " rows remain, the oldest from "
              << field(answer, "oldest_remaining") << ". The events are kept.\n";
  return 0;
}

// The login node of a Slurm profile asked now (through the API's pooled SSH session).
int slurm_command(const remote_args& a, api_client& api) {
  if (a.positional.size() < 2 || a.positional[1] != "ping") {
    std::cerr << kRemoteUsage;
    return 2;
  }
  std::string q = "/scheduler/status";
  if (auto p = a.opt("profile")) q += "?profile=" + segment(*p, "--profile");
  auto status = api.call("GET", q);
  const auto& o = status.as_object();
  if (a.flags.count("json")) {
    print(a, status);
  } else {
    std::cout << "profile " << field(status, "profile") << ": ";
    const auto& conn = o.contains("connectivity") ? o.at("connectivity") : json::value(nullptr);
    if (conn.is_null())
      std::cout << "simulated backend (no login node asked)\n";
    else
      std::cout << domain::alerting::pretty_json(conn) << "\n";
  }
  const auto* conn = o.if_contains("connectivity");
  bool reachable = !conn || conn->is_null() ||
                   (conn->is_object() && conn->as_object().contains("reachable") &&
                    conn->as_object().at("reachable") == true);
  return reachable ? 0 : 1;
}

}  // namespace

bool is_remote_command(const std::vector<std::string>& p) {
  if (p.empty()) return false;
  static const std::set<std::string> kWorker = {"list",   "pools", "show",
                                                "leases", "drain", "resume"};
  const auto& c = p[0];
  if (c == "worker") return p.size() > 1 && kWorker.count(p[1]);
  if (c == "project" || c == "profile") return p.size() > 1 && p[1] == "add";
  if (c == "wasm") return p.size() > 1 && p[1] == "upload";
  if (c == "slurm") return p.size() > 1 && p[1] == "ping";
  if (c == "graph") return p.size() > 1 && p[1] == "prepare";
  if (c == "audit") return p.size() > 1 && (p[1] == "execution" || p[1] == "diff");
  return c == "login" || c == "logout" || c == "status" || c == "execution" || c == "timeline" ||
         c == "purge-provenance";
}

int run_remote(const remote_args& a) {
  if (a.flags.count("help")) {
    std::cout << kRemoteUsage;
    return 0;
  }
  const auto& c = a.positional.at(0);
  try {
    if (c == "logout") {
      auto saved = load_login();
      if (!saved) {
        std::cout << "not signed in\n";
        return 0;
      }
      api_client(a.opt("url"), a.default_url).logout();
      fs::remove(credentials_path());
      std::cout << "signed out of " << saved->url << "\n";
      return 0;
    }
    api_client api(a.opt("url"), a.default_url);
    if (c == "login") {
      auto user = a.opt("username");
      if (!user) throw std::invalid_argument("--username is required");
      auto s = api.login(*user, read_secret_line(a));
      std::cout << "signed in to " << s.url << " as " << s.username << "; the sign-in is kept in "
                << credentials_path().string() << " (owner-only)\n";
      return 0;
    }
    if (c == "status") {
      auto o = api.call("GET", "/overview");
      if (a.flags.count("json"))
        print(a, o);
      else
        print_status(o.as_object());
      return 0;
    }
    if (c == "worker") return worker_command(a, api);
    if (c == "execution") return execution_command(a, api);
    if (c == "graph") return graph_command(a, api);
    if (c == "project" || c == "profile" || c == "wasm") return upload_command(a, api);
    if (c == "timeline") return timeline_command(a, api);
    if (c == "purge-provenance") return purge_command(a, api);
    if (c == "audit") {
      if (a.positional.size() > 1 && a.positional[1] == "diff") return audit_diff(a, api);
      if (a.positional.size() == 3)
        return execution_timeline(a, api, segment(a.positional[2], "the execution id"));
    }
    if (c == "slurm") return slurm_command(a, api);
  } catch (const api_refusal& e) {
    std::cerr << "beampipe: " << e.what() << "\n";
    return 1;
  } catch (const adapters::http_error& e) {
    std::cerr << "beampipe: cannot reach the API: " << e.what() << "\n";
    return 1;
  }
  std::cerr << kRemoteUsage;
  return 2;
}

}  // namespace beampipe::cli

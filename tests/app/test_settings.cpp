// The settings table (src/app/settings.hpp): one parse of the environment, strict values, and
// the documentation rendered from the same table as the parser.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "app/settings.hpp"

using namespace beampipe;

namespace {

app::env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> problems_of(const std::map<std::string, std::string>& vars) {
  try {
    app::load_settings(env_of(vars));
  } catch (const app::settings_error& e) {
    return e.problems;
  }
  return {};
}

}  // namespace

TEST_CASE("an empty environment gives the documented defaults") {
  auto s = app::load_settings(env_of({{"HOME", "/home/op"}})).values;
  CHECK(s.bind_addr == "127.0.0.1:8080");
  CHECK(s.api_threads == 8);
  CHECK(s.max_body_bytes == 1048576);
  CHECK(s.idle_actor == std::chrono::seconds(300));
  CHECK(s.refresh_token_ttl == std::chrono::hours(7 * 24));
  CHECK(s.scheduler_lease == std::chrono::milliseconds(30000));
  CHECK(s.slurm_poll_budget == std::chrono::seconds(14400));
  CHECK(s.environment == "development");
  CHECK_FALSE(s.production());
  CHECK(s.slurm_ssh_strict_known_hosts);
  CHECK_FALSE(s.use_real_backends);
  CHECK_FALSE(s.tap_maxrec);
  CHECK(s.data_dir == "/home/op/.local/share/beampipe");
  CHECK(s.home == s.data_dir);
  CHECK_FALSE(s.node_id.empty());
  // The §4.1 knobs' defaults are the domain's.
  domain::shaping_knobs k;
  CHECK(s.shaping.discovery_max_in_flight_batches == k.discovery_max_in_flight_batches);
  CHECK(s.shaping.execution_max_in_flight_runs == k.execution_max_in_flight_runs);
  CHECK(s.shaping.queue_max_depth == k.queue_max_depth);
}

TEST_CASE("values are parsed by their kind; blank is unset; options beat the environment") {
  auto l = app::load_settings(env_of({{"BEAMPIPE_API_THREADS", " 3 "},
                                      {"BEAMPIPE_LOG_JSON", "TRUE"},
                                      {"BEAMPIPE_SLURM_SSH_STRICT_KNOWN_HOSTS", "0"},
                                      {"BEAMPIPE_ENV", "Production"},
                                      {"BEAMPIPE_TRUSTED_PROXY_CIDRS", "127.0.0.0/8, 10.0.0.1"},
                                      {"CASDA_CREDENTIAL_HOSTS", "Data.CSIRO.au"},
                                      {"BEAMPIPE_TAP_MAXREC", "2"},
                                      {"BEAMPIPE_BIND_ADDR", ""},
                                      {"BEAMPIPE_DATA_DIR", "/from/env"},
                                      {"XDG_DATA_HOME", "/xdg"}}),
                              {{"BEAMPIPE_DATA_DIR", "/from/option"}});
  const auto& s = l.values;
  CHECK(s.api_threads == 3);
  CHECK(s.log_json);
  CHECK_FALSE(s.slurm_ssh_strict_known_hosts);
  CHECK(s.production());
  CHECK(s.trusted_proxy_cidrs == std::vector<std::string>{"127.0.0.0/8", "10.0.0.1"});
  CHECK(s.casda_credential_hosts == std::vector<std::string>{"data.csiro.au"});
  CHECK(s.tap_maxrec == 2);
  CHECK(s.bind_addr == "127.0.0.1:8080");
  CHECK(s.data_dir == "/from/option");
  CHECK(s.home == "/from/option");
  CHECK(l.warnings.empty());
}

TEST_CASE("a bad value stops the load, and every bad value is named at once") {
  auto p = problems_of({{"BEAMPIPE_API_THREADS", "12abc"},
                        {"BEAMPIPE_WORKER_MAX_ATTEMPTS", "0"},
                        {"BEAMPIPE_USE_REAL_BACKENDS", "maybe"},
                        {"BEAMPIPE_ENV", "prod"},
                        {"BEAMPIPE_SCHEDULER_LEASE_MS", "-5"},
                        {"BEAMPIPE_ALERT_SCAN_MS", "99999999999999999999999"}});
  REQUIRE(p.size() == 6);
  auto has = [&](const std::string& needle) {
    return std::any_of(p.begin(), p.end(),
                       [&](const std::string& m) { return m.find(needle) != std::string::npos; });
  };
  CHECK(has("BEAMPIPE_API_THREADS must be an integer from 1 to 256, got '12abc'"));
  CHECK(has("BEAMPIPE_WORKER_MAX_ATTEMPTS must be an integer from 1"));
  CHECK(has("BEAMPIPE_USE_REAL_BACKENDS must be true or false, got 'maybe'"));
  CHECK(has("BEAMPIPE_ENV must be one of development,production, got 'prod'"));
  CHECK(has("BEAMPIPE_SCHEDULER_LEASE_MS must be an integer from 300"));
  CHECK(has("BEAMPIPE_ALERT_SCAN_MS"));
  CHECK(problems_of({{"BEAMPIPE_API_THREADS", "8"}}).empty());
}

TEST_CASE("control characters and invalid UTF-8 are refused, secrets never echoed") {
  auto p = problems_of({{"BEAMPIPE_JWT_SECRET", "s3cret\x01value"},
                        {"BEAMPIPE_BIND_ADDR", std::string("127.0.0.1\xff:8080")}});
  REQUIRE(p.size() == 2);
  for (const auto& m : p) {
    CHECK(m.find("s3cret") == std::string::npos);
    CHECK(m.find("control characters or invalid UTF-8") != std::string::npos);
  }
}

TEST_CASE("a bad shaping knob is reported and keeps its default (spec 4.1)") {
  auto l = app::load_settings(env_of({{"BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH", "-1"},
                                      {"BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS", "7"}}));
  CHECK(l.values.shaping.queue_max_depth == 200);
  CHECK(l.values.shaping.execution_max_in_flight_runs == 7);
  REQUIRE(l.warnings.size() == 1);
  CHECK(l.warnings[0].find("BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH") == 0);
  CHECK(l.warnings[0].find("using the default 200") != std::string::npos);
}

TEST_CASE("shaping knobs (spec 4.1): defaults, environment overrides, bad values reported") {
  struct row {
    const char* name;
    std::map<std::string, std::string> env;
    domain::shaping_knobs expected;
    std::vector<std::string> bad_vars;
  };
  const std::vector<row> rows = {
      {"unset", {}, {4, 4, 2, 200, 0}, {}},
      {"all set",
       {{"BEAMPIPE_SHAPING_DISCOVERY_MAX_IN_FLIGHT_BATCHES", "8"},
        {"BEAMPIPE_SHAPING_DISCOVERY_MAX_BATCHES_PER_TICK", "6"},
        {"BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS", "12"},
        {"BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH", " 1000 "},
        {"BEAMPIPE_SHAPING_ENQUEUE_PACING_MS", "25"}},
       {8, 6, 12, 1000, 25},
       {}},
      {"blank is unset", {{"BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH", "  "}}, {4, 4, 2, 200, 0}, {}},
      {"zero pauses admission",
       {{"BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS", "0"}},
       {4, 4, 0, 200, 0},
       {}},
      {"invalid values keep defaults",
       {{"BEAMPIPE_SHAPING_DISCOVERY_MAX_IN_FLIGHT_BATCHES", "four"},
        {"BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH", "-1"},
        {"BEAMPIPE_SHAPING_ENQUEUE_PACING_MS", "10ms"},
        {"BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS", "99999999999999999999"},
        {"BEAMPIPE_SHAPING_DISCOVERY_MAX_BATCHES_PER_TICK", "3"}},
       {4, 3, 2, 200, 0},
       {"BEAMPIPE_SHAPING_DISCOVERY_MAX_IN_FLIGHT_BATCHES",
        "BEAMPIPE_SHAPING_EXECUTION_MAX_IN_FLIGHT_RUNS", "BEAMPIPE_SHAPING_QUEUE_MAX_DEPTH",
        "BEAMPIPE_SHAPING_ENQUEUE_PACING_MS"}},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    auto result = app::load_settings(env_of(r.env));
    const auto& knobs = result.values.shaping;
    CHECK(knobs.discovery_max_in_flight_batches == r.expected.discovery_max_in_flight_batches);
    CHECK(knobs.discovery_max_batches_per_tick == r.expected.discovery_max_batches_per_tick);
    CHECK(knobs.execution_max_in_flight_runs == r.expected.execution_max_in_flight_runs);
    CHECK(knobs.queue_max_depth == r.expected.queue_max_depth);
    CHECK(knobs.enqueue_pacing_ms == r.expected.enqueue_pacing_ms);
    std::vector<std::string> named;
    for (const auto& w : result.warnings) {
      named.push_back(w.substr(0, w.find(' ')));
      CHECK(w.find("using the default") != std::string::npos);
    }
    CHECK(named == r.bad_vars);
  }
}

TEST_CASE("effective values show where they came from and never a secret") {
  std::map<std::string, std::string> vars = {
      {"BEAMPIPE_JWT_SECRET", "0123456789abcdef0123456789abcdef"},
      {"DATABASE_URL", "postgresql://u:pw@db/beampipe"},
      {"BEAMPIPE_CASDA_TAP_URL", "https://user:SECRETPASS42@casda.example/tap?token=SECRETTOKEN42"},
      {"BEAMPIPE_API_THREADS", "4"}};
  auto s = app::load_settings(env_of(vars), {{"BEAMPIPE_BIND_ADDR", "127.0.0.1:0"}}).values;
  auto rows = app::effective(s, env_of(vars), {{"BEAMPIPE_BIND_ADDR", "127.0.0.1:0"}});
  std::map<std::string, app::effective_setting> by;
  for (auto& r : rows) {
    CHECK(r.value.find("SECRET") == std::string::npos);
    CHECK(r.value.find("0123456789abcdef") == std::string::npos);
    CHECK(r.value.find("pw@") == std::string::npos);
    by[r.name] = r;
  }
  CHECK(by["BEAMPIPE_JWT_SECRET"].value == "(set)");
  CHECK(by["BEAMPIPE_CASDA_TAP_URL"].value == "https://casda.example/tap?…");
  CHECK(by["BEAMPIPE_API_THREADS"].origin == "environment");
  CHECK(by["BEAMPIPE_BIND_ADDR"].origin == "option");
  CHECK(by["BEAMPIPE_MAX_BODY_BYTES"].origin == "default");
  CHECK(by["BEAMPIPE_MAX_BODY_BYTES"].value == "1048576");
  CHECK(by["BEAMPIPE_REFRESH_TOKEN_EXPIRE_DAYS"].value == "7");
}

TEST_CASE("every documented default parses, and names are unique") {
  std::set<std::string_view> names;
  for (const auto& s : app::setting_table()) {
    CHECK_MESSAGE(names.insert(s.name).second, s.name);
    CHECK_FALSE(s.doc.empty());
    app::settings v;
    if (!s.fallback.empty()) CHECK_NOTHROW(s.parse(v, s.fallback));
  }
  CHECK(names.size() > 80);
}

TEST_CASE("a variable a letter or two away from a setting is named with the setting") {
  std::string a = "BEAMPIPE_API_THREDS=4", b = "BEAMPIPE_API_THREADS=4", c = "HOME=/root",
              d = "BEAMPIPE_TEST_PG_DIR=/x", e = "CASDA_PASWORD=x", f = "BEAMPIPE_BIN=/b";
  char* env[] = {a.data(), b.data(), c.data(), d.data(), e.data(), f.data(), nullptr};
  using pair = std::pair<std::string, std::string>;
  CHECK(app::misspelt_variables(env) ==
        std::vector<pair>{{"BEAMPIPE_API_THREDS", "BEAMPIPE_API_THREADS"},
                          {"CASDA_PASWORD", "CASDA_PASSWORD"}});
}

TEST_CASE("--help lists every setting") {
  auto help = app::help_text();
  for (const auto& s : app::setting_table())
    CHECK_MESSAGE(help.find("  " + std::string(s.name) + " ") != std::string::npos, s.name);
}

TEST_CASE("the README's Environment table is the settings table") {
  std::ifstream in(BEAMPIPE_README);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto readme = ss.str();
  auto section = readme.find("\n## Environment\n");
  REQUIRE(section != std::string::npos);
  auto begin = readme.find("| variable |", section);
  REQUIRE(begin != std::string::npos);
  auto end = readme.find("\n\n", begin);
  auto table = readme.substr(begin, end == std::string::npos ? std::string::npos : end - begin + 1);
  // On a difference: `beampipe settings --markdown` prints the table to paste.
  CHECK(table == app::markdown_table());
}

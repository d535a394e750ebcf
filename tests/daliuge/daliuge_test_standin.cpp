// TM + DIM clients and the REST submit against tests/standins/daliuge_standin.py: the real
// WALLABY graph with an injected manifest, polling to a terminal state, idempotent create,
// 555 classification, graph status before RUNNING, cancel, and injected faults.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>

#include "adapters/daliuge_client.hpp"
#include "domain/graph_prep.hpp"
#include "domain/project_config.hpp"
#include "standin.hpp"

using namespace beampipe::adapters;
using namespace beampipe::domain;
using dlg_test::standin;
using K = daliuge_error::kind;
using Step = rest_submission_error::step;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kExecution = "6f1c2a9e-3b4d-4e5f-9a8b-7c6d5e4f3a2b";
constexpr const char* kGraph = "wallaby-hires_deploy-setonix-beampipe.graph";

daliuge_options fast_options() {
  daliuge_options o;
  o.http.max_attempts = 1;  // the tests count requests
  o.http.connect_timeout = 5'000ms;
  return o;
}

json::value load_graph(const std::string& name) {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/graphs/" + name);
  REQUIRE(text);
  return json::parse(*text);
}

json::value wallaby_manifest(int beams) {
  return json::parse(
      R"({"inputs":{},"sources":[{"source_identifier":"HIPASSJ1313-15","ra_string":"13h13m34.1s",
    "dec_string":"-15.27.32","vsys":"2505.3","sbids":[{"sbid":"72962","datasets":[{"filename":"cube-244.fits"}]}]}],
    "graph_overrides":{"patches":[{"match":{"equals":"Scatter/GenericScatterApp/Beam"},
    "fields":[{"name":"num_of_copies","value":)" +
      std::to_string(beams) + "}]}]}}");
}

// The WALLABY graph as execute prepares it: manifest injected, graph overrides applied.
// Returns the graph and the exact manifest_path value the TM must apply.
std::pair<json::value, std::string> prepared_wallaby(int beams) {
  auto graph = load_graph(kGraph);
  auto manifest = wallaby_manifest(beams);
  const std::string cfg = "8a1f0c3e-2d4b-4c6a-9e8f-0a1b2c3d4e5f";
  auto injected = inject_manifest_config_into_graph(graph, manifest, cfg, 1'780'000'000);
  REQUIRE(injected.ok());
  REQUIRE(injected.value());
  auto patched = apply_manifest_graph_overrides(graph, manifest);
  REQUIRE_MESSAGE(patched.ok(), (patched.ok() ? "" : patched.error()));
  const auto& nodes = graph.at("graphConfigurations").at(cfg).at("nodes").as_object();
  REQUIRE(nodes.size() == 1);
  const auto& fields = nodes.begin()->value().at("fields").as_object();
  REQUIRE(fields.size() == 1);
  std::string value(fields.begin()->value().at("value").as_string());
  return {std::move(graph), value};
}

std::string session_id(std::int64_t ms = 1'781'001'648'000) {
  auto sid = dim_session_id(kExecution, ms);
  REQUIRE(sid.ok());
  return sid.value();
}

rest_submit_request request_for(const standin& s, json::value lg, const std::string& sid) {
  rest_submit_request r;
  r.session_id = sid;
  r.logical_graph = json::serialize(lg);
  r.num_partitions = 1;
  r.num_islands = 1;
  r.algorithm = "metis";
  r.dim_host_for_tm = "127.0.0.1";
  r.dim_port_for_tm = s.dim_port;
  return r;
}

// Polls until the execution-level status leaves running, with a deadline (no fixed sleeps).
dim_poll_summary poll_until_terminal(const dim_client& dim, const std::string& sid,
                                     int max_rounds = 50) {
  dim_poll_summary last;
  for (int round = 0; round < max_rounds; ++round) {
    last = dim.poll(sid);
    if (last.status != execution_status::running) return last;
    std::this_thread::sleep_for(20ms);  // pacing only; the stand-in counts polls, not time
  }
  FAIL("session " << sid << " did not reach a terminal state");
  return last;
}

// A small LG: ingest app → data → worker app; `outcome` goes into the worker's fields.
json::value tiny_graph(const std::string& outcome) {
  return json::parse(R"({"activeGraphConfigId":null,"graphConfigurations":{},
    "nodeDataArray":[
      {"id":"n-ingest","name":"beampipe-ingest","category":"PyFuncApp","categoryType":"Application",
       "fields":[{"id":"f1","name":"dropclass","value":"dlg.apps.pyfunc.PyFuncApp"},
                 {"id":"f2","name":"manifest_path","value":"/tmp/manifest.json"},
                 {"id":"p-out","name":"manifest_bytes","value":""}]},
      {"id":"n-data","name":"manifest_bytes","category":"Memory","categoryType":"Data",
       "fields":[{"id":"f3","name":"dropclass","value":"dlg.data.drops.memory.InMemory"}]},
      {"id":"n-work","name":"worker","category":"PyFuncApp","categoryType":"Application",
       "fields":[{"id":"f4","name":"dropclass","value":"dlg.apps.pyfunc.PyFuncApp"},
                 {"id":"f5","name":"beampipe_test_outcome","value":")" +
                     outcome + R"("}]}],
    "linkDataArray":[{"from":"n-ingest","fromPort":"p-out","to":"n-data","toPort":"x"},
                     {"from":"n-data","fromPort":"y","to":"n-work","toPort":"z"}]})");
}

int refused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);  // bound but never listening: nothing accepts there
  return ntohs(a.sin_port);
}

std::size_t sessions_named(const dim_client& dim, const std::string& sid) {
  std::size_t n = 0;
  for (const auto& s : dim.list_sessions())
    if (s.at("sessionId").as_string() == sid) ++n;
  return n;
}

}  // namespace

TEST_CASE("daliuge stand-in: WALLABY graph translated, mapped, deployed and polled to FINISHED") {
  standin s;
  translator_client tm(s.tm_url, fast_options());
  dim_client dim(s.dim_url, fast_options());
  CHECK(tm.probe().reachable);
  CHECK(dim.probe().reachable);
  CHECK(tm.submission_methods("127.0.0.1", s.dim_port) ==
        std::vector<std::string>{"BROWSER", "SERVER"});
  CHECK(dim.nodes() == s.nodes);

  auto [lg, manifest_path] = prepared_wallaby(2);
  CHECK(manifest_path.find("HIPASSJ1313-15") != std::string::npos);
  CHECK(manifest_path.find("graph_overrides") == std::string::npos);
  auto sid = session_id();
  auto result = submit_rest(tm, dim, request_for(s, lg, sid));

  CHECK(result.session_id == sid);
  CHECK_FALSE(result.session_already_existed);
  CHECK(result.manager_url == s.dim_url);
  CHECK(result.session_status_url == s.dim_url + "/api/sessions/" + sid + "/status");
  CHECK(result.graph_status_url == s.dim_url + "/api/sessions/" + sid + "/graph/status");

  // The PGT: every drop mapped onto a DIM node, keys filled, reprodata last.
  const auto& pg = result.physical_graph;
  REQUIRE(pg.size() > 10);
  CHECK(pg.back().as_object().contains("rmode"));
  std::size_t drops = 0, scattered = 0;
  const json::object* ingest = nullptr;
  for (std::size_t i = 0; i + 1 < pg.size(); ++i) {
    const auto& d = pg[i].as_object();
    ++drops;
    CHECK(d.at("node").as_string() == s.nodes[0]);
    CHECK(d.at("island").as_string() == "127.0.0.1:" + std::to_string(s.dim_port));
    CHECK(d.at("humanReadableKey").as_string() ==
          std::to_string(i + 1) + "_" + std::string(d.at("iid").as_string()));
    CHECK(d.contains("type"));
    if (d.at("name") == "beampipe-ingest") ingest = &d;
    if (d.at("iid") != "0") ++scattered;
  }
  // The graph override reached the TM: the Beam scatter's children come in pairs.
  CHECK(scattered > 0);
  CHECK(scattered % 2 == 0);
  REQUIRE(ingest != nullptr);
  CHECK(ingest->at("manifest_path").as_string() == manifest_path);  // the manifest arrived
  CHECK(ingest->at("app") == "dlg.apps.pyfunc.PyFuncApp");

  // Roots: the ingest app is one, and the DIM received exactly these oids (they contain ':').
  REQUIRE_FALSE(result.roots.empty());
  CHECK(std::is_sorted(result.roots.begin(), result.roots.end()));
  CHECK(std::find(result.roots.begin(), result.roots.end(),
                  std::string(ingest->at("oid").as_string())) != result.roots.end());
  auto state = s.control("GET", "state").at("sessions").at(sid).as_object();
  CHECK(state.at("drops").to_number<std::size_t>() == drops);
  json::array sent_roots;
  for (const auto& r : result.roots) sent_roots.emplace_back(r);
  CHECK(state.at("roots").as_array() == sent_roots);

  // What went over the wire.
  auto creates = s.requests("dim", "/api/sessions");
  REQUIRE(creates.size() == 1);
  CHECK(creates[0].at("method") == "POST");
  CHECK(creates[0].at("headers").at("content-type") == "application/json");
  CHECK(json::parse(creates[0].at("body").as_string()) == json::value{{"sessionId", sid}});
  CHECK(s.requests("dim", "/api/nodes").size() == 2);  // ours, then the TM's during /map
  auto appends = s.requests("dim", "/graph/append");
  REQUIRE(appends.size() == 1);
  CHECK(appends[0].at("headers").at("content-type") == "application/json");
  auto deploys = s.requests("dim", "/deploy");
  REQUIRE(deploys.size() == 1);
  CHECK(deploys[0].at("headers").at("content-type") == "application/x-www-form-urlencoded");
  CHECK(deploys[0].at("body").as_string().starts_with("completed="));
  CHECK(deploys[0].at("body").as_string().find("%3A") != json::string::npos);  // oids form-encoded
  auto unrolls = s.requests("tm", "/unroll_and_partition");
  REQUIRE(unrolls.size() == 1);
  CHECK(unrolls[0].at("body").as_string().find("num_partitions=1&num_islands=1&algorithm=metis") !=
        json::string::npos);
  auto maps = s.requests("tm", "/map");
  REQUIRE(maps.size() == 1);
  CHECK(maps[0].at("body").as_string().find("co_host_dim=true") != json::string::npos);

  // Poll: RUNNING first (graph status available), then FINISHED after the stand-in's budget.
  auto first = dim.poll(sid);
  CHECK(first.session_state == dim_session_state::running);
  CHECK(first.status == execution_status::running);
  CHECK(first.graph_status_json.is_object());
  auto done = poll_until_terminal(dim, sid);
  CHECK(done.session_state == dim_session_state::finished);
  CHECK(done.status == execution_status::completed);
  CHECK(done.error_drop_uids.empty());
  CHECK(done.graph_status_json.as_object().size() == drops);
  CHECK(done.status_json.as_object().size() == s.nodes.size());
  CHECK_FALSE(done.session_missing);

  dim.destroy(sid);
  CHECK_FALSE(dim.session_exists(sid));
}

TEST_CASE("daliuge stand-in: every reference graph carries its injected manifest through the TM") {
  standin s;
  translator_client tm(s.tm_url, fast_options());
  dim_client dim(s.dim_url, fast_options());
  std::int64_t ms = 10'000;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(BEAMPIPE_REFERENCE_DIR) + "/graphs")) {
    if (entry.path().extension() != ".graph") continue;
    CAPTURE(entry.path().filename().string());
    auto graph = load_graph(entry.path().filename().string());
    const std::string cfg = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
    auto injected =
        inject_manifest_config_into_graph(graph, wallaby_manifest(1), cfg, 1'780'000'000);
    REQUIRE(injected.ok());
    REQUIRE(injected.value());
    const auto& fields = graph.at("graphConfigurations")
                             .at(cfg)
                             .at("nodes")
                             .as_object()
                             .begin()
                             ->value()
                             .at("fields")
                             .as_object();
    std::string expected(fields.begin()->value().at("value").as_string());
    auto sid = session_id(ms += 1000);
    auto result = submit_rest(tm, dim, request_for(s, graph, sid));
    std::size_t echoed = 0;
    for (const auto& d : result.physical_graph) {
      if (d.as_object().contains("name") && d.at("name") == "beampipe-ingest") {
        CHECK(d.at("manifest_path").as_string() == expected);
        ++echoed;
      }
    }
    CHECK(echoed == 1);
    CHECK(dim.status(sid).state == dim_session_state::running);
  }
  CHECK(dim.list_sessions().size() == 2);
}

TEST_CASE("daliuge stand-in: TM input errors") {
  standin s;
  translator_client tm(s.tm_url, fast_options());
  SUBCASE("an active graph configuration naming a field the node lacks fails like DALiuGE (500)") {
    auto lg = tiny_graph("ok");
    lg.as_object()["activeGraphConfigId"] = "c1";
    lg.as_object()["graphConfigurations"] = json::parse(
        R"({"c1":{"id":"c1","nodes":{"n-ingest":{"fields":{"no-such-field":{"value":"x"}}}}}})");
    try {
      (void)tm.unroll_and_partition(json::serialize(lg), 1, 1, "metis");
      FAIL("unroll succeeded");
    } catch (const daliuge_error& e) {
      CHECK(e.status() == 500);
      CHECK(e.code() == K::dependency);
    }
  }
  SUBCASE("an active configuration is applied by node and field id") {
    auto lg = tiny_graph("ok");
    lg.as_object()["activeGraphConfigId"] = "c1";
    lg.as_object()["graphConfigurations"] =
        json::parse(R"({"c1":{"id":"c1","nodes":{"n-ingest":{"fields":{"f2":{"value":"{\"a\":1}"}}},
                                                   "n-gone":{"fields":{"f9":{"value":"ignored"}}}}}})");
    auto pgt = tm.unroll_and_partition(json::serialize(lg), 1, 1, "metis");
    CHECK(pgt[0].at("manifest_path") == "{\"a\":1}");
    CHECK(pgt[0].at("node") == "#0");
    CHECK(pgt[0].at("island") == "#0");
  }
  SUBCASE("a logical graph that is not JSON is 400") {
    try {
      (void)tm.unroll_and_partition(R"("not a graph")", 1, 1, "metis");
      FAIL("unroll succeeded");
    } catch (const daliuge_error& e) {
      CHECK(e.status() == 400);
      CHECK(e.code() == K::permanent);
      CHECK(e.body_excerpt() == R"({"detail": "LG content is malformed"})");
    }
  }
}

TEST_CASE("daliuge stand-in: error drops make a finished session failed") {
  standin s;
  translator_client tm(s.tm_url, fast_options());
  dim_client dim(s.dim_url, fast_options());

  SUBCASE("a drop marked errored through the control API") {
    auto sid = session_id(1'000);
    auto result = submit_rest(tm, dim, request_for(s, tiny_graph("ok"), sid));
    std::string victim(result.physical_graph[2].at("oid").as_string());
    s.control("POST", "sessions/" + sid + "/error_drops",
              json::object{{"uids", json::array{victim.c_str()}}});
    auto done = poll_until_terminal(dim, sid);
    CHECK(done.status == execution_status::failed);
    CHECK(done.session_state == dim_session_state::failed);  // the node map is {6, 4}
    CHECK(done.error_drop_uids == std::vector<std::string>{victim});
  }
  SUBCASE("an LG node whose beampipe_test_outcome is error") {
    auto sid = session_id(2'000);
    auto result = submit_rest(tm, dim, request_for(s, tiny_graph("error"), sid));
    REQUIRE(result.physical_graph.size() == 4);  // 3 drops + reprodata
    CHECK(result.roots.size() == 1);             // only the ingest app
    auto done = poll_until_terminal(dim, sid);
    CHECK(done.status == execution_status::failed);
    REQUIRE(done.error_drop_uids.size() == 1);
    CHECK(done.graph_status_json.at(done.error_drop_uids[0]).at("status") == 3);
  }
  SUBCASE("FINISHED with error drops still counts as failed") {
    // Pin every node to FINISHED while one drop reports ERROR: §3.6 step 3.
    auto sid = session_id(3'000);
    auto result = submit_rest(tm, dim, request_for(s, tiny_graph("error"), sid));
    json::object pinned;
    for (const auto& n : s.nodes) pinned[n] = 4;
    s.control("POST", "sessions/" + sid + "/node_states", pinned);
    auto p = dim.poll(sid);
    CHECK(p.session_state == dim_session_state::finished);
    CHECK(p.status == execution_status::failed);
    CHECK(p.error_drop_uids.size() == 1);
  }
}

TEST_CASE("daliuge stand-in: idempotent create, unknown sessions, graph status before RUNNING") {
  standin s;
  dim_client dim(s.dim_url, fast_options());
  auto sid = session_id();

  CHECK(dim.create_session(sid) == dim_client::create_outcome::created);
  CHECK(dim.create_session(sid) == dim_client::create_outcome::already_existed);
  CHECK(sessions_named(dim, sid) == 1);
  CHECK(dim.list_sessions().size() == 1);
  CHECK(dim.session_exists(sid));
  CHECK_FALSE(dim.session_exists(sid + "x"));
  CHECK_FALSE(dim.session_exists(sid.substr(0, sid.size() - 1)));  // exact match only

  // PRISTINE: graph status is not ready yet (555 InvalidSessionState), nor is deploy.
  auto gs = dim.graph_status(sid);
  CHECK_FALSE(gs.ready);
  CHECK(gs.raw.is_null());
  auto pristine = dim.poll(sid);
  CHECK(pristine.session_state == dim_session_state::pristine);
  CHECK(pristine.status == execution_status::running);
  CHECK(pristine.graph_status_json.is_null());
  CHECK(s.requests("dim", "/graph/status").size() == 1);  // poll did not ask before RUNNING
  try {
    dim.deploy(sid, {});
    FAIL("deploy of a PRISTINE session succeeded");
  } catch (const daliuge_error& e) {
    CHECK(e.code() == K::not_ready);
    CHECK(e.status() == 555);
    CHECK(e.transient());
  }

  // 555 NoSessionException → not_found, with the per-node envelope parsed.
  const std::string ghost = "BeampipeExecution-none";
  for (auto call : {+[](const dim_client&d, const std::string&id) { d.cancel(id); },
                    +[](const dim_client&d, const std::string&id) { d.destroy(id); },
                    +[](const dim_client&d, const std::string&id) { (void)d.graph_status(id); },
                    +[](const dim_client&d, const std::string&id) { d.deploy(id, {"a"}); }}) {
    try {
      call(dim, ghost);
      FAIL("an unknown session was accepted");
    } catch (const daliuge_error& e) {
      CHECK(e.code() == K::not_found);
      CHECK(e.status() == 555);
      CHECK(e.error_type() == "SubManagerException");
      CHECK(e.inner_types() == std::vector<std::string>(s.nodes.size(), "NoSessionException"));
      CHECK_FALSE(e.transient());
    }
  }
  // Its /status is {"<node>":{"Status":"Success"}}: unknown → running, but flagged missing.
  auto unknown = dim.poll(ghost);
  CHECK(unknown.session_state == dim_session_state::unknown);
  CHECK(unknown.status == execution_status::running);
  CHECK(unknown.session_missing);

  // Bad graphs and bad roots.
  try {
    dim.append_graph(sid, json::parse(R"([{"oid":"a","node":"10.0.0.9:8000:5555:6666"}])"));
    FAIL("a foreign node was accepted");
  } catch (const daliuge_error& e) {
    CHECK(e.code() == K::permanent);
    CHECK(e.status() == 400);
    CHECK(e.error_type() == "InvalidGraphException");
  }
  dim.append_graph(
      sid,
      json::array{json::object{{"oid", "a b,c"}, {"node", s.nodes[1]}, {"categoryType", "Data"}},
                  json::object{{"oid", "d"}, {"node", s.nodes[1]}, {"categoryType", "Data"}}});
  CHECK(dim.status(sid).state == dim_session_state::building);
  CHECK_FALSE(dim.graph_status(sid).ready);
  try {
    dim.deploy(sid, {"zzz"});
    FAIL("unknown completed uids were accepted");
  } catch (const daliuge_error& e) {
    CHECK(e.code() == K::dependency);
    CHECK(e.error_type() == "DaliugeException");
  }
  dim.deploy(sid, {"d"});
  CHECK(s.requests("dim", "/deploy").back().at("body") == "completed=d");
  CHECK(dim.status(sid).state == dim_session_state::running);
  CHECK(dim.graph_status(sid).ready);
}

TEST_CASE("daliuge stand-in: cancel and mixed node states") {
  standin s;
  translator_client tm(s.tm_url, fast_options());
  dim_client dim(s.dim_url, fast_options());
  auto sid = session_id();
  submit_rest(tm, dim, request_for(s, tiny_graph("ok"), sid));
  dim.cancel(sid);
  auto st = dim.status(sid);
  CHECK(st.state == dim_session_state::cancelled);
  auto p = dim.poll(sid);
  CHECK(p.status == execution_status::cancelled);
  CHECK(p.graph_status_json.is_object());

  // A {4,5} mix is none of the aggregate rules: unknown, so still running.
  json::object mixed{{s.nodes[0], 4}, {s.nodes[1], 5}};
  s.control("POST", "sessions/" + sid + "/node_states", mixed);
  auto m = dim.poll(sid);
  CHECK(m.session_state == dim_session_state::unknown);
  CHECK(m.status == execution_status::running);
  CHECK_FALSE(m.session_missing);
}

TEST_CASE(
    "daliuge stand-in: submission failures are certain before create, uncertain from create on") {
  standin s;
  translator_client tm(s.tm_url, fast_options());

  SUBCASE("500 from unroll_and_partition") {
    dim_client dim(s.dim_url, fast_options());
    s.fault({{"server", "tm"}, {"path", "/unroll_and_partition$"}, {"action", "http500"}});
    try {
      submit_rest(tm, dim, request_for(s, tiny_graph("ok"), session_id()));
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK_FALSE(e.uncertain());
      CHECK(e.failed_step() == Step::unroll_and_partition);
      CHECK(e.cause() == K::dependency);
      CHECK(e.status() == 500);
      CHECK(std::string(e.what()).starts_with(
          "TM unroll_and_partition failed: HTTP 500 \xE2\x80\x94 "));
      // The page's title, not the page (issue #17: last_error held 1 KiB of HTML).
      CHECK(std::string(e.what()).find("Error: 500 Internal Server Error") != std::string::npos);
      CHECK(std::string(e.what()).find("<") == std::string::npos);
      CHECK(std::string(e.what()).size() < 200);
    }
    CHECK(dim.list_sessions().empty());
  }
  SUBCASE("422 for an unknown algorithm") {
    dim_client dim(s.dim_url, fast_options());
    auto req = request_for(s, tiny_graph("ok"), session_id());
    req.algorithm = "quantum";
    try {
      submit_rest(tm, dim, req);
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK_FALSE(e.uncertain());
      CHECK(e.cause() == K::permanent);
      CHECK(e.status() == 422);
    }
  }
  SUBCASE("map with more islands than nodes") {
    dim_client dim(s.dim_url, fast_options());
    auto req = request_for(s, tiny_graph("ok"), session_id());
    req.num_islands = 3;  // [dim] + 2 NMs = 3 ≤ 3
    try {
      submit_rest(tm, dim, req);
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK_FALSE(e.uncertain());
      CHECK(e.failed_step() == Step::map);
      CHECK(std::string(e.what()).find(
                "#nodes (3) should be larger than the number of islands (3)") != std::string::npos);
    }
    CHECK(dim.list_sessions().empty());
  }
  SUBCASE("timeout on deploy: uncertain, and the session turns out to exist and run") {
    auto o = fast_options();
    o.deploy_timeout = 300ms;
    dim_client dim(s.dim_url, o);
    s.fault({{"server", "dim"},
             {"method", "POST"},
             {"path", "/deploy$"},
             {"action", "delay"},
             {"delay_ms", 1500}});
    auto sid = session_id();
    try {
      submit_rest(tm, dim, request_for(s, tiny_graph("ok"), sid));
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK(e.uncertain());
      CHECK(e.failed_step() == Step::deploy);
      CHECK(e.cause() == K::timeout);
    }
    CHECK(s.requests("dim", "/deploy").size() == 1);  // sent once, never retried
    CHECK(dim.session_exists(sid));                   // reconciliation finds it
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (dim.status(sid).state != dim_session_state::running &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    CHECK(dim.status(sid).state == dim_session_state::running);  // the late deploy took effect
    CHECK(s.control("GET", "state").at("sessions").at(sid).at("roots").as_array().size() == 1);
  }
  SUBCASE("timeout of create_session itself is uncertain") {
    auto o = fast_options();
    o.create_timeout = 300ms;
    dim_client dim(s.dim_url, o);
    s.fault({{"server", "dim"},
             {"method", "POST"},
             {"path", "^/api/sessions$"},
             {"action", "delay"},
             {"delay_ms", 1000}});
    try {
      submit_rest(tm, dim, request_for(s, tiny_graph("ok"), session_id()));
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK(e.uncertain());
      CHECK(e.failed_step() == Step::create_session);
      CHECK(e.cause() == K::timeout);
    }
  }
  SUBCASE("a 503 on create is not retried, even with read retries enabled") {
    auto o = fast_options();
    o.http.max_attempts = 3;
    o.http.initial_backoff = 1ms;
    dim_client dim(s.dim_url, o);
    s.fault({{"server", "dim"},
             {"method", "POST"},
             {"path", "^/api/sessions$"},
             {"action", "http503"}});
    try {
      submit_rest(tm, dim, request_for(s, tiny_graph("ok"), session_id()));
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK(e.uncertain());
      CHECK(e.cause() == K::dependency);
      CHECK(e.status() == 503);
    }
    std::size_t posts = 0;
    for (const auto& r : s.requests("dim", "/api/sessions"))
      if (r.at("method") == "POST") ++posts;
    CHECK(posts == 1);
  }
  SUBCASE("connection closed without an answer on append") {
    dim_client dim(s.dim_url, fast_options());
    s.fault({{"server", "dim"}, {"path", "/graph/append$"}, {"action", "close"}});
    try {
      submit_rest(tm, dim, request_for(s, tiny_graph("ok"), session_id()));
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK(e.uncertain());
      CHECK(e.failed_step() == Step::append_graph);
      CHECK_MESSAGE(e.cause() == K::unreachable, std::string(e.what()));
    }
  }
}

TEST_CASE("daliuge: connection refused is unreachable") {
  auto url = "http://127.0.0.1:" + std::to_string(refused_port());
  dim_client dim(url, fast_options());
  translator_client tm(url, fast_options());
  auto p = dim.probe();
  CHECK_FALSE(p.reachable);
  CHECK_FALSE(p.detail.empty());
  CHECK_FALSE(tm.probe().reachable);
  try {
    (void)dim.status("s");
    FAIL("status succeeded");
  } catch (const daliuge_error& e) {
    CHECK(e.code() == K::unreachable);
    CHECK(e.status() == 0);
    CHECK(e.transient());
  }
  rest_submit_request req;
  req.session_id = session_id();
  req.logical_graph = json::serialize(tiny_graph("ok"));
  req.dim_host_for_tm = "127.0.0.1";
  try {
    submit_rest(tm, dim, req);
    FAIL("submit succeeded");
  } catch (const rest_submission_error& e) {
    CHECK_FALSE(e.uncertain());
    CHECK(e.failed_step() == Step::unroll_and_partition);
    CHECK(e.cause() == K::unreachable);
  }
}

// Issue #17: a DIM that refuses the connection at create_session never saw the request, so
// the failure is certain (it used to be filed as uncertain and stay so for good); a DIM that
// took the request and dropped the connection stays uncertain.
TEST_CASE("daliuge stand-in: a refused create_session is certain, a dropped one uncertain") {
  standin s;
  translator_client tm(s.tm_url, fast_options());
  auto sid = session_id();
  {
    dim_client dim("http://127.0.0.1:" + std::to_string(refused_port()), fast_options());
    try {
      submit_rest(tm, dim, request_for(s, tiny_graph("ok"), sid));
      FAIL("submit succeeded");
    } catch (const rest_submission_error& e) {
      CHECK(e.failed_step() == Step::create_session);
      CHECK(e.cause() == K::unreachable);
      CHECK_FALSE(e.uncertain());
    }
  }
  dim_client dim(s.dim_url, fast_options());
  s.fault({{"server", "dim"}, {"method", "POST"}, {"path", "/api/sessions$"}, {"action", "close"}});
  try {
    submit_rest(tm, dim, request_for(s, tiny_graph("ok"), session_id()));
    FAIL("submit succeeded");
  } catch (const rest_submission_error& e) {
    CHECK(e.failed_step() == Step::create_session);
    CHECK(e.uncertain());
  }
}

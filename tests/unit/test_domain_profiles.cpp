// Deployment profiles (spec §1.4, §12.6).
#include <doctest/doctest.h>

#include <functional>

#include "domain/canonical_json.hpp"
#include "domain/deployment_profile.hpp"
#include "domain/project_config.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
json::value reference(const char* name) {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/" + name);
  REQUIRE(text);
  return json::parse(*text);
}
bool has(const std::vector<Diagnostic>& ds, const std::string& path, const std::string& code) {
  for (const auto& d : ds)
    if (d.path == path && d.code == code) return true;
  return false;
}
std::string describe(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.path + " [" + d.code + "] " + d.message + "\n";
  return out;
}
}  // namespace

TEST_CASE("reference profiles validate with defaults filled") {
  auto rest = validate_deployment_profile_body(reference("deployment_profile.dlg-dim.json"));
  INFO(describe(rest.diagnostics));
  REQUIRE(rest.valid());
  const auto& r = std::get<RestRemoteDeployment>(rest.profile->deployment);
  CHECK(*r.deploy_host == "dlg-dim");
  CHECK(*dim_base_url(r) == "http://dlg-dim:8001");
  CHECK(*rest.profile->max_concurrent_executions == 1);

  auto slurm = validate_deployment_profile_body(reference("deployment_profile.slurm-remote.json"));
  INFO(describe(slurm.diagnostics));
  REQUIRE(slurm.valid());
  const auto& s = std::get<SlurmRemoteDeployment>(slurm.profile->deployment);
  CHECK(s.login_node == "setonix.pawsey.org.au");
  CHECK(s.job_duration_minutes == 50);
  CHECK(s.effective_wall_time_minutes() == 50);
  CHECK(s.verify_ssl == false);
  CHECK_FALSE(s.ssh_credential);
  CHECK(effective_remote_user(s, std::nullopt, std::nullopt) == "jblackwood");
}

TEST_CASE("defaults for minimal bodies") {
  auto rest = validate_deployment_profile_body(json::parse(
      R"({"name":"dim","translation":{},"deployment":{"kind":"rest_remote","deploy_host":"dim.local"}})"));
  REQUIRE(rest.valid());
  CHECK(rest.profile->translation.algo == "metis");
  CHECK(rest.profile->translation.num_par == 1);
  CHECK(rest.profile->translation.num_islands == 0);
  const auto& r = std::get<RestRemoteDeployment>(rest.profile->deployment);
  CHECK(r.verify_ssl);  // [HEAD] default true
  CHECK_FALSE(r.use_https);
  CHECK(*r.deploy_port == 8001);
  CHECK(*r.dim_port_for_tm == 8001);

  auto slurm = validate_deployment_profile_body(json::parse(
      R"({"name":"s","deployment":{"kind":"slurm_remote","login_node":"login","account":"acc","home_dir":"/home/a",
          "log_dir":"/home/a/log","dlg_root":"/home/a/dlg"}})"));
  INFO(describe(slurm.diagnostics));
  REQUIRE(slurm.valid());
  const auto& s = std::get<SlurmRemoteDeployment>(slurm.profile->deployment);
  CHECK(s.ssh_port == 22);
  CHECK(s.exec_prefix == "srun -l");
  CHECK(s.facility == "setonix");
  CHECK(s.job_duration_minutes == 30);
  CHECK(s.num_nodes == 1);
  CHECK(s.num_islands == 1);
  CHECK(effective_remote_user(s, std::string("svc"), std::string("me")) == "svc");
  CHECK(effective_remote_user(s, std::nullopt, std::string("me")) == "me");
  CHECK(effective_remote_user(s, std::string(" "), std::nullopt) == "root");
}

TEST_CASE("delete_finished_sessions: off by default, kept when on, a boolean only") {
  auto body = [](const char* extra) {
    return json::parse(std::string(R"({"name":"dim","deployment":{"kind":"rest_remote",)"
                                   R"("deploy_host":"dim.local")") +
                       extra + "}}");
  };
  auto off = validate_deployment_profile_body(body(""));
  REQUIRE(off.valid());
  CHECK_FALSE(std::get<RestRemoteDeployment>(off.profile->deployment).delete_finished_sessions);
  // Absent when off, so profiles stored before the option keep their spec_sha256.
  CHECK_FALSE(to_json(off.profile->deployment).as_object().contains("delete_finished_sessions"));
  CHECK(profile_spec_sha256(
            validate_deployment_profile_body(body(R"(,"delete_finished_sessions":false)"))
                .profile.value()) == profile_spec_sha256(*off.profile));

  auto on = validate_deployment_profile_body(body(R"(,"delete_finished_sessions":true)"));
  REQUIRE(on.valid());
  CHECK(std::get<RestRemoteDeployment>(on.profile->deployment).delete_finished_sessions);
  CHECK(to_json(on.profile->deployment).at("delete_finished_sessions") == true);
  CHECK(profile_spec_sha256(*on.profile) != profile_spec_sha256(*off.profile));
  // The stored form parses back to the same profile.
  CHECK(
      profile_spec_sha256(validate_deployment_profile_body(to_json(*on.profile)).profile.value()) ==
      profile_spec_sha256(*on.profile));

  auto bad = validate_deployment_profile_body(body(R"(,"delete_finished_sessions":"yes")"));
  INFO(describe(bad.diagnostics));
  CHECK_FALSE(bad.valid());
  bool named = false;
  for (const auto& d : bad.diagnostics)
    named = named || d.path == "deployment.delete_finished_sessions";
  CHECK(named);
  // A Slurm deployment has no DIM sessions: the key is unknown there.
  auto slurm = validate_deployment_profile_body(json::parse(
      R"({"name":"s","deployment":{"kind":"slurm_remote","login_node":"login","account":"acc",)"
      R"("home_dir":"/h","log_dir":"/h/log","dlg_root":"/h/dlg","delete_finished_sessions":true}})"));
  CHECK(has(slurm.diagnostics, "deployment.delete_finished_sessions", "invalid_config_structure"));
}

TEST_CASE("DIM base URL") {
  RestRemoteDeployment r;
  CHECK_FALSE(dim_base_url(r));
  r.deploy_host = "dim";
  r.deploy_port = 80;
  CHECK(*dim_base_url(r) == "http://dim");
  r.use_https = true;
  CHECK(*dim_base_url(r) == "https://dim:80");
  r.deploy_port = 443;
  CHECK(*dim_base_url(r) == "https://dim");
}

TEST_CASE("broken profiles: one per rule, with path and code") {
  const char* base =
      R"({"name":"slurm-remote","description":"d","project_module":"wallaby_hires","is_default":true,
    "translation":{"algo":"metis","num_par":1,"num_islands":1,"tm_url":"http://tm"},
    "deployment":{"kind":"slurm_remote","login_node":"login","account":"acc","home_dir":"/h","log_dir":"/h/log",
                  "dlg_root":"/h/dlg","ssh_credential":"setonix-key"}})";
  struct Case {
    const char* name;
    std::function<void(json::object&)> mutate;
    const char* path;
    const char* code;
  };
  auto dep = [](json::object& b) -> json::object& { return b["deployment"].as_object(); };
  const std::vector<Case> cases = {
      {"bad name", [](json::object& b) { b["name"] = "has space"; }, "name",
       "invalid_config_value"},
      {"long name", [](json::object& b) { b["name"] = std::string(51, 'a'); }, "name",
       "invalid_config_value"},
      {"missing name", [](json::object& b) { b.erase("name"); }, "name", "required"},
      {"zero concurrency", [](json::object& b) { b["max_concurrent_executions"] = 0; },
       "max_concurrent_executions", "invalid_limit"},
      {"num_par", [](json::object& b) { b["translation"].as_object()["num_par"] = 0; },
       "translation.num_par", "invalid_limit"},
      {"num_islands", [](json::object& b) { b["translation"].as_object()["num_islands"] = -1; },
       "translation.num_islands", "invalid_limit"},
      {"algo", [](json::object& b) { b["translation"].as_object()["algo"] = "greedy"; },
       "translation.algo", "invalid_config_value"},
      {"unknown key", [&](json::object& b) { dep(b)["partition_x"] = "p"; },
       "deployment.partition_x", "invalid_config_structure"},
      {"secret", [&](json::object& b) { dep(b)["ssh_password"] = "hunter2"; },
       "deployment.ssh_password", "secret_not_allowed"},
      {"nested secret", [](json::object& b) { b["translation"].as_object()["api_token"] = "t"; },
       "translation.api_token", "secret_not_allowed"},
      {"unknown kind", [&](json::object& b) { dep(b)["kind"] = "k8s"; }, "deployment.kind",
       "invalid_config_value"},
      {"missing kind", [&](json::object& b) { dep(b).erase("kind"); }, "deployment.kind",
       "required"},
      {"login node", [&](json::object& b) { dep(b)["login_node"] = " "; }, "deployment.login_node",
       "required"},
      {"ssh port", [&](json::object& b) { dep(b)["ssh_port"] = 70000; }, "deployment.ssh_port",
       "invalid_config_value"},
      {"account", [&](json::object& b) { dep(b).erase("account"); }, "deployment.account",
       "required"},
      {"relative home", [&](json::object& b) { dep(b)["home_dir"] = "scratch"; },
       "deployment.home_dir", "invalid_config_value"},
      {"root dlg_root", [&](json::object& b) { dep(b)["dlg_root"] = "/"; }, "deployment.dlg_root",
       "invalid_config_value"},
      {"zero nodes", [&](json::object& b) { dep(b)["num_nodes"] = 0; }, "deployment.num_nodes",
       "invalid_limit"},
      {"resources override nodes",
       [&](json::object& b) { dep(b)["resources"] = json::parse(R"({"nodes":0})"); },
       "deployment.num_nodes", "invalid_limit"},
      {"zero wall time",
       [&](json::object& b) { dep(b)["resources"] = json::parse(R"({"wall_time_minutes":0})"); },
       "deployment.job_duration_minutes", "invalid_limit"},
      {"topology islands",
       [&](json::object& b) { dep(b)["manager_topology"] = json::parse(R"({"islands":0})"); },
       "deployment.num_islands", "invalid_limit"},
      {"blank optional text", [&](json::object& b) { dep(b)["venv"] = ""; }, "deployment.venv",
       "invalid_config_value"},
      {"credential traversal", [&](json::object& b) { dep(b)["ssh_credential"] = "../id_rsa"; },
       "deployment.ssh_credential", "invalid_config_value"},
      {"credential dots", [&](json::object& b) { dep(b)["ssh_credential"] = "a..b"; },
       "deployment.ssh_credential", "invalid_config_value"},
      {"wrong type", [&](json::object& b) { dep(b)["num_nodes"] = "two"; }, "deployment.num_nodes",
       "invalid_config_structure"},
      {"rest without host",
       [](json::object& b) {
         b["deployment"] = json::parse(R"({"kind":"rest_remote","deploy_port":8001})");
       },
       "deployment.deploy_host", "required"},
      {"rest port",
       [](json::object& b) {
         b["deployment"] =
             json::parse(R"({"kind":"rest_remote","deploy_host":"d","dim_port_for_tm":0})");
       },
       "deployment.dim_port_for_tm", "invalid_config_value"},
  };
  for (const auto& c : cases) {
    std::string name = c.name;
    CAPTURE(name);
    auto body = json::parse(base);
    c.mutate(body.as_object());
    auto v = validate_deployment_profile_body(body);
    INFO(describe(v.diagnostics));
    CHECK_FALSE(v.valid());
    CHECK(has(v.diagnostics, c.path, c.code));
  }
  auto ok = validate_deployment_profile_body(json::parse(base));
  INFO(describe(ok.diagnostics));
  CHECK(ok.valid());
  CHECK_FALSE(parse_deployment_profile(std::string_view("{not json")).profile);
  CHECK(has(parse_deployment_profile(json::value(3)).diagnostics, "(body)",
            "invalid_config_structure"));
}

TEST_CASE("profile spec_sha256 snapshot (§12.6)") {
  auto p = validate_deployment_profile_body(reference("deployment_profile.slurm-remote.json"))
               .profile.value();
  auto sha = profile_spec_sha256(p);
  CHECK(sha == sha256_hex(stable_json(to_json(p))));
  auto j = to_json(p).as_object();
  CHECK(j.size() == 7);
  CHECK(j.at("max_concurrent_executions").is_null());
  CHECK(j.at("deployment").at("kind") == "slurm_remote");
  // stable across input key order
  auto reversed = json::object();
  auto body = reference("deployment_profile.slurm-remote.json").as_object();
  std::vector<const json::key_value_pair*> kvs;
  for (const auto& kv : body) kvs.push_back(&kv);
  for (auto it = kvs.rbegin(); it != kvs.rend(); ++it) reversed[(*it)->key()] = (*it)->value();
  CHECK(profile_spec_sha256(validate_deployment_profile_body(reversed).profile.value()) == sha);
  // any change to the profile changes it
  auto q = p;
  std::get<SlurmRemoteDeployment>(q.deployment).num_nodes = 2;
  CHECK(profile_spec_sha256(q) != sha);

  auto snap = profile_snapshot(p, 3).as_object();
  CHECK(snap.at("revision") == 3);
  CHECK(snap.at("spec_sha256").as_string() == sha);
  CHECK(snap.at("name") == "slurm-remote");
  // re-parsing the stored translation/deployment gives the same profile
  json::object stored = to_json(p).as_object();
  CHECK(profile_spec_sha256(validate_deployment_profile_body(stored).profile.value()) == sha);
}

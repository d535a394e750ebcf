#include "app/demo.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "store/db.hpp"
#include "util/embedded_files.hpp"

namespace beampipe::app {
namespace {
namespace json = boost::json;

constexpr const char* kConfig = "wallaby_hires.demo.yaml";
constexpr const char* kProfile = "deployment_profile.demo-dim.json";
constexpr const char* kSources = "sources.demo.json";
constexpr const char* kGraph = "graphs/wallaby-hires_deploy-setonix-beampipe.graph";

bool has_project(store::database& db) {
  auto c = db.connect(store::db_role::maintenance, "demo");
  pqxx::read_transaction tx{*c};
  return tx.exec1("SELECT EXISTS (SELECT 1 FROM streams WHERE stream_type = 'project')")[0]
      .as<bool>();
}

// The graph the config names by graph.path, under BEAMPIPE_HOME. An existing file with the same
// bytes is fine; one with other bytes is somebody's data and stops the demo.
void place_graph(const std::filesystem::path& home) {
  auto bytes = util::embedded_example(kGraph);
  auto path = home / kGraph;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream have;
    have << in.rdbuf();
    if (have.str() == bytes) return;
    throw std::runtime_error("demo: " + path.string() +
                             " exists with other content; the demo does not overwrite it (move it "
                             "away or set BEAMPIPE_HOME)");
  }
  std::filesystem::create_directories(path.parent_path());
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("demo: cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

struct caller {
  api::app_context& ctx;
  const api::router& routes;
  api::principal who{"", "demo", true, "system:demo"};

  json::value call(const char* step, std::string method, std::string target,
                   std::string_view body = {}, const char* content_type = "application/json",
                   std::initializer_list<int> ok = {200, 201, 202}) {
    api::request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::string(body);
    req.peer = "in-process";
    if (!body.empty()) req.headers["content-type"] = content_type;
    auto res = api::call_as(ctx, routes, who, std::move(req));
    if (std::find(ok.begin(), ok.end(), res.status) == ok.end())
      throw std::runtime_error(std::string("demo: ") + step + " answered " +
                               std::to_string(res.status) + ": " + res.body);
    return res.body.empty() ? json::value() : json::parse(res.body);
  }
};

// Every source of the demo answered (discovered or failed), or the deadline passed.
bool discovery_settled(caller& api, const demo_options& o) {
  auto deadline = std::chrono::steady_clock::now() + o.discovery_wait;
  while (std::chrono::steady_clock::now() < deadline && !o.stopping()) {
    auto rows = api.call("listing the demo sources", "GET",
                         "/api/v2/sources?project_module=wallaby_hires&limit=100");
    bool settled = !rows.as_array().empty();
    for (const auto& r : rows.as_array())
      settled = settled && r.at("discovery_request_id").is_null() &&
                (!r.at("last_checked_at").is_null() || !r.at("last_discovery_error").is_null());
    if (settled) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

void load_demo(api::app_context& ctx, const api::router& routes, const demo_options& o) {
  if (has_project(*o.db)) {
    spdlog::info("--demo: the database already has a project; the demo loads nothing");
    std::cout << "beampipe: --demo: this database already has a project, so the demo loads "
                 "nothing (it never overwrites data)"
              << std::endl;
    return;
  }
  place_graph(o.home);
  caller api{ctx, routes};
  auto config = api.call("uploading the project config", "POST", "/api/v2/project-configs",
                         util::embedded_example(kConfig), "application/yaml", {201});
  api.call("creating the deployment profile", "POST", "/api/v2/deployment-profiles",
           util::embedded_example(kProfile), "application/json", {201});
  api.call("registering the sources", "POST", "/api/v2/sources/bulk",
           util::embedded_example(kSources));
  api.call("requesting discovery", "POST", "/api/v2/sources/discover",
           R"({"project_module":"wallaby_hires"})");
  bool settled = discovery_settled(api, o);
  if (!settled)
    spdlog::warn("--demo: discovery has not answered yet; it goes on in the background");
  spdlog::info("--demo: loaded project wallaby_hires, profile demo-dim and two sources");
  std::cout << "beampipe: demo loaded: project wallaby_hires (config version "
            << json::serialize(config.as_object().at("version")) << ", graph in "
            << (o.home / kGraph).string()
            << "), default profile demo-dim (simulated DIM), sources HIPASSJ1313-15 and "
               "HIPASSJ1318-21 "
            << (settled ? "discovered" : "being discovered") << std::endl;
}

}  // namespace beampipe::app

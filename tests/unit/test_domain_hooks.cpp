// How discovery and the execute step apply a project's WebAssembly hooks (§5.3 step 8, §3.5
// step 8, §5.9): what replaces what, what falls back, what fails, and what is recorded. The
// module is a scripted project_hooks here; tests/adapters/test_wasm_hooks.cpp and
// tests/blackbox/test_wasm_hooks.py run real modules.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "archive/simulated.hpp"
#include "domain/discovery_run.hpp"
#include "domain/hooks.hpp"
#include "domain/manifest.hpp"

using namespace beampipe;
namespace json = boost::json;

namespace {

const std::string kSha(64, 'a');

// A module whose hooks answer `answer(hook, input)`, remembering every input.
struct scripted {
  std::vector<std::pair<std::string, json::value>> calls;
  std::function<domain::hook_answer(const std::string&, const json::value&)> answer;
  domain::project_hooks bind(std::vector<std::string> listed) {
    domain::project_hooks h;
    h.module_sha256 = kSha;
    h.listed = std::move(listed);
    h.call = [this](const std::string& hook, const json::value& input) {
      calls.emplace_back(hook, input);
      return answer(hook, input);
    };
    return h;
  }
};

domain::hook_answer output(json::value v, int64_t ms = 3) { return {std::move(v), "", ms}; }
domain::hook_answer failure(std::string e) { return {std::nullopt, std::move(e), 7}; }

domain::ProjectConfig config_from(const std::string& name) {
  std::ifstream f(std::string(BEAMPIPE_REFERENCE_DIR) + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  auto r = domain::validate_project_config_text(ss.str());
  REQUIRE(r.valid);
  return *r.config;
}

}  // namespace

TEST_CASE("prepare_metadata: an array replaces the records, anything else becomes one record") {
  scripted m;
  json::array records{json::object{{"sbid", "1"}}, json::object{{"sbid", "2"}}};
  m.answer = [](const std::string&, const json::value& in) {
    const auto& d = in.as_object().at("declarative_output").as_array();
    return output(json::array{d[1]});
  };
  auto hooks = m.bind({"prepare_metadata"});
  std::vector<events::hook_run> ran;
  auto out = domain::apply_prepare_metadata_hook(&hooks, records, ran);
  CHECK(out == json::array{json::object{{"sbid", "2"}}});
  REQUIRE(m.calls.size() == 1);
  CHECK(m.calls[0].second == json::value(json::object{{"declarative_output", records}}));
  REQUIRE(ran.size() == 1);
  CHECK(ran[0].module_sha256 == kSha);
  CHECK(ran[0].hook == "prepare_metadata");
  CHECK(ran[0].duration_ms == 3);
  CHECK_FALSE(ran[0].fell_back);
  CHECK_FALSE(ran[0].error);

  m.answer = [](const std::string&, const json::value&) {
    return output(json::object{{"sbid", "9"}});
  };
  ran.clear();
  CHECK(domain::apply_prepare_metadata_hook(&hooks, records, ran) ==
        json::array{json::object{{"sbid", "9"}}});
  CHECK_FALSE(ran[0].fell_back);
}

TEST_CASE("prepare_metadata: a failure or a non-object record keeps the declarative records") {
  scripted m;
  json::array records{json::object{{"sbid", "1"}}};
  auto hooks = m.bind({"prepare_metadata"});
  std::vector<events::hook_run> ran;
  m.answer = [](const std::string&, const json::value&) {
    return failure("hook 'prepare_metadata' timed out after 2000 ms");
  };
  CHECK(domain::apply_prepare_metadata_hook(&hooks, records, ran) == records);
  REQUIRE(ran.size() == 1);
  CHECK(ran[0].fell_back);
  CHECK(ran[0].error == "hook 'prepare_metadata' timed out after 2000 ms");

  m.answer = [](const std::string&, const json::value&) {
    return output(json::array{json::object{}, 42});
  };
  ran.clear();
  CHECK(domain::apply_prepare_metadata_hook(&hooks, records, ran) == records);
  CHECK(ran[0].fell_back);
  CHECK(ran[0].error->find("index 1") != std::string::npos);
}

TEST_CASE("hooks that are not listed, or no module, run nothing") {
  scripted m;
  m.answer = [](const std::string&, const json::value&) { return output(json::array{}); };
  auto hooks = m.bind({"manifest"});
  json::array records{json::object{{"sbid", "1"}}};
  std::vector<events::hook_run> ran;
  CHECK(domain::apply_prepare_metadata_hook(&hooks, records, ran) == records);
  CHECK(domain::apply_prepare_metadata_hook(nullptr, records, ran) == records);
  CHECK(ran.empty());
  CHECK(m.calls.empty());
}

TEST_CASE("discovery signs what the prepare_metadata hook answered") {
  auto config = config_from("wallaby_hires.v1.yaml");
  archive::simulated_archive a;
  auto query = [&a](const std::string& adapter, const std::string& adql) {
    return a.query(adapter, adql);
  };
  auto plain = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, query);
  REQUIRE(plain.outcome == domain::discovery_run_result::kind::changed);
  CHECK(plain.wasm_hooks.empty());

  scripted m;
  m.answer = [](const std::string&, const json::value& in) {
    // Keeps the first record only.
    return output(json::array{in.as_object().at("declarative_output").as_array().at(0)});
  };
  auto hooks = m.bind({"prepare_metadata"});
  auto hooked = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, query, &hooks);
  REQUIRE(hooked.outcome == domain::discovery_run_result::kind::changed);
  CHECK(hooked.datasets == 1);
  CHECK(plain.datasets > 1);
  CHECK(hooked.signature != plain.signature);
  REQUIRE(hooked.wasm_hooks.size() == 1);
  CHECK_FALSE(hooked.wasm_hooks[0].fell_back);

  // A hook that keeps nothing leaves the source with no datasets.
  m.answer = [](const std::string&, const json::value&) { return output(json::array{}); };
  auto none = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, query, &hooks);
  CHECK(none.outcome == domain::discovery_run_result::kind::no_datasets);

  // A failing hook: the declarative records, a warning, and the fallback recorded.
  m.answer = [](const std::string&, const json::value&) { return failure("trapped"); };
  auto fell = domain::run_discovery(config, "HIPASSJ1313-15", "", {}, query, &hooks);
  CHECK(fell.signature == plain.signature);
  CHECK(fell.wasm_hooks.at(0).fell_back);
  CHECK(fell.warnings.back().find("declarative records are kept: trapped") != std::string::npos);
}

TEST_CASE("manifest hooks: the manifest hook, the project's patches, then graph_patches") {
  auto config = config_from("wallaby_hires.v1.yaml");
  REQUIRE_FALSE(config.graph_patches.empty());
  json::array metadata{json::object{{"sbid", "1"}}};
  json::object manifest{{"inputs", json::object{}}, {"sources", json::array{}}};
  scripted m;
  m.answer = [](const std::string& hook, const json::value& in) {
    auto out = in.as_object().at("declarative_output").as_object();
    out[hook + "_ran"] = true;
    return output(out);
  };
  auto hooks = m.bind({"manifest", "graph_patches"});
  std::vector<events::hook_run> ran;
  auto r = domain::apply_manifest_hooks(&hooks, manifest, metadata, config, ran);
  REQUIRE(r.ok());
  REQUIRE(m.calls.size() == 2);
  CHECK(m.calls[0].first == "manifest");
  const auto& first = m.calls[0].second.as_object();
  CHECK(first.at("metadata") == metadata);
  CHECK(first.at("project_id") == "wallaby_hires");
  CHECK(first.at("declarative_output") == manifest);
  CHECK(m.calls[1].first == "graph_patches");
  const auto& second = m.calls[1].second.as_object();
  CHECK_FALSE(second.contains("metadata"));
  // graph_patches sees the manifest hook's output with the project's patches applied.
  const auto& seen = second.at("declarative_output").as_object();
  CHECK(seen.at("manifest_ran") == true);
  CHECK(seen.contains("graph_overrides"));
  CHECK(r.value().at("graph_patches_ran") == true);
  REQUIRE(ran.size() == 2);
  CHECK(ran[0].hook == "manifest");
  CHECK(ran[1].hook == "graph_patches");

  // Without hooks it is build_manifest plus the patches, as before.
  ran.clear();
  auto plain = domain::apply_manifest_hooks(nullptr, manifest, metadata, config, ran);
  REQUIRE(plain.ok());
  CHECK(ran.empty());
  CHECK_FALSE(plain.value().contains("manifest_ran"));
  CHECK(plain.value().contains("graph_overrides"));
}

TEST_CASE("manifest hooks: a failure or a non-object output fails the build, recorded") {
  auto config = config_from("wallaby_hires.v1.yaml");
  scripted m;
  auto hooks = m.bind({"manifest", "graph_patches"});
  std::vector<events::hook_run> ran;
  m.answer = [](const std::string&, const json::value&) {
    return failure("hook 'manifest' timed out after 2000 ms");
  };
  auto r = domain::apply_manifest_hooks(&hooks, {}, {}, config, ran);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "wasm error: hook 'manifest' timed out after 2000 ms");
  REQUIRE(ran.size() == 1);  // graph_patches never ran
  CHECK(ran[0].error);
  CHECK_FALSE(ran[0].fell_back);

  m.answer = [](const std::string& hook, const json::value& in) {
    if (hook == "manifest") return output(in.as_object().at("declarative_output"));
    return output(json::array{1, 2});
  };
  ran.clear();
  r = domain::apply_manifest_hooks(&hooks, {}, {}, config, ran);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "wasm error: hook 'graph_patches' answered an array; a manifest is an object");
  CHECK(ran.size() == 2);
  CHECK_FALSE(ran[0].error);
  CHECK(ran[1].error);
}

TEST_CASE("build_manifest_for_project runs the manifest hook on the built manifest") {
  auto config = config_from("wallaby_hires.v1.yaml");
  scripted m;
  m.answer = [](const std::string&, const json::value&) {
    return output(json::object{{"replaced", true}});
  };
  auto hooks = m.bind({"manifest"});
  domain::ManifestInputs in;
  in.records = json::array{json::object{{"sbid", "12345"}, {"source_identifier", "X"}}};
  std::vector<events::hook_run> ran;
  auto r = domain::build_manifest_for_project(config, in, &hooks, &ran);
  REQUIRE(r.ok());
  CHECK(r.value().at("replaced") == true);
  // The project's patches still apply after the manifest hook.
  CHECK(r.value().contains("graph_overrides"));
  CHECK(m.calls.at(0).second.at("metadata") == in.records);
  CHECK(ran.size() == 1);
}

TEST_CASE("hook runs in commands are checked as events hold them") {
  json::object good{{"module_sha256", kSha},
                    {"hook", "manifest"},
                    {"duration_ms", 4},
                    {"fell_back", false},
                    {"error", nullptr}};
  auto runs = domain::decode_hook_runs(json::array{good});
  REQUIRE(runs.size() == 1);
  CHECK(domain::hook_runs_json(runs) == json::array{good});
  CHECK(domain::decode_hook_runs(nullptr).empty());
  auto refused = [](json::value v) {
    try {
      domain::decode_hook_runs(v);
    } catch (const events::decode_error& e) {
      return e.field;
    }
    return std::string("accepted");
  };
  auto with = [&](const char* k, json::value v) {
    auto o = good;
    o[k] = std::move(v);
    return json::value(json::array{o});
  };
  CHECK(refused(json::object{}) == "wasm_hooks");
  CHECK(refused(with("module_sha256", "ABC")) == "wasm_hooks[0].module_sha256");
  CHECK(refused(with("hook", "other")) == "wasm_hooks[0].hook");
  CHECK(refused(with("duration_ms", -1)) == "wasm_hooks[0].duration_ms");
  CHECK(refused(with("fell_back", "yes")) == "wasm_hooks[0].fell_back");
  CHECK(refused(with("error", json::string(std::string(5000, 'x')))) == "wasm_hooks[0].error");
  json::array many;
  for (int i = 0; i < 9; ++i) many.push_back(good);
  CHECK(refused(many) == "wasm_hooks");
}

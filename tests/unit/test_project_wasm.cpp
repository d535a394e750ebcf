// WASM modules belong to a project: refused without an active config, recorded once per
// digest (an upload is an upsert), kept across later config revisions.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

#include "decided.hpp"
#include "domain/aggregates.hpp"
#include "util/hash.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

TEST_CASE("project wasm: needs an active config, one event per digest, survives revisions") {
  const auto& k = project_aggregate();
  auto state = k.initial();
  auto stream = project_stream_id("minimal_survey");
  auto run = [&](std::string name, json::object body) {
    auto d = k.decide(state, stream, {std::move(name), std::move(body), "test", beampipe::testing::next_id()});
    beampipe::testing::check_decided(d);
    for (auto& e : d.events) k.apply(state, e.type, e.data, "2026-11-01T00:00:00Z");
    return d;
  };
  auto sha = beampipe::util::sha256_hex("module");
  CHECK(run("attach_wasm", {{"wasm_sha256", sha}}).error->code == "no_active_config");
  std::ifstream f(std::string(BEAMPIPE_REFERENCE_DIR) + "/minimal_survey.v1.yaml");
  std::string text{std::istreambuf_iterator<char>(f), {}};
  REQUIRE_FALSE(run("upload", {{"text", text}}).error);
  auto first_config = state.at("active_uuid");
  CHECK(run("attach_wasm", {{"wasm_sha256", "ABC"}}).error->field == "wasm_sha256");
  auto d = run("attach_wasm", {{"wasm_sha256", sha}, {"size_bytes", 8}});
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].type == "ProjectWasmUploaded");
  CHECK(d.events[0].data.at("project_config_id") == first_config);
  CHECK(run("attach_wasm", {{"wasm_sha256", sha}, {"size_bytes", 8}}).events.empty());
  // A new revision keeps the module: the same digest is still known.
  auto pos = text.find("timeout_seconds: 60");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 19, "timeout_seconds: 61");
  REQUIRE(run("upload", {{"text", text}}).events.size() == 2);
  CHECK(state.at("active_uuid") != first_config);
  CHECK(run("attach_wasm", {{"wasm_sha256", sha}}).events.empty());
}

// Project config parsing, validation and spec_sha256 (spec §10).
#include <doctest/doctest.h>

#include <functional>
#include <random>

#include "domain/canonical_json.hpp"
#include "domain/document.hpp"
#include "domain/project_config.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {

std::string reference(const std::string& name) {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/" + name);
  REQUIRE(text);
  return *text;
}

std::string describe(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.path + " [" + d.code + "] " + d.message + "\n";
  return out;
}

bool has(const ValidationReport& r, const std::string& path, const std::string& code) {
  for (const auto& d : r.errors)
    if (d.path == path && d.code == code) return true;
  return false;
}

// Reverses key order at every level, to prove hashing does not depend on it.
json::value reversed(const json::value& v) {
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.get_array()) a.push_back(reversed(e));
    return a;
  }
  if (!v.is_object()) return v;
  std::vector<const json::key_value_pair*> kvs;
  for (const auto& kv : v.get_object()) kvs.push_back(&kv);
  json::object o;
  for (auto it = kvs.rbegin(); it != kvs.rend(); ++it) o[(*it)->key()] = reversed((*it)->value());
  return o;
}

const char* kMinimalValid = R"yaml(apiVersion: beampipe.dev/v1
kind: ProjectConfig
metadata:
  id: demo
definitions:
  transforms:
    digits: {kind: extract_digits}
    trim: {kind: trim}
adapters:
  required: [casda]
discovery:
  queries:
    - name: visibility
      adapter: casda
      template: "SELECT * FROM ivoa.obscore WHERE filename LIKE '{source_identifier}%'"
  enrichments:
    - name: eval
      adapter: casda
      template: "SELECT * FROM casda.observation_evaluation_file WHERE sbid = '{sbid}'"
  prepare_metadata:
    field_map:
      sbid: {from: obs_id, transform: digits}
    discovery_flags:
      has_eval: {from: enrichments.eval}
graph_patches:
  - match: {kind: node_name, equals: Scatter/GenericScatterApp/Beam}
    set: {num_of_copies: "$count(sbids[].datasets[])"}
)yaml";

json::value minimal_doc() {
  auto doc = parse_yaml_or_json(kMinimalValid);
  REQUIRE(doc.value);
  return *doc.value;
}

json::object& at(json::value& v, std::initializer_list<const char*> path) {
  json::value* cur = &v;
  for (auto k : path) {
    if (cur->is_null()) *cur = json::object();
    cur = &cur->as_object()[k];
  }
  if (cur->is_null()) *cur = json::object();
  return cur->as_object();
}

}  // namespace

TEST_CASE("both reference configs validate, with stable spec_sha256") {
  for (const char* name : {"wallaby_hires.v1.yaml", "minimal_survey.v1.yaml"}) {
    CAPTURE(name);
    auto text = reference(name);
    auto r1 = validate_project_config_text(text);
    INFO(describe(r1.errors));
    CHECK(r1.valid);
    CHECK(r1.errors.empty());
    CHECK(r1.warnings.empty());
    CHECK(is_sha256_hex(r1.spec_sha256));
    CHECK(r1.spec_sha256 != sha256_hex(text));  // typed hash, not the raw bytes
    auto r2 = validate_project_config_text(text);
    CHECK(r1.spec_sha256 == r2.spec_sha256);

    // Same config as JSON with every object's keys reversed: same hash.
    auto doc = parse_yaml_or_json(text);
    REQUIRE(doc.value);
    auto r3 = validate_project_config_text(json::serialize(reversed(*doc.value)));
    INFO(describe(r3.errors));
    CHECK(r3.valid);
    CHECK(r3.spec_sha256 == r1.spec_sha256);

    // The stored typed spec decodes back to the same hash.
    auto again = parse_project_config(to_json(*r1.config));
    REQUIRE(again.config);
    CHECK(again.diagnostics.empty());
    CHECK(spec_sha256(*again.config) == r1.spec_sha256);
  }
  CHECK(validate_project_config_text(reference("wallaby_hires.v1.yaml")).project_id ==
        "wallaby_hires");
}

TEST_CASE("spec_sha256 regression values for the reference configs") {
  // Produced by this implementation (the Rust reference published no golden
  // spec_sha256); a change here means stored config hashes change too.
  auto w = validate_project_config_text(reference("wallaby_hires.v1.yaml"));
  auto m = validate_project_config_text(reference("minimal_survey.v1.yaml"));
  CHECK(w.spec_sha256 == "ef07817eb21ffdfd25ba8fd68524617583b658bd5dd10103069e878c0ff1b39b");
  CHECK(m.spec_sha256 == "4b50b23c5da3f6eb264f69a10042c02cefa26240e4c5c19d114a99b81338abd1");
}

TEST_CASE("typed config: defaults are filled and serialised in declaration order") {
  auto parsed = parse_project_config(reference("wallaby_hires.v1.yaml"));
  REQUIRE(parsed.config);
  const auto& c = *parsed.config;
  CHECK(c.adapters.tap.timeout_seconds == 90);
  CHECK(c.adapters.tap.retries == 2);
  CHECK_FALSE(c.adapters.tap.fail_open);
  REQUIRE(c.manifest);
  CHECK(c.manifest->path == "manifest.json");
  REQUIRE(c.automation.discovery);
  CHECK(c.automation.discovery->claim_ttl_minutes == 180);
  CHECK(c.automation.discovery->batch_size == 10);
  REQUIRE(c.automation.execution);
  CHECK(*c.automation.execution->execution_slurm_remote_poll_interval_seconds == 60.0);
  REQUIRE(c.discovery.prepare_metadata);
  CHECK(c.discovery.prepare_metadata->field_map.at("sbid").from == "obs_id");
  CHECK(std::get<std::string>(*c.discovery.prepare_metadata->field_map.at("sbid").transform) ==
        "normalized_sbid");
  CHECK(c.discovery.queries[0].template_text.back() == '\n');  // block scalar keeps its newline

  auto text = serde_json_text(to_json(c), KeyOrder::insertion);
  CHECK(text.rfind("{\"apiVersion\":\"beampipe.dev/"
                   "v1\",\"kind\":\"ProjectConfig\",\"metadata\":{\"id\":\"wallaby_hires\"",
                   0) == 0);
  CHECK(text.find("\"automation\":{\"execution\":{\"enabled\":true,\"archive_name\":\"casda\"") !=
        std::string::npos);
  CHECK(text.find("\"execution_slurm_remote_poll_interval_seconds\":60.0") != std::string::npos);
  CHECK(text.find("\"tap\":{\"timeout_seconds\":90,\"retries\":2,\"fail_open\":false}") !=
        std::string::npos);
  CHECK(text.find("\"signature\":{\"exclude_fields\":[\"access_url\"") != std::string::npos);
  // dynamic maps sorted: dataset_id before sbid before source_identifier
  auto fm = text.find("\"field_map\":{\"dataset_id\"");
  CHECK(fm != std::string::npos);
  // graph_patches keep raw JSON (sorted keys)
  CHECK(text.find("\"graph_patches\":[{\"match\":{\"equals\":\"Scatter/GenericScatterApp/"
                  "Beam\",\"kind\":\"node_name\"}") != std::string::npos);

  // minimal: absent optional sections are omitted, defaults filled
  auto min = parse_project_config(reference("minimal_survey.v1.yaml"));
  REQUIRE(min.config);
  auto mt = serde_json_text(to_json(*min.config), KeyOrder::insertion);
  CHECK(mt.find("\"graph\"") == std::string::npos);
  CHECK(mt.find("\"automation\":{\"discovery\":{\"enabled\":true,\"tick_discovery_source_limit\":"
                "200,\"batch_size\":10") != std::string::npos);
  CHECK(mt.find("\"signature\"") == std::string::npos);
}

TEST_CASE("v2 fields are accepted as additions") {
  auto doc = minimal_doc();
  doc.as_object()["apiVersion"] = "beampipe.dev/v2";
  auto r = validate_project_config_text(json::serialize(doc));
  CHECK(has(r, "graph", "required"));  // v2 needs a pinned graph
  at(doc, {"graph"})["path"] = "graphs/x.graph";
  at(doc, {"graph"})["sha256"] = "56faf68f4e22bab5a5976c081f54ad8c2dd4c17c71d02c9b6843c531d2f9a47b";
  at(doc, {"output_verification"})["required"] = true;
  r = validate_project_config_text(json::serialize(doc));
  INFO(describe(r.errors));
  CHECK(r.valid);
  REQUIRE(r.config->output_verification);
  CHECK(r.config->output_verification->inventory_schema == "wallaby-hires-output-inventory/v1");
  // v1 with the v2 additions is fine too; sha256 is verified whenever given
  doc.as_object()["apiVersion"] = "beampipe.dev/v1";
  CHECK(validate_project_config_text(json::serialize(doc)).valid);
}

TEST_CASE("broken configs: one per class of error, each with path and code") {
  struct Case {
    const char* name;
    std::function<void(json::value&)> mutate;
    const char* path;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"unknown key", [](json::value& d) { at(d, {"metadata"})["typo"] = 1; }, "metadata.typo",
       "invalid_config_structure"},
      {"unknown top-level key", [](json::value& d) { d.as_object()["extra"] = 1; }, "extra",
       "invalid_config_structure"},
      {"wrong type",
       [](json::value& d) {
         at(d, {"adapters", "tap"})["timeout_seconds"] = "soon";
       },
       "adapters.tap.timeout_seconds", "invalid_config_structure"},
      {"negative unsigned",
       [](json::value& d) {
         at(d, {"adapters", "tap"})["retries"] = -1;
       },
       "adapters.tap.retries", "invalid_config_structure"},
      {"missing metadata.id", [](json::value& d) { at(d, {"metadata"}).erase("id"); },
       "metadata.id", "required"},
      {"blank metadata.id", [](json::value& d) { at(d, {"metadata"})["id"] = "  "; }, "metadata.id",
       "required"},
      {"missing apiVersion", [](json::value& d) { d.as_object().erase("apiVersion"); },
       "apiVersion", "required"},
      {"bad apiVersion", [](json::value& d) { d.as_object()["apiVersion"] = "beampipe.dev/v9"; },
       "apiVersion", "invalid_config_value"},
      {"bad kind", [](json::value& d) { d.as_object()["kind"] = "Project"; }, "kind",
       "invalid_kind"},
      {"no adapters", [](json::value& d) { at(d, {"adapters"})["required"] = json::array(); },
       "adapters.required", "required"},
      {"unknown adapter",
       [](json::value& d) { at(d, {"adapters"})["required"] = json::array{"mast"}; },
       "adapters.required[0]", "invalid_config_value"},
      {"zero timeout",
       [](json::value& d) {
         at(d, {"adapters", "tap"})["timeout_seconds"] = 0;
       },
       "adapters.tap.timeout_seconds", "invalid_limit"},
      {"zero batch",
       [](json::value& d) {
         at(d, {"automation", "discovery"})["batch_size"] = 0;
       },
       "automation.discovery.batch_size", "invalid_limit"},
      {"optional limit",
       [](json::value& d) {
         at(d, {"automation", "execution"})["concurrent_execution_run_limit"] = 0;
       },
       "automation.execution.concurrent_execution_run_limit", "invalid_limit"},
      {"bad interval",
       [](json::value& d) {
         at(d, {"automation", "execution"})["execution_rest_remote_poll_interval_seconds"] = -1.5;
       },
       "automation.execution.execution_rest_remote_poll_interval_seconds", "invalid_limit"},
      {"graph url and path",
       [](json::value& d) {
         at(d, {"graph"})["url"] = "https://x/g.graph";
         at(d, {"graph"})["path"] = "g.graph";
       },
       "graph", "mutually_exclusive"},
      {"graph neither", [](json::value& d) { at(d, {"graph"}); }, "graph", "mutually_exclusive"},
      {"graph sha",
       [](json::value& d) {
         at(d, {"graph"})["path"] = "g.graph";
         at(d, {"graph"})["sha256"] = "abc";
       },
       "graph.sha256", "invalid_sha256"},
      {"wasm sha", [](json::value& d) { at(d, {"extension"})["wasm_sha256"] = "zz"; },
       "extension.wasm_sha256", "invalid_sha256"},
      {"unknown hook",
       [](json::value& d) {
         at(d, {"extension"})["hooks"] = json::array{"manifest", "submit"};
       },
       "extension.hooks[1]", "unknown_extension_hook"},
      {"unknown transform",
       [](json::value& d) {
         at(d, {"discovery", "prepare_metadata", "field_map", "sbid"})["transform"] = "nope";
       },
       "discovery.prepare_metadata.field_map.sbid.transform", "unknown_transform"},
      {"unknown transform in inline chain",
       [](json::value& d) {
         at(d, {"discovery", "prepare_metadata", "field_map", "sbid"})["transform"] =
             json::array{"digits", "nope"};
       },
       "discovery.prepare_metadata.field_map.sbid.transform[1]", "unknown_transform"},
      {"non-string chain element",
       [](json::value& d) {
         at(d, {"discovery", "prepare_metadata", "field_map", "sbid"})["transform"] =
             json::array{"digits", 5};
       },
       "discovery.prepare_metadata.field_map.sbid.transform[1]", "invalid_config_structure"},
      {"empty inline chain",
       [](json::value& d) {
         at(d, {"discovery", "prepare_metadata", "field_map", "sbid"})["transform"] = json::array();
       },
       "discovery.prepare_metadata.field_map.sbid.transform", "empty_transform_chain"},
      {"unknown flag transform",
       [](json::value& d) {
         at(d, {"discovery", "prepare_metadata", "discovery_flags", "has_eval"})["transform"] = "x";
       },
       "discovery.prepare_metadata.discovery_flags.has_eval.transform", "unknown_transform"},
      {"unknown template var transform",
       [](json::value& d) {
         at(d, {"source_identity", "template_vars", "source_name"})["transform"] = "x";
       },
       "source_identity.template_vars.source_name.transform", "unknown_transform"},
      {"unknown source_id_transform",
       [](json::value& d) {
         d.at("discovery").at("queries").as_array()[0].as_object()["source_id_transform"] = "x";
       },
       "discovery.queries[0].source_id_transform", "unknown_transform"},
      {"unknown chain step",
       [](json::value& d) {
         auto& t = at(d, {"definitions", "transforms", "c"});
         t["kind"] = "chain";
         t["steps"] = json::array{"trim", "ghost"};
       },
       "definitions.transforms.c.steps[1]", "unknown_transform"},
      {"empty chain",
       [](json::value& d) {
         auto& t = at(d, {"definitions", "transforms", "c"});
         t["kind"] = "chain";
         t["steps"] = json::array();
       },
       "definitions.transforms.c.steps", "empty_transform_chain"},
      {"unknown kind",
       [](json::value& d) {
         at(d, {"definitions", "transforms", "t"})["kind"] = "reverse";
       },
       "definitions.transforms.t.kind", "unknown_transform_kind"},
      {"missing kind",
       [](json::value& d) {
         at(d, {"definitions", "transforms", "t"})["prefix"] = "x";
       },
       "definitions.transforms.t.kind", "required"},
      {"missing param",
       [](json::value& d) {
         at(d, {"definitions", "transforms", "t"})["kind"] = "strip_prefix";
       },
       "definitions.transforms.t.prefix", "required"},
      {"default_if_empty needs default",
       [](json::value& d) {
         at(d, {"definitions", "transforms", "t"})["kind"] = "default_if_empty";
       },
       "definitions.transforms.t.default", "required"},
      {"split_last empty separators",
       [](json::value& d) {
         auto& t = at(d, {"definitions", "transforms", "t"});
         t["kind"] = "split_last";
         t["separators"] = json::array{""};
       },
       "definitions.transforms.t.separators", "required"},
      {"bad regex",
       [](json::value& d) {
         auto& t = at(d, {"definitions", "transforms", "t"});
         t["kind"] = "regex_extract";
         t["pattern"] = "(unclosed";
       },
       "definitions.transforms.t.pattern", "invalid_config_value"},
      {"transform cycle",
       [](json::value& d) {
         auto& a = at(d, {"definitions", "transforms", "a"});
         a["kind"] = "chain";
         a["steps"] = json::array{"b"};
         auto& b = at(d, {"definitions", "transforms", "b"});
         b["kind"] = "chain";
         b["steps"] = json::array{"trim", "a"};
       },
       "definitions.transforms.a.steps", "transform_cycle"},
      {"duplicate query name",
       [](json::value& d) {
         d.at("discovery").at("enrichments").as_array()[0].as_object()["name"] = "visibility";
       },
       "discovery.enrichments[0].name", "duplicate_name"},
      {"undefined template variable",
       [](json::value& d) {
         d.at("discovery").at("queries").as_array()[0].as_object()["template"] =
             "SELECT * WHERE x = '{sbid}'";
       },
       "discovery.queries[0].template", "undefined_template_variable"},
      {"empty query template",
       [](json::value& d) {
         d.at("discovery").at("queries").as_array()[0].as_object()["template"] = " ";
       },
       "discovery.queries[0].template", "required"},
      {"missing query adapter",
       [](json::value& d) {
         d.at("discovery").at("queries").as_array()[0].as_object().erase("adapter");
       },
       "discovery.queries[0].adapter", "required"},
      {"unknown query adapter",
       [](json::value& d) {
         d.at("discovery").at("queries").as_array()[0].as_object()["adapter"] = "mast";
       },
       "discovery.queries[0].adapter", "invalid_config_value"},
      {"mapping without from",
       [](json::value& d) {
         at(d, {"discovery", "prepare_metadata", "field_map", "scan_id"})["transform"] = "trim";
       },
       "discovery.prepare_metadata.field_map.scan_id.from", "required"},
      {"empty exclude field",
       [](json::value& d) {
         at(d, {"discovery", "prepare_metadata", "signature"})["exclude_fields"] =
             json::array{"access_url", ""};
       },
       "discovery.prepare_metadata.signature.exclude_fields[1]", "invalid_config_value"},
      {"bad match kind",
       [](json::value& d) {
         d.at("graph_patches").as_array()[0].at("match").as_object()["kind"] = "node_id";
       },
       "graph_patches[0].match.kind", "unknown_graph_patch_match_kind"},
      {"empty equals",
       [](json::value& d) {
         d.at("graph_patches").as_array()[0].at("match").as_object()["equals"] = "";
       },
       "graph_patches[0].match.equals", "required"},
      {"missing match",
       [](json::value& d) { d.at("graph_patches").as_array()[0].as_object().erase("match"); },
       "graph_patches[0].match", "required"},
      {"empty set",
       [](json::value& d) {
         d.at("graph_patches").as_array()[0].as_object()["set"] = json::object();
       },
       "graph_patches[0].set", "required"},
      {"bad expression",
       [](json::value& d) {
         d.at("graph_patches").as_array()[0].at("set").as_object()["num_of_copies"] =
             "$count(sbids[].datasets[]";
       },
       "graph_patches[0].set.num_of_copies", "invalid_expression"},
      {"unknown expression function",
       [](json::value& d) {
         d.at("graph_patches").as_array()[0].at("set").as_object()["x"] = "$max(a)";
       },
       "graph_patches[0].set.x", "invalid_expression"},
      {"inventory schema",
       [](json::value& d) { at(d, {"output_verification"})["inventory_schema"] = "v0"; },
       "output_verification.inventory_schema", "unsupported_output_inventory_schema"},
      {"bad expand_from", [](json::value& d) { at(d, {"manifest"})["expand_from"] = "sources"; },
       "manifest.expand_from", "invalid_config_value"},
      {"source_template not an object",
       [](json::value& d) { at(d, {"manifest"})["source_template"] = "x"; },
       "manifest.source_template", "invalid_config_structure"},
  };
  for (const auto& c : cases) {
    std::string name = c.name;
    CAPTURE(name);
    auto doc = minimal_doc();
    c.mutate(doc);
    auto r = validate_project_config_text(json::serialize(doc));
    INFO(describe(r.errors));
    CHECK_FALSE(r.valid);
    CHECK(has(r, c.path, c.code));
    CHECK(is_sha256_hex(r.spec_sha256));
  }
  // and the unmodified base is valid
  auto ok = validate_project_config_text(kMinimalValid);
  INFO(describe(ok.errors));
  CHECK(ok.valid);
}

TEST_CASE("YAML-level errors") {
  auto r = validate_project_config_text("apiVersion: [unclosed\nkind: x\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].code == "invalid_yaml");
  CHECK(r.errors[0].path.rfind("line ", 0) == 0);
  CHECK(r.spec_sha256 ==
        sha256_hex("apiVersion: [unclosed\nkind: x\n"));  // raw-bytes hash on parse failure
  CHECK_FALSE(r.config);

  r = validate_project_config_text("apiVersion: beampipe.dev/v1\napiVersion: beampipe.dev/v2\n");
  CHECK(has(r, "apiVersion", "invalid_config_structure"));  // duplicate key

  r = validate_project_config_text("- a\n- b\n");
  CHECK(has(r, "(document)", "invalid_config_structure"));
  r = validate_project_config_text("");
  CHECK(has(r, "(document)", "invalid_config_structure"));
  r = validate_project_config_text(
      "{\"apiVersion\": ");  // broken JSON falls back to YAML and reports it
  CHECK_FALSE(r.valid);
  CHECK(r.errors[0].code == "invalid_yaml");
}

TEST_CASE("all problems are reported at once") {
  auto doc = minimal_doc();
  doc.as_object()["kind"] = "Nope";
  at(doc, {"metadata"})["typo"] = true;
  at(doc, {"adapters", "tap"})["timeout_seconds"] = 0;
  at(doc, {"discovery", "prepare_metadata", "field_map", "sbid"})["transform"] = "ghost";
  auto r = validate_project_config_text(json::serialize(doc));
  CHECK(r.errors.size() >= 4);
  CHECK(has(r, "kind", "invalid_kind"));
  CHECK(has(r, "metadata.typo", "invalid_config_structure"));
  CHECK(has(r, "adapters.tap.timeout_seconds", "invalid_limit"));
  CHECK(has(r, "discovery.prepare_metadata.field_map.sbid.transform", "unknown_transform"));
}

TEST_CASE("report JSON shape") {
  auto doc = minimal_doc();
  at(doc, {"metadata"})["typo"] = 1;
  auto r = validate_project_config_text(json::serialize(doc));
  auto j = r.to_json().as_object();
  CHECK(j.at("project_id") == "demo");
  CHECK(j.at("valid") == false);
  CHECK_FALSE(j.contains("warnings"));  // omitted when empty
  const auto& e = j.at("errors").as_array().at(0).as_object();
  CHECK(e.at("path") == "metadata.typo");
  CHECK(e.at("severity") == "error");
  CHECK(e.at("code") == "invalid_config_structure");
  CHECK(e.contains("message"));
  CHECK(e.contains("hint"));
  CHECK(j.at("spec_sha256").as_string().size() == 64);
}

TEST_CASE("upload warnings against the previous config") {
  auto prev = parse_project_config(reference("wallaby_hires.v1.yaml")).config.value();
  auto next = prev;
  CHECK(compare_with_previous(prev, next).empty());
  next.discovery.prepare_metadata->signature->exclude_fields.push_back("t_exptime");
  next.definitions->transforms["extra"].kind = "trim";
  auto ws = compare_with_previous(prev, next);
  REQUIRE(ws.size() == 2);
  CHECK(ws[0].code == "signature_changed");
  CHECK(ws[0].severity == Severity::warning);
  CHECK(ws[1].code == "definitions_changed");
}

TEST_CASE("YAML scalars resolve with the core schema; quoted stay strings") {
  auto d = parse_yaml_or_json(
      "a: 1\nb: '1'\nc: 1.50\nd: true\ne: ~\nf: 0x10\ng: -7\nh: 1e3\ni: hello\nj: \"true\"\nk: "
      "99999999999999999999\n");
  REQUIRE(d.value);
  const auto& o = d.value->as_object();
  CHECK(o.at("a").is_int64());
  CHECK(o.at("b").is_string());
  CHECK(o.at("c").as_double() == 1.5);
  CHECK(o.at("d").as_bool());
  CHECK(o.at("e").is_null());
  CHECK(o.at("f").as_int64() == 16);
  CHECK(o.at("g").as_int64() == -7);
  CHECK(o.at("h").as_double() == 1000.0);
  CHECK(o.at("i").as_string() == "hello");
  CHECK(o.at("j").is_string());
  CHECK(o.at("k").is_double());
}

TEST_CASE("hostile input never throws") {
  // alias expansion bomb
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + "]\n";
    prev = c;
  }
  auto r = validate_project_config_text(bomb);
  CHECK_FALSE(r.valid);
  // deep nesting
  CHECK_FALSE(validate_project_config_text(std::string(5000, '[')).valid);
  CHECK_FALSE(validate_project_config_text(std::string(200, '{') + std::string(200, '}')).valid);
  // random bytes and truncations of a real config
  auto text = reference("wallaby_hires.v1.yaml");
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::string t = text.substr(0, rng() % text.size());
    if (i % 2)
      t[rng() % (t.size() + 1 == 0 ? 1 : t.size() + 1) % (t.empty() ? 1 : t.size())] =
          static_cast<char>(rng());
    CHECK_NOTHROW((void)validate_project_config_text(t));
  }
}

TEST_CASE("lenient execution policy from raw JSON (§4.1)") {
  auto spec =
      json::parse(R"({"automation":{"execution":{"enabled":true,"max_sources_per_execution":0,
    "tick_execution_run_limit":"50","min_sources_to_trigger":3,"concurrent_execution_run_limit":-2,
    "execution_rest_remote_poll_interval_seconds":2.5,"deployment_profile_name":"p","bogus":1}}})");
  auto e = lenient_execution_policy(spec);
  CHECK(e.enabled);
  CHECK(e.max_sources_per_execution == 20);  // 0 → default
  CHECK(e.tick_execution_run_limit == 20);   // string → default
  CHECK(e.min_sources_to_trigger == 3);
  CHECK_FALSE(e.concurrent_execution_run_limit);
  CHECK(*e.execution_rest_remote_poll_interval_seconds == 2.5);
  CHECK(*e.deployment_profile_name == "p");
  CHECK(lenient_execution_policy(json::value("garbage")).max_sources_per_execution == 20);
}

// Graph patches, expressions and beampipe-ingest injection (spec §7.1–7.3, §12.10),
// on the real WALLABY DALiuGE graphs.
#include <doctest/doctest.h>

#include "domain/canonical_json.hpp"
#include "domain/graph_prep.hpp"
#include "domain/manifest.hpp"
#include "domain/project_config.hpp"
#include "util/json_delta.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
json::value load_graph(const char* name) {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/graphs/" + name);
  REQUIRE(text);
  return json::parse(*text);
}
constexpr const char* kSetonix = "wallaby-hires_deploy-setonix-beampipe.graph";
constexpr const char* kNoDownloads = "wallaby-hires_test-pipeline-nodownloads-beampipe.graph";

const json::object* node(const json::value& g, std::string_view name) {
  for (const auto& n : g.at("nodeDataArray").as_array())
    if (n.at("name").is_string() && n.at("name").get_string() == name) return &n.as_object();
  return nullptr;
}
const json::object* field(const json::object& node, std::string_view name) {
  for (const auto& f : node.at("fields").as_array())
    if (f.at("name").is_string() && f.at("name").get_string() == name) return &f.as_object();
  return nullptr;
}
json::value overrides(const char* node_name, const char* field_name, json::value v) {
  json::object f;
  f["name"] = field_name;
  f["value"] = std::move(v);
  json::object m;
  m["equals"] = node_name;
  json::object p;
  p["match"] = m;
  p["fields"] = json::array{f};
  json::object o;
  o["patches"] = json::array{p};
  return o;
}
}  // namespace

TEST_CASE("expressions: $count and $sum over paths") {
  auto source =
      json::parse(R"({"sbids":[{"sbid":"1","datasets":[{"n":2},{"n":3.9},{"n":-4},{"n":"7"}]},
                                        {"sbid":"2","datasets":[{"n":18446744073709551615}]},
                                        {"sbid":"3"}],
                                "n":5})");
  struct Case {
    const char* expr;
    std::optional<std::uint64_t> value;
  };
  const Case cases[] = {
      {"$count(sbids[].datasets[])", 5},
      {" $count( sbids[].datasets[] ) ", 5},
      {"$count(sbids[])", 3},
      {"$count(sbids)", 1},  // present → 1, not its length
      {"$count(missing[])", 0},
      {"$count(n[])", 0},                                       // not an array
      {"$sum(sbids[].datasets[].n)", 18446744073709551615ULL},  // saturates
      {"$sum(sbids[0].datasets[].n)", 0},
      {"$sum(n)", 5},
      {"$count(sbids[].sbid)", 3},
      {"$max(sbids)", std::nullopt},
      {"$count(sbids", std::nullopt},
      {"count(sbids)", std::nullopt},
      {"42", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.expr));
    CHECK(evaluate_expression(c.expr, source) == c.value);
  }
  auto small =
      json::parse(R"({"sbids":[{"datasets":[{"n":2},{"n":3.9},{"n":-4},{"n":"7"},{"n":true}]}]})");
  CHECK(evaluate_expression("$sum(sbids[].datasets[].n)", small) == 5u);  // 2 + 3 + 0 + 0 + 0
  CHECK(evaluate_expression("$count([])", json::array{1, 2}) == 2u);
  CHECK(is_graph_expression("$count(sbids[].datasets[])"));
  CHECK(is_graph_expression("$sum(a.b[].c)"));
  CHECK_FALSE(is_graph_expression("$count()"));
  CHECK_FALSE(is_graph_expression("$count(a..b)"));
  CHECK_FALSE(is_graph_expression("$count(a b)"));
}

TEST_CASE("graph_patches → graph_overrides (§7.1)") {
  GraphPatch p;
  p.match = json::parse(R"({"kind":"node_name","equals":"Scatter/GenericScatterApp"})");
  p.set =
      json::parse(R"j({"num_of_copies":"$count(sbids[].datasets[])","b_literal":"$nope","c":7})j");
  GraphPatch dropped;  // no equals: silently dropped
  dropped.match = json::object();
  dropped.set = json::parse(R"({"x":1})");
  json::object manifest;
  manifest["sources"] =
      json::parse(R"([{"sbids":[{"datasets":[1,2,3]}]},{"sbids":[{"datasets":[1]}]}])");
  manifest["graph_overrides"] = "builder default";
  apply_project_graph_patches(manifest, {p, dropped});
  CHECK(
      stable_json(manifest.at("graph_overrides")) ==
      R"({"patches":[{"fields":[{"name":"b_literal","value":"$nope"},{"name":"c","value":7},{"name":"num_of_copies","value":3}],"match":{"equals":"Scatter/GenericScatterApp"}}]})");
  // no patches: builder default stays
  json::object m2;
  m2["graph_overrides"] = "builder default";
  apply_project_graph_patches(m2, {});
  CHECK(m2.at("graph_overrides") == "builder default");
  apply_project_graph_patches(m2, {dropped});
  CHECK(m2.at("graph_overrides") == "builder default");
  // without sources the whole manifest is the context
  json::object m3;
  m3["sbids"] = json::parse(R"([{"datasets":[1]}])");
  auto o = graph_overrides_from_patches(m3, {p});
  CHECK(o->at("patches").at(0).at("fields").at(2).at("value") == 1);
}

TEST_CASE("apply overrides on the Setonix graph") {
  auto g = load_graph(kSetonix);
  REQUIRE(g.at("nodeDataArray").as_array().size() == 47);
  CHECK(field(*node(g, "Scatter/GenericScatterApp/Beam"), "num_of_copies")->at("value") == 3);
  auto st = apply_manifest_graph_overrides(
      g, overrides("Scatter/GenericScatterApp/Beam", "num_of_copies", 2));
  REQUIRE(st);
  const auto* f = field(*node(g, "Scatter/GenericScatterApp/Beam"), "num_of_copies");
  CHECK(f->at("value") == 2);
  CHECK(f->at("defaultValue") == "2");  // Integer fields also get defaultValue
  // a non-Integer field: value only
  st = apply_manifest_graph_overrides(g, overrides("process_CSV_str", "output_parser", "raw"));
  REQUIRE(st);
  const auto* op = field(*node(g, "process_CSV_str"), "output_parser");
  CHECK(op->at("value") == "raw");
  CHECK(op->at("defaultValue") == "pickle");
  // overrides may be given as the manifest that holds them
  json::object manifest;
  manifest["graph_overrides"] = overrides("Scatter/GenericScatterApp/Beam", "num_of_copies", 9);
  REQUIRE(apply_manifest_graph_overrides(g, manifest));
  CHECK(field(*node(g, "Scatter/GenericScatterApp/Beam"), "num_of_copies")->at("value") == 9);
}

TEST_CASE("strict patch failures leave the graph unchanged ([HEAD] §12.10)") {
  auto g = load_graph(kNoDownloads);
  REQUIRE(g.at("nodeDataArray").as_array().size() == 32);
  const auto before = stable_json(g);
  auto missing = apply_manifest_graph_overrides(
      g, overrides("Scatter/GenericScatterApp/Beam", "num_of_copies", 2));
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == "graph patch target node not found: Scatter/GenericScatterApp/Beam");
  auto ambiguous = apply_manifest_graph_overrides(g, overrides("source_list", "num_of_copies", 2));
  REQUIRE_FALSE(ambiguous);
  CHECK(ambiguous.error().rfind("graph patch target node is ambiguous: source_list matches ", 0) ==
        0);
  auto no_field =
      apply_manifest_graph_overrides(g, overrides("Scatter/GenericScatterApp", "num_of_copes", 2));
  REQUIRE_FALSE(no_field);
  CHECK(no_field.error() ==
        "graph patch field not found on node Scatter/GenericScatterApp: num_of_copes");
  CHECK(stable_json(g) == before);
  REQUIRE(apply_manifest_graph_overrides(
      g, overrides("Scatter/GenericScatterApp", "num_of_copies", 4)));
  CHECK(field(*node(g, "Scatter/GenericScatterApp"), "num_of_copies")->at("defaultValue") == "4");

  json::value not_graph = json::array();
  CHECK(apply_manifest_graph_overrides(not_graph, overrides("a", "b", 1)).error() ==
        "graph is not a JSON object");
  json::value no_nodes = json::object();
  CHECK(apply_manifest_graph_overrides(no_nodes, overrides("a", "b", 1)).error() ==
        "graph is not a JSON object");
}

TEST_CASE("beampipe-ingest manifest injection on the real graphs (§7.2)") {
  json::object manifest;
  manifest["inputs"] = json::object();
  manifest["sources"] = json::parse(R"([{"source_identifier":"HIPASSJ1318-21","sbids":[]}])");
  manifest["graph_overrides"] = overrides("x", "y", 1);
  for (const char* name : {kSetonix, kNoDownloads}) {
    CAPTURE(std::string(name));
    auto g = load_graph(name);
    const auto nodes = g.at("nodeDataArray").as_array().size();
    auto r = inject_manifest_config_into_graph(g, manifest, "5b3e3c1e-8a51-4c3f-9f7e-0c2d7f4b9a10",
                                               1767225600);
    REQUIRE(r);
    CHECK(r.value());
    CHECK(g.at("activeGraphConfigId") == "5b3e3c1e-8a51-4c3f-9f7e-0c2d7f4b9a10");
    const auto& cfg =
        g.at("graphConfigurations").at("5b3e3c1e-8a51-4c3f-9f7e-0c2d7f4b9a10").as_object();
    CHECK(cfg.at("id") == "5b3e3c1e-8a51-4c3f-9f7e-0c2d7f4b9a10");
    CHECK(cfg.at("modelData").at("numLGNodes") == nodes);
    CHECK(cfg.at("modelData").at("lastModifiedDatetime") == 1767225600);
    CHECK(cfg.at("modelData").at("name") == "beampipe-core Auto-generated Manifest");
    const auto* ingest = node(g, "beampipe-ingest");
    REQUIRE(ingest);
    const auto* mp = field(*ingest, "manifest_path");
    const auto& entry =
        cfg.at("nodes").at(ingest->at("id").as_string()).at("fields").at(mp->at("id").as_string());
    CHECK(
        entry.at("value") ==
        R"({"inputs":{},"sources":[{"sbids":[],"source_identifier":"HIPASSJ1318-21"}]})");  // no
                                                                                            // graph_overrides
    CHECK(entry.at("comment") == "");
    CHECK(mp->at("value") == "");  // the node field itself is not modified
  }
}

TEST_CASE("injection edge cases") {
  json::object manifest;
  manifest["sources"] = json::array();
  json::value g = json::parse(R"({"nodeDataArray":[{"name":"other","id":"n1","fields":[]}]})");
  auto r = inject_manifest_config_into_graph(g, manifest, "cid", 0);
  REQUIRE(r);
  CHECK_FALSE(r.value());  // no ingest node: no injection, no error
  CHECK_FALSE(g.as_object().contains("activeGraphConfigId"));

  g = json::parse(
      R"({"nodeDataArray":[{"name":"beampipe-ingest","id":"n1","fields":[{"name":"output_parser","id":"f0"}]}]})");
  CHECK_FALSE(
      inject_manifest_config_into_graph(g, manifest, "cid", 0).value());  // no manifest_path field
  g = json::parse(
      R"({"nodeDataArray":[{"name":"beampipe-ingest","id":7,"fields":[{"name":"manifest_path","id":"f1"}]}]})");
  CHECK_FALSE(
      inject_manifest_config_into_graph(g, manifest, "cid", 0).value());  // non-string node id

  g = json::parse(
      R"({"nodeDataArray":[{"name":"beampipe-ingest","id":"n1","fields":[{"name":"manifest_path","id":"f1"}]}]})");
  r = inject_manifest_config_into_graph(g, manifest, "cid", 0);
  REQUIRE(r);
  CHECK(r.value());
  CHECK(g.at("graphConfigurations").as_object().contains("cid"));  // created when absent

  g = json::parse(
      R"({"graphConfigurations":[],"nodeDataArray":[{"name":"beampipe-ingest","id":"n1","fields":[{"name":"manifest_path","id":"f1"}]}]})");
  CHECK(inject_manifest_config_into_graph(g, manifest, "cid", 0).error() ==
        "graph is not a JSON object");
  json::value not_obj = "graph";
  CHECK(inject_manifest_config_into_graph(not_obj, manifest, "cid", 0).error() ==
        "graph is not a JSON object");
}

TEST_CASE("end to end: WALLABY manifest patches the Setonix graph") {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/wallaby_hires.v1.yaml");
  REQUIRE(text);
  auto config = parse_project_config(*text).config.value();
  ManifestInputs in;
  in.records = json::parse(R"([
    {"source_identifier":"S","sbid":"1","dataset_id":"a"},{"source_identifier":"S","sbid":"1","dataset_id":"b"},
    {"source_identifier":"S","sbid":"2","dataset_id":"c"}])")
                   .as_array();
  auto m = build_manifest_for_project(config, in);
  REQUIRE(m);
  auto g = load_graph(kSetonix);
  const auto source = g;
  REQUIRE(inject_manifest_config_into_graph(g, m.value(), "cid", 0));
  REQUIRE(apply_manifest_graph_overrides(g, m.value()));
  CHECK(field(*node(g, "Scatter/GenericScatterApp/Beam"), "num_of_copies")->at("value") == 2);

  // The same build as replacements on the untouched graph, spliced into its text (as the
  // execute step makes a run's graph): the bytes of the graph patched in place.
  auto config_delta = manifest_config_delta(source, m.value(), "cid", 0);
  auto override_delta = manifest_graph_override_delta(source, m.value());
  REQUIRE(config_delta);
  REQUIRE(override_delta);
  CHECK(config_delta.value().size() == 2);
  CHECK(override_delta.value().size() >= 1);
  auto delta = config_delta.value();
  for (const auto& op : override_delta.value()) delta.push_back(op);
  beampipe::util::json_text_patcher patcher(json::serialize(source));
  auto spliced = patcher.apply(delta);
  REQUIRE(spliced);
  CHECK(*spliced == json::serialize(g));
  CHECK(patcher.apply(delta) == spliced);  // again, from the remembered places
}

TEST_CASE("patch_summary: nodes added, removed and modified, by field name") {
  auto before = json::parse(R"({"graphConfigurations":{},"nodeDataArray":[
    {"id":"a","name":"A","fields":[{"name":"x","value":1},{"name":"y","value":2}]},
    {"id":"b","name":"B","fields":[]},
    {"name":"C","fields":[]},
    {"id":"same","fields":[{"name":"z","value":0}]}]})");
  auto after = json::parse(R"({"graphConfigurations":{"k":{}},"nodeDataArray":[
    {"id":"a","name":"A","fields":[{"name":"x","value":1},{"name":"y","value":3},{"name":"w","value":0}]},
    {"name":"C","fields":[],"color":"red"},
    {"id":"same","fields":[{"name":"z","value":0}]},
    {"id":"d","fields":[]}]})");
  auto s = patch_summary(before, after);
  CHECK(s.at("before_node_count").as_int64() == 4);
  CHECK(s.at("after_node_count").as_int64() == 4);
  CHECK(s.at("changed_node_count").as_int64() == 4);
  CHECK(s.at("graph_configuration_changed").as_bool());
  CHECK(json::serialize(s.at("changed_nodes")) ==
        R"([{"node":"a","change":"modified","fields":["w","y"]},)"
        R"({"node":"C","change":"modified","fields":["node.color"]},)"
        R"({"node":"d","change":"added"},{"node":"b","change":"removed"}])");
  auto same = patch_summary(before, before);
  CHECK(same.at("changed_node_count").as_int64() == 0);
  CHECK_FALSE(same.at("graph_configuration_changed").as_bool());
  CHECK(patch_summary(json::value(nullptr), after).at("before_node_count").as_int64() == 0);
}

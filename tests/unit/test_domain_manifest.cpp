// Manifest builder (spec §6) including the §6.4 worked example.
#include <doctest/doctest.h>

#include <filesystem>

#include "domain/canonical_json.hpp"
#include "domain/discovery.hpp"
#include "domain/graph_prep.hpp"
#include "domain/manifest.hpp"
#include "domain/project_config.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
// Golden files live in tests/unit/data. BEAMPIPE_TEST_DATA_DIR is tried first; the
// directory next to this file is the fallback (the macro currently points at tests/data).
std::string data_file(const std::string& name) {
  for (const auto& dir : {std::filesystem::path(BEAMPIPE_TEST_DATA_DIR),
                          std::filesystem::path(__FILE__).parent_path() / "data"})
    if (std::filesystem::exists(dir / name)) return (dir / name).string();
  return name;
}
json::value read_json(const std::string& path) {
  auto text = read_config_file(path);
  REQUIRE(text);
  return json::parse(*text);
}
ProjectConfig wallaby() {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/wallaby_hires.v1.yaml");
  REQUIRE(text);
  return parse_project_config(*text).config.value();
}
json::object obj(const char* t) { return json::parse(t).as_object(); }
json::array arr(const char* t) { return json::parse(t).as_array(); }
}  // namespace

TEST_CASE("worked example §6.4 (WALLABY, two SBIDs, [HEAD] flags resolution)") {
  auto input = read_json(data_file("manifest_worked_example.input.json"));
  auto expected = read_json(data_file("manifest_worked_example.expected.json"));
  auto config = wallaby();

  // Through the persisted form: rows per SBID, then flattened (as execute does).
  auto rows = metadata_rows(input.at("records").as_array(), input.at("flags").as_object(),
                            signature_options(config));
  ManifestInputs in;
  in.records = flatten_metadata_rows(rows);
  in.staging = staging_context_from_records(in.records);
  auto manifest = build_manifest(&*config.manifest, in);
  REQUIRE(manifest);
  // before project patches: the builder default counts all datasets
  CHECK(manifest.value().at("graph_overrides").at("patches").at(0).at("fields").at(0).at("value") ==
        3);
  apply_project_graph_patches(manifest.value(), config.graph_patches);
  CHECK(stable_json(manifest.value()) == stable_json(expected));
  // $count is evaluated against sources[0] only: 2, not 3
  CHECK(manifest.value().at("graph_overrides").at("patches").at(0).at("fields").at(0).at("value") ==
        2);

  auto direct = build_manifest_for_project(config, in);
  REQUIRE(direct);
  CHECK(stable_json(direct.value()) == stable_json(expected));
}

TEST_CASE("template placeholders: whole-string only, typed values, flags fallbacks") {
  json::object rec =
      obj(R"({"sbid":"1","n":5,"discovery_flags":{"ra_string":"from-flags"},"dec_string":"flat"})");
  json::object staging = obj(R"({"vsys":"staged","data_url_by_scan_id":{"9":"https://x/9"}})");
  auto t = json::parse(
      R"({"a":"{n}","b":"x-{n}","c":"{flags.ra_string}","d":"{flags.dec_string}","e":"{flags.vsys}",
    "f":"{flags.none}","g":"{staging.data_url_by_scan_id.9}","h":"{staging.nope}","i":"{missing}","j":[{"k":"{sbid}"},3,null,true],
    "l":"{a.b}"})");
  auto out = render_manifest_template(t, rec, staging);
  CHECK(
      stable_json(out) ==
      R"({"a":5,"b":"x-{n}","c":"from-flags","d":"flat","e":"staged","f":"{flags.none}","g":"https://x/9","h":"{staging.nope}","i":"{missing}","j":[{"k":"1"},3,null,true],"l":"{a.b}"})");
}

TEST_CASE("grouping: string SBID order, unknown keys, exclusions, expand_from") {
  ManifestConfig cfg;
  cfg.group_by = {"source_identifier"};
  cfg.source_template = json::parse(R"({"name":"{source_identifier}","first_ds":"{dataset_id}"})");
  cfg.expand_from = "metadata";
  cfg.dataset_template = json::parse(R"({"id":"{dataset_id}","sbid":"{sbid}"})");
  ManifestInputs in;
  in.records = arr(R"([
    {"source_identifier":"S","sbid":"9","dataset_id":"d9"},
    {"source_identifier":"S","sbid":"10","dataset_id":"d10a"},
    {"source_identifier":"S","sbid":"10","dataset_id":"d10b"},
    {"sbid":"5","dataset_id":"anon"},
    {"source_identifier":"S","sbid":"0","dataset_id":"marker"},
    {"source_identifier":"S","dataset_id":"nosbid"},
    {"source_identifier":"S","sbid":"66","dataset_id":"denied"}
  ])");
  in.exclude_sbids = {"66"};
  auto m = build_manifest(&cfg, in);
  REQUIRE(m);
  const auto& sources = m.value().at("sources").as_array();
  REQUIRE(sources.size() == 2);  // "S" < "unknown"
  const auto& s = sources[0].as_object();
  CHECK(s.at("source_identifier") == "S");
  CHECK(s.at("first_ds") ==
        "d10a");  // first dataset of the smallest SBID in string order ("10" < "9")
  CHECK(s.at("sbids").at(0).at("sbid") == "10");
  CHECK(stable_json(s.at("sbids").at(0).at("datasets")) ==
        R"([{"id":"d10a","sbid":"10"},{"id":"d10b","sbid":"10"}])");
  CHECK(s.at("sbids").at(1).at("sbid") == "9");
  CHECK(sources[1].at("source_identifier") == "unknown");
  CHECK(m.value().at("graph_overrides").at("patches").at(0).at("fields").at(0).at("value") == 4);
  CHECK(m.value().at("inputs") == json::object());
}

TEST_CASE("default WALLABY builder and the no-datasets error") {
  ManifestInputs in;
  in.records = arr(R"([
    {"source_identifier":"B","sbid":"2","dataset_id":"x","ra_string":"1h","vsys":"5"},
    {"source_identifier":"A","sbid":"3","dataset_id":"y"},
    {"source_identifier":"A","sbid":"4","dataset_id":"z"}
  ])");
  in.exclude_sbids = {"4"};  // honoured by the default builder too
  auto m = build_manifest(nullptr, in);
  REQUIRE(m);
  const auto& sources = m.value().at("sources").as_array();
  REQUIRE(sources.size() == 2);
  CHECK(
      stable_json(sources[0]) ==
      R"({"dec_string":null,"ra_string":null,"sbids":[{"datasets":[{"dataset_id":"y","sbid":"3","source_identifier":"A"}],"sbid":"3"}],"source_identifier":"A","vsys":null})");
  CHECK(sources[1].at("ra_string") == "1h");

  ManifestInputs empty;
  empty.records = arr(R"([{"sbid":"0","datasets":[]}])");
  auto e = build_manifest(nullptr, empty);
  REQUIRE_FALSE(e);
  CHECK(e.error() == "manifest has no usable datasets");
  ManifestConfig cfg;
  CHECK(build_manifest(&cfg, empty).error() == "manifest has no usable datasets");
}

TEST_CASE("absent source_template gives an object source ([HEAD])") {
  ManifestConfig cfg;
  ManifestInputs in;
  in.records = arr(R"([{"source_identifier":"A","sbid":"3","dataset_id":"y"}])");
  auto m = build_manifest(&cfg, in);
  REQUIRE(m);
  CHECK(m.value().at("sources").at(0).at("source_identifier") == "A");
}

TEST_CASE("staging context reads what staging writes (§13 alignment)") {
  auto ctx = staging_context_from_records(arr(R"([
    {"scan_id":"1","sbid":"7","staged_url":"https://s/1","checksum_url":"https://s/1.md5","evaluation_file_url":"https://s/e"},
    {"scan_id":2,"data_url":"https://d/2"}
  ])"));
  CHECK(
      stable_json(ctx) ==
      R"({"checksum_url_by_scan_id":{"1":"https://s/1.md5"},"data_url_by_scan_id":{"1":"https://s/1","2":"https://d/2"},"eval_url_by_sbid":{"7":"https://s/e"}})");
}

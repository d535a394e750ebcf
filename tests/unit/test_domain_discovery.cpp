// Field maps, discovery flags, record preparation and the discovery signature
// (spec §5.4, §5.5, §5.8).
#include <doctest/doctest.h>

#include "domain/canonical_json.hpp"
#include "domain/discovery.hpp"
#include "domain/project_config.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
ProjectConfig wallaby() {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/wallaby_hires.v1.yaml");
  REQUIRE(text);
  auto parsed = parse_project_config(*text);
  REQUIRE(parsed.config);
  return *parsed.config;
}
json::object obj(const char* text) { return json::parse(text).as_object(); }
json::array arr(const char* text) { return json::parse(text).as_array(); }
}  // namespace

TEST_CASE("signature golden vector (spec §5.8)") {
  auto records = arr(
      R"([{"sbid":"123","dataset_id":"dataset-1","visibility_filename":"a.ms","checksum":"abc"}])");
  auto flags = obj(R"({"ra_dec_vsys_complete":true})");
  SignatureOptions opts;
  auto payload = signature_payload_from_rows(metadata_rows(records, flags, opts), opts);
  CHECK(
      stable_json(payload) ==
      R"({"123":{"datasets":[{"checksum":"abc","dataset_id":"dataset-1","sbid":"123","visibility_filename":"a.ms"}],"discovery_flags":{"ra_dec_vsys_complete":true}}})");
  CHECK(discovery_signature(records, flags, opts) ==
        "4dcd5f3236aa5a13238e7df0a8d712e3026180576154104d2bf088ea3fa3ee85");
}

TEST_CASE("no-datasets signature (spec §5.8)") {
  CHECK(no_datasets_signature() ==
        "f57cea7a8b79823abac81f1f90b3f9e594f21ae40faff4ad4935e8b149771c5f");
  std::map<std::string, json::value> rows{{"0", no_datasets_row()}};
  CHECK(existing_signature_from_rows(rows, {}) == no_datasets_signature());
}

TEST_CASE("signature: exclusions, grouping, ordering, flags option") {
  SignatureOptions opts;
  opts.exclude_fields = {"access_url", "t_max"};
  auto a = arr(R"([
    {"sbid":"2","dataset_id":"b","visibility_filename":"b.ms","access_url":"u1","nested":{"t_max":1,"k":[{"access_url":"x","v":1}]}},
    {"sbid":"2","dataset_id":"a","visibility_filename":"a.ms","access_url":"u2"},
    {"sbid":10,"dataset_id":"c","access_url":"u3"},
    {"dataset_id":"no sbid"}, {"sbid":null}, 7
  ])");
  // excluded fields do not change the signature...
  auto b = a;
  b[0].as_object()["access_url"] = "changed";
  b[0].as_object()["nested"].as_object()["t_max"] = 99;
  json::object flags;
  flags["ok"] = true;
  CHECK(discovery_signature(a, flags, opts) == discovery_signature(b, flags, opts));
  // ...but other fields do
  b[1].as_object()["checksum"] = "new";
  CHECK(discovery_signature(a, flags, opts) != discovery_signature(b, flags, opts));
  // record order does not matter
  json::array rev(a.rbegin(), a.rend());
  CHECK(discovery_signature(a, flags, opts) == discovery_signature(rev, flags, opts));

  auto payload = signature_payload_from_rows(metadata_rows(a, flags, opts), opts);
  REQUIRE(payload.size() == 2);  // "10" (number sbid as JSON text) and "2"
  CHECK(payload.contains("10"));
  const auto& ds = payload.at("2").at("datasets").as_array();
  CHECK(ds[0].at("dataset_id") == "a");  // sorted by dataset_id
  CHECK_FALSE(ds[1].as_object().contains("access_url"));
  CHECK(stable_json(ds[1].at("nested")) == R"({"k":[{"v":1}]})");  // stripped at any depth
  CHECK(payload.at("2").as_object().contains("discovery_flags"));

  // flags excluded by option, or when empty
  SignatureOptions no_flags = opts;
  no_flags.include_discovery_flags = false;
  CHECK_FALSE(signature_payload_from_rows(metadata_rows(a, flags, no_flags), no_flags)
                  .at("2")
                  .as_object()
                  .contains("discovery_flags"));
  CHECK(discovery_signature(a, flags, no_flags) == discovery_signature(a, {}, opts));
}

TEST_CASE("Q1 fix: stored rows keep full records; the stored-row signature equals the new one") {
  SignatureOptions opts;
  opts.exclude_fields = {"access_url"};
  auto records = arr(R"([{"sbid":"7","dataset_id":"d2","access_url":"https://casda/2"},
                         {"sbid":"7","dataset_id":"d1","access_url":"https://casda/1"}])");
  json::object flags;
  flags["ra_dec_vsys_complete"] = true;
  auto rows = metadata_rows(records, flags, opts);
  const auto& stored = rows.at("7").at("datasets").as_array();
  CHECK(stored[0].at("access_url") == "https://casda/1");  // kept for staging
  CHECK(stored[0].at("dataset_id") == "d1");
  CHECK(rows.at("7").at("discovery_flags") == flags);
  CHECK(existing_signature_from_rows(rows, opts) == discovery_signature(records, flags, opts));
  // flags are stored even when the signature ignores them (readiness needs them)
  SignatureOptions no_flags = opts;
  no_flags.include_discovery_flags = false;
  CHECK(metadata_rows(records, flags, no_flags).at("7").as_object().contains("discovery_flags"));
  CHECK(flatten_metadata_rows(rows).size() == 2);
  CHECK(flatten_metadata_rows(rows, {"8"}).empty());
}

TEST_CASE("coordinate formats") {
  CHECK(degrees_to_ra(199.5) == "13h18m0s");
  CHECK(degrees_to_dec(-21.5) == "-21.30.0");
  CHECK(degrees_to_ra(0) == "0h0m0s");
  CHECK(degrees_to_ra(10.123) == "0h40m29.52s");
  CHECK(degrees_to_dec(45.25) == "45.15.0");
  CHECK(degrees_to_dec(-0.5) == "-0.30.0");  // sign kept (earlier implementation printed 0.30.0)
}

TEST_CASE("field map semantics (§5.4)") {
  auto c = wallaby();
  const auto& defs = c.transforms();
  auto row = obj(R"({"OBS_ID":" ASKAP-72962 ","filename":"f.ms","sbid":"72962"})");
  json::object enrich;
  enrich["eval"] = obj(R"({"72962":{"x":1}})");
  Mapping m;
  m.from = "obs_id";  // exact, lower, upper lookup
  m.transform = TransformRef(std::string("normalized_sbid"));
  CHECK(*mapped_value(row, m, "S", enrich, defs) == "72962");
  m.transform = TransformRef(
      std::vector<std::string>{"askap_sbid", "trim"});  // inline chain applied ([HEAD])
  CHECK(*mapped_value(row, m, "S", enrich, defs) == "72962");
  m.from = "missing";
  m.transform.reset();
  CHECK_FALSE(mapped_value(row, m, "S", enrich, defs));
  m.from = "filename";
  m.transform = TransformRef(std::string("askap_sbid"));  // yields nothing → absent
  CHECK_FALSE(mapped_value(row, m, "S", enrich, defs));
  m.from = "source_identifier";
  m.transform.reset();
  CHECK(*mapped_value(row, m, "HIPASSJ1", enrich, defs) == "HIPASSJ1");
  m.from = "enrichments.eval";
  CHECK(stable_json(*mapped_value(row, m, "S", enrich, defs)) == R"({"x":1})");
  m.from = "enrichment.other";
  CHECK(mapped_value(row, m, "S", enrich, defs)->is_null());
  m.from = "enrichments.eval";
  CHECK_FALSE(
      mapped_value(obj(R"({"filename":"x"})"), m, "S", enrich, defs));  // neither sbid nor obs_id
}

TEST_CASE("WALLABY discovery end to end: flags, records, SBIDs, signature") {
  auto c = wallaby();
  auto primary = arr(R"([
    {"obs_id":"ASKAP-72962","filename":"HIPASSJ1318-21_A_beam00.ms.tar","obs_publisher_did":"ivo://askap/scan/2024-01-31#879912",
     "access_url":"https://casda/1","t_max":60345.5,"obs_collection":"WALLABY","FILESIZE":12},
    {"obs_id":"ASKAP-72962","filename":"HIPASSJ1318-21_A_beam01.ms.tar","obs_publisher_did":"ivo://askap/scan/2024-01-31#879913",
     "access_url":"https://casda/2","t_max":60345.5,"obs_collection":"WALLABY"},
    {"obs_id":"ASKAP-72963","filename":"HIPASSJ1318-21_B_beam00.ms.tar","obs_publisher_did":"ivo://askap/scan/2024-02-01#880001",
     "access_url":"https://casda/3","t_max":60346.5,"obs_collection":"WALLABY"}
  ])");
  CHECK(sbids_from_primary_rows(primary, c) == std::vector<std::string>{"72962", "72963"});

  Enrichments enrich;
  enrich["ra_dec_vsys"] = arr(
      R"([{"HIPASS":"J1318-21","RAJ2000":"199.5","DEJ2000":"-21.5","RVmom":"1495.2","RV50max":1}])");
  json::object per_sbid;
  per_sbid["72962"] = obj(
      R"({"filename":"calibration-metadata-processing-logs-SB72962_2024.tar","format":"calibration",
                             "sbid":"72962","access_url":"https://casda/eval"})");
  enrich["sbid_to_eval_file"] = per_sbid;

  auto prepared = prepare_discovery("HIPASSJ1318-21", primary, enrich, c);
  CHECK(
      stable_json(prepared.flags) ==
      R"({"dec_string":"-21.30.0","ra_dec_vsys_complete":true,"ra_string":"13h18m0s","vsys":"1495.2"})");
  REQUIRE(prepared.records.size() == 3);
  const auto& r0 = prepared.records[0].as_object();
  CHECK(r0.at("sbid") == "72962");
  CHECK(r0.at("scan_id") == "879912");
  CHECK(r0.at("dataset_id") == "HIPASSJ1318-21_A_beam00.ms.tar");
  CHECK(r0.at("visibility_filename") == "HIPASSJ1318-21_A_beam00.ms.tar");
  CHECK(r0.at("source_identifier") == "HIPASSJ1318-21");
  CHECK(r0.at("obs_id") == "ASKAP-72962");          // raw columns copied...
  CHECK(r0.at("filesize") == 12);                   // ...under lowercased names
  CHECK(r0.at("access_url") == "https://casda/1");  // Q1: kept in the record
  CHECK(r0.at("sbid_to_eval_file").at("format") == "calibration");
  CHECK(r0.at("evaluation_file") == "calibration-metadata-processing-logs-SB72962_2024.tar");
  CHECK(r0.at("evaluation_file_access_url") == "https://casda/eval");
  CHECK(r0.at("ra_string") == "13h18m0s");
  CHECK(r0.at("vsys") == "1495.2");
  CHECK_FALSE(
      prepared.records[2].as_object().contains("sbid_to_eval_file"));  // no enrichment for 72963

  auto opts = signature_options(c);
  auto sig = discovery_signature(prepared.records, prepared.flags, opts);
  CHECK(sig.size() == 64);
  // access_url, filesize, t_max are excluded from the signature
  auto changed = prepared.records;
  changed[0].as_object()["access_url"] = "https://mirror/1";
  changed[0].as_object()["t_max"] = 1.0;
  CHECK(discovery_signature(changed, prepared.flags, opts) == sig);
  auto rows = metadata_rows(prepared.records, prepared.flags, opts);
  CHECK(rows.size() == 2);
  CHECK(existing_signature_from_rows(rows, opts) == sig);
}

TEST_CASE("discovery flags: paths, transforms and the WALLABY extra") {
  TransformDefinitions defs;
  defs["present"].kind = "is_present";
  defs["digits"].kind = "extract_digits";
  std::map<std::string, Mapping> fm;
  fm["rows"] = Mapping{"enrichments.q", TransformRef(std::string("present"))};
  fm["raw"] = Mapping{"enrichments.q", std::nullopt};
  fm["missing"] = Mapping{"enrichments.nope.deep", std::nullopt};
  fm["keep_raw"] =
      Mapping{"enrichments.name", TransformRef(std::string("digits"))};  // nothing → raw
  fm["outside"] = Mapping{"other.q", std::nullopt};
  Enrichments e;
  e["q"] = json::array();
  e["name"] = "abc";
  auto flags = compute_discovery_flags(fm, e, defs);
  CHECK(flags.at("rows") == false);
  CHECK(flags.at("raw") == json::array());
  CHECK(flags.at("missing").is_null());
  CHECK(flags.at("keep_raw") == "abc");
  CHECK(flags.at("outside").is_null());

  // WALLABY extra: numeric coordinates always overwrite; non-numeric only fill; vsys fallbacks
  std::map<std::string, Mapping> preset;
  Enrichments e2;
  e2["ra_dec_vsys"] = arr(R"([{"ra_j2000":10.123,"DEC_J2000":"not a number","RV50MAX":"1200"}])");
  auto f2 = compute_discovery_flags(preset, e2, defs);
  CHECK(f2.at("ra_string") == "0h40m29.52s");
  CHECK(f2.at("dec_string") == "not a number");
  CHECK(f2.at("vsys") == "1200");
  e2["ra_dec_vsys"] = json::array();
  CHECK(compute_discovery_flags(preset, e2, defs).empty());
}

TEST_CASE("sbid_to_eval_file calibration selection ([HEAD])") {
  auto rows = arr(R"([
    {"filename":"calibration-metadata-processing-logs-SB5_a.tar","format":"calibration","access_url":"u","filesize":1},
    {"filename":"calibration-metadata-processing-logs-SB5_b.tar","format":"calibration","access_url":"u","filesize":9},
    {"filename":"calibration-metadata-processing-logs-SB55_c.tar","format":"calibration","access_url":"u","filesize":99}
  ])");
  auto r = select_calibration_row(rows, "5");
  REQUIRE(r);
  CHECK(r.value().at("filename") == "calibration-metadata-processing-logs-SB5_b.tar");
  auto none = select_calibration_row(rows, "6");
  REQUIRE_FALSE(none);
  CHECK(none.error() == "SBID 6 has no valid calibration metadata archive");
  rows.push_back(rows[0]);
  auto dup = select_calibration_row(rows, "5");
  REQUIRE_FALSE(dup);
  CHECK(dup.error().find("duplicate calibration metadata archive rows") != std::string::npos);
}

TEST_CASE("aggregate signature is order independent") {
  std::map<std::string, std::string> a{{"S1", "aa"}, {"S2", "bb"}};
  CHECK(aggregate_discovery_signature(a) == sha256_hex(R"({"S1":"aa","S2":"bb"})"));
}

TEST_CASE("discovery decision and the TAP-skip rule (Q8 fix)") {
  SignatureOptions opts;
  opts.exclude_fields = {"access_url"};
  PreparedDiscovery p;
  p.records =
      arr(R"([{"sbid":"1","dataset_id":"a","access_url":"u"},{"sbid":"2","dataset_id":"b"}])");
  p.flags["ok"] = true;

  auto first = decide_discovery(p, "", {}, opts);
  CHECK(first.changed);
  CHECK_FALSE(first.no_datasets);
  CHECK(first.datasets == 2);
  CHECK(first.rows.size() == 2);
  CHECK(first.signature == discovery_signature(p.records, p.flags, opts));

  // same data again (only an excluded field differs): unchanged
  auto again = p;
  again.records[0].as_object()["access_url"] = "mirror";
  auto second = decide_discovery(again, first.signature, first.rows, opts);
  CHECK_FALSE(second.changed);
  // stored signature null: recomputed from the stored rows
  CHECK_FALSE(decide_discovery(again, "", first.rows, opts).changed);

  // SBID 2 disappears: changed, and its row is deleted
  PreparedDiscovery fewer;
  fewer.records = arr(R"([{"sbid":"1","dataset_id":"a"}])");
  fewer.flags = p.flags;
  auto third = decide_discovery(fewer, first.signature, first.rows, opts);
  CHECK(third.changed);
  CHECK(third.delete_sbids == std::vector<std::string>{"2"});

  // no datasets: the "0" marker row and its fixed signature
  auto empty = decide_discovery(PreparedDiscovery{}, first.signature, first.rows, opts);
  CHECK(empty.no_datasets);
  CHECK(empty.changed);
  CHECK(empty.signature == no_datasets_signature());
  CHECK(empty.delete_sbids.size() == 2);

  // TAP skip only when the signature matches the rows and the check is fresh
  CHECK(tap_skip_allowed(first.signature, first.rows, opts, 1.0, 24.0));
  CHECK_FALSE(tap_skip_allowed(first.signature, first.rows, opts, 30.0, 24.0));
  CHECK_FALSE(tap_skip_allowed(first.signature, first.rows, opts, std::nullopt, 24.0));
  CHECK_FALSE(tap_skip_allowed("other", first.rows, opts, 1.0, 24.0));
  CHECK_FALSE(tap_skip_allowed(first.signature, {}, opts, 1.0, 24.0));
  SignatureOptions changed_opts = opts;
  changed_opts.exclude_fields.push_back("dataset_id");  // signature options changed → re-query
  CHECK_FALSE(tap_skip_allowed(first.signature, first.rows, changed_opts, 1.0, 24.0));
}

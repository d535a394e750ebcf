// Run diffs (issue #22): structural JSON diffs at JSON Pointer and YAML paths, and the parts of
// a run diff (sources and signatures, manifest without its run record).
#include <doctest/doctest.h>

#include "domain/run_diff.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
std::vector<std::pair<std::string, std::string>> paths(const json_diff& d) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& c : d.changes) out.emplace_back(c.path, c.change);
  return out;
}
}  // namespace

TEST_CASE("diff_json: leaves that differ, at JSON Pointer paths with escapes") {
  auto a = json::parse(R"({"a":{"x":1,"a/b":2,"t~":3},"list":[1,2,3],"same":true})");
  auto b = json::parse(R"({"a":{"x":2,"a/b":2,"new":null},"list":[1,5],"same":true})");
  auto d = diff_json(a, b, path_style::json_pointer);
  CHECK(paths(d) == std::vector<std::pair<std::string, std::string>>{{"/a/new", "added"},
                                                                     {"/a/t~0", "removed"},
                                                                     {"/a/x", "changed"},
                                                                     {"/list/1", "changed"},
                                                                     {"/list/2", "removed"}});
  CHECK(d.changes[2].before == 1);
  CHECK(d.changes[2].after == 2);
  CHECK(diff_json(a, a, path_style::json_pointer).total == 0);
}

TEST_CASE("diff_json: YAML paths quote keys that are not plain") {
  auto a = json::parse(R"({"discovery":{"queries":[{"name":"v"}]},"odd.key":1})");
  auto b = json::parse(R"({"discovery":{"queries":[{"name":"w"}]},"odd.key":2})");
  auto d = diff_json(a, b, path_style::yaml);
  CHECK(paths(d) == std::vector<std::pair<std::string, std::string>>{
                        {"discovery.queries[0].name", "changed"}, {"[\"odd.key\"]", "changed"}});
  auto whole = diff_json(json::value(1), json::value("x"), path_style::yaml);
  CHECK(whole.total == 1);
  CHECK(whole.changes[0].path.empty());
}

TEST_CASE("diff_json: keeps the first `limit` changes and counts them all") {
  json::array x, y;
  for (int i = 0; i < 50; ++i) {
    x.push_back(i);
    y.push_back(i + 1);
  }
  auto d = diff_json(x, y, path_style::json_pointer, 10);
  CHECK(d.changes.size() == 10);
  CHECK(d.total == 50);
  CHECK(to_json(d).at("truncated") == true);
}

TEST_CASE("run_diff: sources, signatures and the manifest without its run record") {
  run_facts a, b;
  a.row = json::parse(R"({"uuid":"a","project_module":"m","project_spec_sha256":"s1",
    "sources":[{"source_identifier":"S1"},{"source_identifier":"S2"}],
    "source_signatures":{"S1":"x","S2":"y"},"discovery_signature":"d1",
    "workflow_manifest":{"sources":["S1"],"beampipe_run_record":{"polls":1}},
    "manifest_sha256":"m1","patched_graph_sha256":null,
    "deployment_profile_snapshot":{"name":"p","revision":1,"deployment":{"kind":"rest_remote"}}})")
              .as_object();
  b.row = a.row;
  b.row["uuid"] = "b";
  b.row["workflow_manifest"] =
      json::parse(R"({"sources":["S1"],"beampipe_run_record":{"polls":9}})");
  b.row["deployment_profile_snapshot"].as_object()["revision"] = 2;
  auto same = run_diff(a, b);
  CHECK(same.at("same") == true);  // the run record and the profile revision are not the run's ask
  b.row["sources"] = json::parse(R"([{"source_identifier":"S1"},{"source_identifier":"S3"}])");
  b.row["source_signatures"] = json::parse(R"({"S1":"z","S3":"w"})");
  b.row["workflow_manifest"] = json::parse(R"({"sources":["S1","S3"]})");
  auto d = run_diff(a, b);
  CHECK(d.at("same") == false);
  const auto& s = d.at("sources").as_object();
  CHECK(s.at("added") == json::parse(R"(["S3"])"));
  CHECK(s.at("removed") == json::parse(R"(["S2"])"));
  CHECK(s.at("signature_changed").as_array().size() == 1);
  const auto& m = d.at("manifest").at("diff").at("changes").as_array();
  REQUIRE(m.size() == 1);
  CHECK(m[0].at("path") == "/sources/1");
  CHECK(m[0].at("change") == "added");
  CHECK(d.at("config").at("diff").is_null());  // no config specs given
  CHECK(d.at("graph").at("summary").is_null());
}

// The artifact store keeps a patched graph as its base plus JSON replacements (issue #24): what
// is read back is the same bytes under the same digest, whatever was stored.
#include <doctest/doctest.h>

#include "pg_fixture.hpp"
#include "store/artifact_store.hpp"
#include "util/hash.hpp"
#include "util/json_delta.hpp"

using namespace beampipe;
namespace json = boost::json;

namespace {

struct stored_row {
  int64_t content_bytes = 0, size_bytes = 0;
  std::string base;
};

stored_row row_of(pqxx::connection& c, const std::string& sha) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec_params(
      "SELECT octet_length(content), size_bytes, coalesce(base_sha256, '') FROM artifact_blobs "
      "WHERE sha256 = $1",
      sha);
  REQUIRE(r.size() == 1);
  return {r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<std::string>()};
}

// A graph of `nodes` nodes, and that graph with a configuration added and one field set.
std::pair<json::value, json::value> graph_and_patched(int nodes, const std::string& config) {
  json::array arr;
  for (int i = 0; i < nodes; ++i)
    arr.push_back(json::object{{"id", "n" + std::to_string(i)},
                               {"fields", json::array{json::object{{"name", "x"}, {"value", i}}}}});
  json::value graph = json::object{{"nodeDataArray", arr}, {"linkDataArray", json::array{}}};
  auto patched = graph;
  patched.as_object()["graphConfigurations"] = json::object{{config, json::object{{"k", config}}}};
  patched.as_object()["activeGraphConfigId"] = config;
  patched.at("nodeDataArray").as_array()[3].at("fields").as_array()[0].as_object()["value"] = "set";
  return {graph, patched};
}

store::artifact_input delta_input(const std::string& patched_text, const std::string& base_text,
                                  const json::value& base, const json::value& patched) {
  store::artifact_input in{"application/json", &patched_text, {}};
  in.delta = store::artifact_input::as_delta{&base_text, util::sha256_hex(base_text),
                                             json::serialize(util::json_delta(base, patched))};
  return in;
}

}  // namespace

TEST_CASE("a patched graph stored as a delta of its base reads back as its own bytes") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto [graph, patched] = graph_and_patched(2000, "cfg-1");
  auto base_text = json::serialize(graph), patched_text = json::serialize(patched);
  auto shas = store::put_artifacts(*c, {delta_input(patched_text, base_text, graph, patched)});
  REQUIRE(shas.size() == 1);
  CHECK(shas[0] == util::sha256_hex(patched_text));
  auto row = row_of(*c, shas[0]);
  CHECK(row.base == util::sha256_hex(base_text));
  CHECK(row.size_bytes == static_cast<int64_t>(patched_text.size()));
  CHECK(row.content_bytes * 20 < row.size_bytes);  // the replacements, not the graph
  CHECK(row_of(*c, row.base).base.empty());        // the base is stored whole
  auto blob = store::get_artifact(*c, shas[0]);
  REQUIRE(blob);
  CHECK(blob->content == patched_text);
  CHECK(blob->media_type == "application/json");
  REQUIRE(store::get_artifact(*c, row.base));
  CHECK(store::get_artifact(*c, row.base)->content == base_text);

  // A second run of the same graph: the base is not stored again; the same bytes again are
  // the same row.
  auto [g2, p2] = graph_and_patched(2000, "cfg-2");
  auto p2_text = json::serialize(p2);
  auto again = store::put_artifacts(*c, {delta_input(p2_text, base_text, g2, p2),
                                         delta_input(patched_text, base_text, graph, patched)});
  CHECK(again[1] == shas[0]);
  CHECK(store::get_artifact(*c, again[0])->content == p2_text);
  pqxx::read_transaction tx{*c};
  CHECK(tx.exec("SELECT count(*) FROM artifact_blobs")[0][0].as<int>() == 3);
}

TEST_CASE("a delta is never made on a delta, and one that does not rebuild is an error") {
  auto ci = test::fresh_database();
  auto c = store::connect(ci);
  auto [graph, patched] = graph_and_patched(50, "cfg-1");
  auto base_text = json::serialize(graph), patched_text = json::serialize(patched);
  store::put_artifacts(*c, {delta_input(patched_text, base_text, graph, patched)});
  // A graph whose base is that patched graph (stored as a delta): stored whole.
  auto twice = patched;
  twice.as_object()["activeGraphConfigId"] = "cfg-2";
  auto twice_text = json::serialize(twice);
  auto sha = store::put_artifacts(*c, {delta_input(twice_text, patched_text, patched, twice)})[0];
  CHECK(row_of(*c, sha).base.empty());
  CHECK(row_of(*c, sha).content_bytes == static_cast<int64_t>(twice_text.size()));
  CHECK(store::get_artifact(*c, sha)->content == twice_text);

  // Replacements that do not give the digest's bytes (a corrupted row) are refused on read.
  auto bad_sha = util::sha256_hex(patched_text);
  {
    pqxx::work tx{*c};
    tx.exec_params("UPDATE artifact_blobs SET content = $2 WHERE sha256 = $1", bad_sha,
                   pqxx::binarystring(std::string(R"([[["activeGraphConfigId"],"other"]])")));
    tx.commit();
  }
  CHECK_THROWS_WITH(store::get_artifact(*c, bad_sha), doctest::Contains("does not rebuild"));
  CHECK_FALSE(store::get_artifact(*c, std::string(64, 'a')));
}

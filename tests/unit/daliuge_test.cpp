// DALiuGE pure helpers (protocols §4.1, §5.2, §5.3; domain §3.6, §7.4).
#include "domain/daliuge.hpp"

#include <doctest/doctest.h>

namespace json = boost::json;
using namespace beampipe::domain;

namespace {

execution_status classify(std::string_view raw_json) {
  return dim_execution_status(dim_session_state_from_raw(json::parse(raw_json)));
}

using ES = execution_status;
using DS = dim_session_state;

}  // namespace

TEST_CASE("daliuge: §5.3 golden vectors for session status") {
  // Integers.
  CHECK(classify("4") == ES::completed);
  CHECK(classify("5") == ES::cancelled);
  CHECK(classify("6") == ES::failed);
  CHECK(classify("3") == ES::running);
  CHECK(classify("2") == ES::running);
  // Strings.
  CHECK(classify(R"("FINISHED")") == ES::completed);
  CHECK(classify(R"("Finished")") == ES::completed);
  CHECK(classify(R"("CANCELLED")") == ES::cancelled);
  CHECK(classify(R"("FAILED")") == ES::failed);
  CHECK(classify(R"("ERROR")") == ES::failed);
  CHECK(classify(R"("Running")") == ES::running);
  // Objects with a status key.
  CHECK(classify(R"({"status":4})") == ES::completed);
  CHECK(classify(R"({"status":"FINISHED"})") == ES::completed);
  CHECK(classify(R"({"status":5})") == ES::cancelled);
  CHECK(classify(R"({"status":6})") == ES::failed);
  // Per-node maps.
  CHECK(classify(R"({"a:8000:5555:6666":4,"b:8000:5555:6666":4})") == ES::completed);
  CHECK(classify(R"({"a:8000:5555:6666":4,"b:8000:5555:6666":6})") == ES::failed);
  CHECK(classify(R"({"a:8000:5555:6666":5,"b:8000:5555:6666":5})") == ES::cancelled);
  CHECK(classify(R"({"a:8000:5555:6666":2,"b:8000:5555:6666":4})") == ES::running);
  // Drop errors.
  auto uids = dim_error_drop_uids(json::parse(R"({"drop_a":3,"drop_b":2})"));
  CHECK(uids == std::vector<std::string>{"drop_a"});
}

TEST_CASE("daliuge: session state details") {
  auto st = [](std::string_view s) { return dim_session_state_from_raw(json::parse(s)); };
  CHECK(st("0") == DS::pristine);
  CHECK(st("1") == DS::building);
  CHECK(st("7") == DS::unknown);
  CHECK(st("-1") == DS::unknown);
  CHECK(st("4.0") == DS::finished);
  CHECK(st(R"("COMPLETED")") == DS::finished);
  CHECK(st(R"("canceled")") == DS::cancelled);
  CHECK(st(R"("fail")") == DS::failed);
  CHECK(st(R"("deploying")") == DS::deploying);
  CHECK(st(R"("bogus")") == DS::unknown);
  CHECK(st("null") == DS::unknown);
  CHECK(st("true") == DS::unknown);
  CHECK(st("[4]") == DS::unknown);
  CHECK(st("{}") == DS::unknown);
  // An unknown session on a DIM: {"<node>":{"Status":"Success"}} → unknown → running.
  CHECK(st(R"({"127.0.0.1:8000:5555:6666":{"Status":"Success"}})") == DS::unknown);
  CHECK(classify(R"({"127.0.0.1:8000:5555:6666":{"Status":"Success"}})") == ES::running);
  // Unknown wins over failed; failed wins over finished.
  CHECK(st(R"({"a":6,"b":{"Status":"Success"}})") == DS::unknown);
  // A {4,5} mix has none of running/deploying/building/pristine.
  CHECK(st(R"({"a":4,"b":5})") == DS::unknown);
  CHECK(st(R"({"a":1,"b":3,"c":2})") == DS::running);
  CHECK(st(R"({"a":1,"b":2})") == DS::deploying);
  CHECK(st(R"({"a":0,"b":1})") == DS::building);
  CHECK(st(R"({"a":0,"b":4})") == DS::pristine);
  // A MasterManager nests per-DIM maps.
  CHECK(st(R"({"dim1":{"n1":4,"n2":4},"dim2":{"n3":4}})") == DS::finished);
  CHECK(st(R"({"status":{"a":3}})") == DS::running);
  // Nesting is bounded.
  CHECK(st(R"({"a":{"a":{"a":{"a":{"a":{"a":4}}}}}})") == DS::unknown);
  CHECK(to_string(DS::finished) == "FINISHED");
  CHECK(to_string(DS::unknown) == "UNKNOWN");
}

TEST_CASE("daliuge: error drops and poll status") {
  auto uids = dim_error_drop_uids(json::parse(
      R"({"z":{"status":3,"execStatus":3},"y":{"status":2,"execStatus":3},"x":"ERROR","w":"app FAILED",
          "v":"Completed","u":{"status":"error"},"t":2,"s":null})"));
  // execStatus alone does not count (Rust and the spec read `status`).
  CHECK(uids == std::vector<std::string>{"u", "w", "x", "z"});
  CHECK(dim_error_drop_uids(json::parse("[3]")).empty());
  CHECK(dim_poll_status(DS::finished, {}) == ES::completed);
  CHECK(dim_poll_status(DS::finished, {"a"}) == ES::failed);
  CHECK(dim_poll_status(DS::cancelled, {"a"}) == ES::cancelled);
  CHECK(dim_poll_status(DS::running, {"a"}) == ES::running);
  CHECK(dim_poll_status(DS::unknown, {}) == ES::running);
}

TEST_CASE("daliuge: roots use DALiuGE truthiness") {
  auto pg = json::parse(R"([
    {"oid":"in","categoryType":"Data","consumers":["app1"]},
    {"oid":"app1","categoryType":"Application","inputs":["in"],"outputs":[{"mid":"port"}]},
    {"oid":"mid","categoryType":"Data","producers":[{"app1":"port"}],"consumers":{"app2":"x"}},
    {"oid":"app2","type":"app","inputs":[]},
    {"oid":"lonely_app","categoryType":"Application","inputs":[],"streamingInputs":[]},
    {"oid":"plain_data","type":"plain","producers":[]},
    {"oid":"lower","categoryType":"data","producers":["x"]},
    {"oid":"sock","categoryType":"socket","outputs":"str_target"},
    {"oid":"str_target","categoryType":"Data"},
    {"oid":"s2","categoryType":"Socket","streamingInputs":["q"]},
    {"oid":"sc","categoryType":"Data","streamingConsumers":[{"sc_target":"n"}]},
    {"oid":"sc_target","categoryType":"Application"},
    {"oid":"container","categoryType":"Container","inputs":["in"]},
    {"rmode":"1"}, {}, 42
  ])");
  auto roots = physical_graph_roots(pg);
  // app2 has empty inputs but is a consumers target of mid; container is neither app nor data.
  CHECK(roots ==
        std::vector<std::string>{"container", "in", "lonely_app", "plain_data", "sc", "sock"});
  CHECK(physical_graph_roots(json::parse("{}")).empty());
  CHECK(physical_graph_roots(json::parse("[]")).empty());
}

TEST_CASE("daliuge: prepare_physical_graph") {
  auto mapped = json::parse(R"([
    {"oid":"a","iid":"0","categoryType":"Application","dropclass":"dlg.apps.pyfunc.PyFuncApp"},
    {"rmode":"0","first":true},
    {"oid":"b","iid":"0/1","categoryType":"Data","dropclass":"dlg.data.drops.memory.InMemory"},
    {"no_oid":true},
    {"oid":"c","categoryType":"Application","type":"socket","app":"keep.me","dropclass":"x"},
    {"oid":"d","iid":3,"categoryType":"Container"},
    "junk",
    {"rmode":"1","last":true}
  ])");
  auto r = prepare_physical_graph(mapped);
  REQUIRE(r.ok());
  const auto& pg = r.value();
  REQUIRE(pg.size() == 5);
  CHECK(pg[0].at("type") == "app");
  CHECK(pg[0].at("app") == "dlg.apps.pyfunc.PyFuncApp");
  CHECK(pg[0].at("humanReadableKey") == "1_0");
  CHECK(pg[1].at("type") == "plain");
  CHECK_FALSE(pg[1].as_object().contains("app"));
  CHECK(pg[1].at("humanReadableKey") == "2_0/1");
  CHECK(pg[2].at("type") == "socket");
  CHECK(pg[2].at("app") == "keep.me");
  CHECK(pg[2].at("humanReadableKey") == "3_");
  CHECK(pg[3].at("type") == "container");
  CHECK(pg[3].at("humanReadableKey") == "4_3");
  CHECK(pg[4] == json::parse(R"({"rmode":"1","last":true})"));
  CHECK_FALSE(prepare_physical_graph(json::parse("{}")).ok());
  auto empty = prepare_physical_graph(json::parse("[{}]"));
  REQUIRE(empty.ok());
  CHECK(empty.value().empty());
}

TEST_CASE("daliuge: Slurm PGT binding") {
  auto bare = bind_slurm_pgt(json::parse(R"([{"oid":"a"},{}])"), "sid1");
  REQUIRE(bare.ok());
  CHECK(bare.value() == json::parse(R"(["sid1.pgt.graph",[{"oid":"a"},{}]])").as_array());
  auto pair = bind_slurm_pgt(json::parse(R"(["other.pgt.graph",[{"oid":"a"}]])"), "sid2");
  REQUIRE(pair.ok());
  CHECK(pair.value() == json::parse(R"(["sid2.pgt.graph",[{"oid":"a"}]])").as_array());
  // Two elements that are not [string, array] are drops, so they get wrapped.
  auto two = bind_slurm_pgt(json::parse(R"([{"oid":"a"},{"oid":"b"}])"), "s");
  REQUIRE(two.ok());
  CHECK(two.value().size() == 2);
  CHECK(two.value()[0] == "s.pgt.graph");
  CHECK(two.value()[1].as_array().size() == 2);
  CHECK_FALSE(bind_slurm_pgt(json::parse(R"({"a":1})"), "s").ok());
}

TEST_CASE("daliuge: session id and path encoding") {
  const std::string uuid = "0b5e8f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
  // 2026-06-09T10:40:48.999Z
  auto sid = dim_session_id(uuid, 1'781'001'648'999);
  REQUIRE(sid.ok());
  CHECK(sid.value() == "BeampipeExecution-" + uuid + "-2026-06-09T10-40-48");
  auto epoch = dim_session_id(uuid, 0);
  REQUIRE(epoch.ok());
  CHECK(epoch.value() == "BeampipeExecution-" + uuid + "-1970-01-01T00-00-00");
  auto leap = dim_session_id(uuid, 951'782'400'000);  // 2000-02-29T00:00:00Z
  REQUIRE(leap.ok());
  CHECK(leap.value().ends_with("-2000-02-29T00-00-00"));
  auto before = dim_session_id(uuid, -1);  // 1969-12-31T23:59:59.999Z
  REQUIRE(before.ok());
  CHECK(before.value().ends_with("-1969-12-31T23-59-59"));
  CHECK_FALSE(dim_session_id("not-a-uuid", 0).ok());
  CHECK_FALSE(dim_session_id("0b5e8f3a/1c2d-4e5f-8a9b-0c1d2e3f4a5b", 0).ok());

  CHECK(percent_encode_path_segment("BeampipeExecution-ab_c.d~e") == "BeampipeExecution-ab_c.d~e");
  CHECK(percent_encode_path_segment("a b/c:d%e") == "a%20b%2Fc%3Ad%25e");
  CHECK(percent_encode_path_segment("\xc3\xa9") == "%C3%A9");
  CHECK(percent_encode_path_segment("") == "");
}

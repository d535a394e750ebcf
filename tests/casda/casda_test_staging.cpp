// End-to-end staging against tests/standins/casda_standin.py: login, DataLink with Basic
// auth, one SODA job per batch, polling through UWS phases, the result join, and failures.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <regex>
#include <string>

#include "adapters/casda_staging.hpp"
#include "casda_standin_process.hpp"

using namespace beampipe::adapters;
using namespace std::chrono_literals;
namespace json = boost::json;
using casda_test::standin;

namespace {

constexpr const char* kPassword = "s3cret pass";

casda_staging_config config() {
  casda_staging_config c;
  c.username = "casda-user";
  c.password = kPassword;
  c.login_url = standin().base() + "/casda_vo_proxy/vo/tap/availability?probe=1";
  c.poll_interval = 5ms;
  c.poll_budget = 10s;
  c.http.initial_backoff = 1ms;
  c.http.max_backoff = 2ms;
  c.http.read_timeout = 10s;
  return c;
}

std::string links(const std::string& id) {
  return standin().base() + "/casda_vo_proxy/vo/datalink/links?ID=" + id;
}

std::string eval_name(int sbid) {
  return "calibration-metadata-processing-logs-SB" + std::to_string(sbid) + "_20260701.tar";
}
std::string eval_id(int sbid) { return "evaluation-" + std::to_string(700000 + sbid); }
std::string vis_name(int scan) { return "WALLABY_field_scan" + std::to_string(scan) + ".ms.tar"; }

// A discovery record. `by_did` names the scan through obs_publisher_did only.
json::object record(int sbid, int scan, bool by_did = false) {
  json::object r{{"sbid", sbid},
                 {"filename", vis_name(scan)},
                 {"access_url", links(by_did ? "scan-" + std::to_string(scan) + "-0"
                                             : "visibility-" + std::to_string(scan))},
                 {"evaluation_file", eval_name(sbid)},
                 {"evaluation_file_access_url", links(eval_id(sbid))},
                 {"source_identifier", "HIPASSJ1313-15"}};
  if (by_did)
    r["obs_publisher_did"] = "scan-" + std::to_string(scan) + "-0";
  else
    r["scan_id"] = std::to_string(scan);
  return r;
}

// Two SBIDs given out of numeric order (10 before 9) to check the batch order.
json::array two_sbids() { return {record(10, 201), record(10, 202, true), record(9, 101)}; }

void setup(const json::object& extra_config = {}) {
  standin().reset();
  json::object names;
  for (int scan : {101, 201, 202}) names["visibility-" + std::to_string(scan)] = vis_name(scan);
  for (int sbid : {9, 10}) names[eval_id(sbid)] = eval_name(sbid);
  json::object cfg{{"filenames", names}};
  for (const auto& kv : extra_config) cfg[kv.key()] = kv.value();
  standin().control("config", cfg);
}

std::size_t count(const json::array& reqs, std::string_view method, std::string_view path) {
  std::size_t n = 0;
  for (const auto& r : reqs) {
    if (r.at("method").as_string() == method && r.at("path").as_string() == path) ++n;
  }
  return n;
}

std::size_t count_suffix(const json::array& reqs, std::string_view method,
                         std::string_view suffix) {
  std::size_t n = 0;
  for (const auto& r : reqs) {
    if (r.at("method").as_string() == method &&
        std::string_view(r.at("path").as_string()).ends_with(suffix))
      ++n;
  }
  return n;
}

// id → href of every result the stand-in handed out, exactly as it wrote them.
std::map<std::string, std::string> hrefs() {
  std::map<std::string, std::string> out;
  for (const auto& [id, job] : standin().jobs()) {
    for (const auto& r : job.at("results").as_array()) {
      out[std::string(r.at("id").as_string())] = std::string(r.at("href").as_string());
    }
  }
  return out;
}

const json::object& by_scan(const json::array& records, std::string_view file) {
  for (const auto& r : records) {
    if (r.at("filename").as_string() == file) return r.as_object();
  }
  FAIL("no record for " << file);
  throw std::logic_error("unreachable");
}

casda_error::kind kind_of(const casda_staging_client& client, const json::array& records,
                          std::string* message = nullptr) {
  try {
    client.stage(records);
  } catch (const casda_error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  FAIL("stage() did not throw");
  return casda_error::kind::protocol;
}

}  // namespace

TEST_CASE("staging: two SBIDs, records augmented, Basic auth on DataLink, one job per batch") {
  setup({{"presigned", json::array{"visibility-202", eval_id(10)}}});
  std::vector<std::string> events;
  auto cfg = config();
  cfg.on_event = [&](std::string_view e) { events.emplace_back(e); };
  casda_staging_client client(cfg);
  auto result = client.stage(two_sbids());

  CHECK(result.skipped_sbids.empty());
  REQUIRE(result.records.size() == 3);
  auto h = hrefs();
  // Staged URLs and checksums by scan (scan_id or obs_publisher_did scan-<N>-).
  for (int scan : {101, 201, 202}) {
    auto id = "visibility-" + std::to_string(scan);
    const auto& r = by_scan(result.records, vis_name(scan));
    CHECK(r.at("staged_url").as_string() == h.at(id));
    CHECK(r.at("checksum_url").as_string() == h.at(id + ".checksum"));
    CHECK(r.at("source_identifier").as_string() == "HIPASSJ1313-15");  // input fields kept
  }
  // The pre-signed href survives byte for byte (XML-unescaped, not percent-decoded).
  const auto& presigned = by_scan(result.records, vis_name(202));
  std::string staged(presigned.at("staged_url").as_string());
  CHECK(staged.find("?response-content-disposition=attachment%3B%20filename%3D%22") !=
        std::string::npos);
  CHECK(staged.find("&X-Amz-Credential=STANDINKEY%2F20260701%2F") != std::string::npos);
  CHECK(staged.find("&X-Amz-Signature=") != std::string::npos);
  CHECK(staged.find("&amp;") == std::string::npos);
  http_client http;
  CHECK(http.get(staged).status == 200);  // the stand-in checks the signature over the raw query
  auto sum = http.get(std::string(presigned.at("checksum_url").as_string()));
  CHECK(sum.status == 200);
  CHECK(std::regex_match(sum.body, std::regex("[0-9a-f]+ [0-9a-f]{40} [0-9a-f]+\n")));
  // Evaluation files by SBID, matched on the URL path basename (SB10's is pre-signed).
  for (int sbid : {9, 10}) {
    for (const auto& r : result.records) {
      if (r.at("sbid").as_int64() != sbid) continue;
      CHECK(r.at("evaluation_file_url").as_string() == h.at(eval_id(sbid)));
      CHECK(r.at("evaluation_file_checksum_url").as_string() == h.at(eval_id(sbid) + ".checksum"));
    }
  }
  CHECK(
      std::string_view(by_scan(result.records, vis_name(201)).at("evaluation_file_url").as_string())
          .find("X-Amz-Signature") != std::string_view::npos);

  auto reqs = standin().requests();
  std::size_t datalink = 0;
  for (const auto& r : reqs) {
    CHECK(std::string_view(r.at("query").as_string()).find("s3cret") == std::string_view::npos);
    if (r.at("path").as_string() != "/casda_vo_proxy/vo/datalink/links") continue;
    ++datalink;
    CHECK(r.at("authorization").as_bool());
    CHECK(r.at("auth_user").as_string() == "casda-user");
  }
  CHECK(datalink == 5);  // 3 visibilities + 2 evaluation files
  CHECK(count(reqs, "GET", "/casda_vo_proxy/vo/tap/availability") == 1);
  CHECK(count(reqs, "POST", "/casda_data_access/data/async") == 3);  // SBID 9, SBID 10, evaluation
  CHECK(count_suffix(reqs, "POST", "/phase") == 3);
  for (const auto& r : reqs) {
    if (std::string_view(r.at("path").as_string()).ends_with("/phase"))
      CHECK(r.at("body").as_string() == "phase=RUN");
  }

  // Jobs in creation order: SBID 9 first (numeric order), each on the async_service token
  // even though the stand-in lists the pawsey row first.
  auto jobs = standin().jobs();
  REQUIRE(jobs.size() == 3);
  auto it = jobs.begin();
  CHECK(it->value().at("ids") == json::array{"visibility-101"});
  ++it;
  CHECK(it->value().at("ids") == json::array{"visibility-201", "scan-202-0"});
  ++it;
  CHECK(it->value().at("ids") == json::array{eval_id(9), eval_id(10)});
  for (const auto& j : jobs) CHECK(j.value().at("service").as_string() == "async_service");

  REQUIRE(result.batches.size() == 3);
  CHECK(result.batches[0].label == "9");
  CHECK(result.batches[1].label == "10");
  CHECK(result.batches[2].label == "evaluation");
  CHECK(result.batches[1].phase == "COMPLETED");
  CHECK(result.batches[1].result_count == 4);
  CHECK(result.batches[1].job_url.starts_with(standin().base() + "/casda_data_access/data/async/"));
  CHECK(result.batches[2].error.empty());
  auto j = result.to_json();
  CHECK(j.at("records").as_array().size() == 3);
  CHECK(j.at("skipped_sbids").as_array().empty());
  CHECK(j.at("batches").as_array().size() == 3);
  for (const auto& e : events) CHECK(e.find(kPassword) == std::string::npos);
}

TEST_CASE("staging: a bad password is an authentication error before any DataLink call") {
  setup();
  auto cfg = config();
  cfg.password = "wrong password";
  std::string message;
  CHECK(kind_of(casda_staging_client(cfg), two_sbids(), &message) ==
        casda_error::kind::authentication);
  CHECK(message.find("401") != std::string::npos);
  CHECK(message.find("/casda_vo_proxy/vo/tap/availability") != std::string::npos);
  CHECK(message.find("probe=1") == std::string::npos);  // URL without its query
  CHECK(message.find("wrong password") == std::string::npos);
  auto reqs = standin().requests();
  CHECK(count(reqs, "GET", "/casda_vo_proxy/vo/datalink/links") == 0);
  CHECK(count(reqs, "POST", "/casda_data_access/data/async") == 0);
}

TEST_CASE("staging: a no-permission row skips its SBID and drops its records") {
  setup();
  standin().control("faults", json::object{{"scan-202-0", "permission"}});
  auto result = casda_staging_client(config()).stage(two_sbids());
  CHECK(result.skipped_sbids == std::set<std::string>{"10"});
  REQUIRE(result.records.size() == 1);
  CHECK(result.records[0].at("sbid").as_int64() == 9);
  CHECK(!result.records[0].at("staged_url").as_string().empty());
  auto reqs = standin().requests();
  CHECK(count(reqs, "POST", "/casda_data_access/data/async") ==
        2);  // SBID 9 and its evaluation file
  REQUIRE(result.batches.size() == 3);
  CHECK(result.batches[1].label == "10");
  CHECK(result.batches[1].skipped);
  CHECK(result.batches[1].job_url.empty());
  CHECK(result.to_json().at("skipped_sbids") == json::array{"10"});
}

TEST_CASE("staging: NotFound and Usage faults are errors") {
  setup();
  standin().control("faults", json::object{{"visibility-101", "not_found"}});
  std::string message;
  CHECK(kind_of(casda_staging_client(config()), two_sbids(), &message) ==
        casda_error::kind::not_found);
  CHECK(message.find("NotFoundFault: visibility-101 cannot be found") != std::string::npos);
  CHECK(count(standin().requests(), "POST", "/casda_data_access/data/async") == 0);

  setup();
  json::array bad{record(9, 101)};
  bad[0].as_object()["access_url"] = links("visibility-abc");
  CHECK(kind_of(casda_staging_client(config()), bad, &message) == casda_error::kind::usage);
  CHECK(message.find("UsageFault") != std::string::npos);
}

TEST_CASE("staging: an anonymous DataLink answer is an authentication error") {
  setup({{"anonymous", true}});
  std::string message;
  CHECK(kind_of(casda_staging_client(config()), two_sbids(), &message) ==
        casda_error::kind::authentication);
  CHECK(message.find("anonymous") != std::string::npos);
  CHECK(count(standin().requests(), "POST", "/casda_data_access/data/async") == 0);
}

TEST_CASE("staging: phase ERROR fails with the job's errorSummary") {
  setup();
  standin().control("script",
                    json::object{{"phases", json::array{"QUEUED", "EXECUTING", "ERROR"}},
                                 {"error_summary", "Tape recall failed for visibility-101"}});
  std::string message;
  CHECK(kind_of(casda_staging_client(config()), two_sbids(), &message) ==
        casda_error::kind::job_failed);
  CHECK(message.find("ERROR: Tape recall failed for visibility-101") != std::string::npos);

  setup();
  standin().control("script", json::object{{"phases", json::array{"ABORTED"}}});
  CHECK(kind_of(casda_staging_client(config()), two_sbids(), &message) ==
        casda_error::kind::job_failed);
  CHECK(message.find("ABORTED") != std::string::npos);
}

TEST_CASE("staging: a job that never completes times out within the budget, created once") {
  setup();
  standin().control("script", json::object{{"phases", json::array{"EXECUTING"}}});
  auto cfg = config();
  cfg.poll_interval = 10ms;
  cfg.poll_budget = 300ms;
  std::string message;
  auto started = std::chrono::steady_clock::now();
  CHECK(kind_of(casda_staging_client(cfg), two_sbids(), &message) == casda_error::kind::timeout);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(message.find("CASDA staging job timed out") != std::string::npos);
  CHECK(message.find("EXECUTING") != std::string::npos);
  auto reqs = standin().requests();
  CHECK(count(reqs, "POST", "/casda_data_access/data/async") == 1);
  auto jobs = standin().jobs();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs.begin()->value().at("polls").as_int64() >= 2);
}

TEST_CASE("staging: QUEUED, SUSPENDED and HELD are waited through") {
  setup();
  auto phases = json::array{"QUEUED",    "SUSPENDED", "QUEUED",    "HELD",
                            "EXECUTING", "SUSPENDED", "EXECUTING", "COMPLETED"};
  standin().control("script", json::object{{"phases", phases}});
  auto result = casda_staging_client(config()).stage(json::array{record(9, 101)});
  REQUIRE(result.records.size() == 1);
  CHECK(result.batches[0].phase == "COMPLETED");
  for (const auto& j : standin().jobs()) {
    CHECK(j.value().at("polls").as_int64() == static_cast<std::int64_t>(phases.size()));
  }
}

TEST_CASE("staging: the SODA job POST is never repeated, even on 503") {
  setup({{"create_status", 503}});
  std::string message;
  CHECK(kind_of(casda_staging_client(config()), json::array{record(9, 101)}, &message) ==
        casda_error::kind::transient);
  CHECK(message.find("503") != std::string::npos);
  CHECK(count(standin().requests(), "POST", "/casda_data_access/data/async") == 1);
  // DataLink GETs still carry the secrets only in headers; no token reaches the message.
  CHECK(message.find("ID=") == std::string::npos);
}

TEST_CASE(
    "staging: combined batch, relative Location, results in the job, oversize row, checksum "
    "check") {
  setup({{"location", "relative"}, {"results_in_job", true}, {"presigned", "*"}});
  standin().control("faults", json::object{{"visibility-201", "oversize"}});
  auto records = two_sbids();
  records[0].as_object()["filename"] = "renamed.ms.tar";  // the checksum no longer names it
  auto cfg = config();
  cfg.stage_by_sbid = false;
  auto result = casda_staging_client(cfg).stage(records);
  REQUIRE(result.records.size() == 3);
  auto h = hrefs();
  const auto& renamed = by_scan(result.records, "renamed.ms.tar");
  CHECK(renamed.at("staged_url").as_string() == h.at("visibility-201"));  // joined by scan id
  CHECK(renamed.at("checksum_url").as_string() == "");
  CHECK(by_scan(result.records, vis_name(101)).at("checksum_url").as_string() ==
        h.at("visibility-101.checksum"));
  REQUIRE(result.batches.size() == 2);
  CHECK(result.batches[0].label == "combined");
  CHECK(result.batches[0].sbids == std::vector<std::string>{"9", "10"});
  CHECK(result.batches[0].result_count == 6);
  auto reqs = standin().requests();
  CHECK(count(reqs, "POST", "/casda_data_access/data/async") == 2);
  CHECK(count_suffix(reqs, "GET", "/results") == 0);  // read from the job document
}

TEST_CASE("staging: pawsey flag selects pawsey_async_service by service_def") {
  setup({{"pawsey_first", false}});
  auto cfg = config();
  cfg.pawsey = true;
  auto result = casda_staging_client(cfg).stage(json::array{record(9, 101)});
  REQUIRE(result.records.size() == 1);
  auto reqs = standin().requests();
  CHECK(count(reqs, "POST", "/casda_data_access/pawsey/async") == 2);
  CHECK(count(reqs, "POST", "/casda_data_access/data/async") == 0);
  for (const auto& j : standin().jobs())
    CHECK(j.value().at("service").as_string() == "pawsey_async_service");
}

TEST_CASE("staging: evaluation-file failures are ignored and reported") {
  setup();
  standin().control("faults", json::object{{eval_id(9), "not_found"}});
  auto result = casda_staging_client(config()).stage(two_sbids());
  REQUIRE(result.records.size() == 3);
  auto h = hrefs();
  for (const auto& r : result.records) {
    if (r.at("sbid").as_int64() == 9) {
      CHECK(r.at("evaluation_file_url").as_string() == "");
      CHECK(r.at("evaluation_file_checksum_url").as_string() == "");
    } else {
      CHECK(r.at("evaluation_file_url").as_string() == h.at(eval_id(10)));
    }
  }
  REQUIRE(result.batches.size() == 3);
  CHECK(result.batches[2].error.find("NotFoundFault") != std::string::npos);
  CHECK(result.batches[2].phase == "COMPLETED");

  // A whole evaluation job failing is ignored too.
  setup();
  auto cfg = config();
  standin().control("faults", json::object{{eval_id(9), "anonymous"}, {eval_id(10), "anonymous"}});
  result = casda_staging_client(cfg).stage(json::array{record(9, 101)});
  REQUIRE(result.records.size() == 1);
  CHECK(result.records[0].at("evaluation_file_url").as_string() == "");
}

TEST_CASE("staging: records need an sbid and a batch needs an access_url") {
  setup();
  json::array no_sbid{json::object{{"access_url", links("visibility-1")}}};
  CHECK(kind_of(casda_staging_client(config()), no_sbid) == casda_error::kind::usage);
  CHECK(standin().requests().empty());  // preflight before any network call
  json::array no_url{json::object{{"sbid", 9}, {"scan_id", 1}}};
  CHECK(kind_of(casda_staging_client(config()), no_url) == casda_error::kind::usage);
  CHECK(casda_staging_client(config()).stage(json::array{}).records.empty());
}

TEST_CASE("staging: the credentials never go to a host that is not CASDA's, nor over http") {
  setup();
  json::array records{record(9, 101)};
  // A DataLink URL from archive metadata that names another host (here: localhost instead of
  // the login URL's 127.0.0.1, so nothing leaves the machine).
  auto foreign = links("visibility-101");
  foreign.replace(foreign.find("127.0.0.1"), 9, "localhost");
  records[0].as_object()["access_url"] = foreign;
  std::string message;
  CHECK(kind_of(casda_staging_client(config()), records, &message) ==
        casda_error::kind::permission);
  CHECK(message.find("not a configured CASDA host") != std::string::npos);
  for (const auto& r : standin().requests())
    CHECK(std::string_view(r.at("query").as_string()).find("visibility-101") ==
          std::string_view::npos);
  // Named in CASDA_CREDENTIAL_HOSTS, the same host is fine.
  auto cfg = config();
  cfg.credential_hosts = {"localhost"};
  setup();
  CHECK(casda_staging_client(cfg).stage(records).records.size() == 1);
  // Plain http is refused for anything but loopback.
  auto remote = config();
  remote.login_url = "http://casda.example.org/casda_vo_proxy/vo/tap/availability";
  message.clear();
  try {
    casda_staging_client(remote).login();
  } catch (const casda_error& e) {
    message = e.what();
  }
  CHECK(message.find("plain http") != std::string::npos);
}

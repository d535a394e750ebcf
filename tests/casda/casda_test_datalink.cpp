// Pure tests: DataLink classification and service-descriptor resolution, the VOTable
// RESOURCE/PARAM/GROUP capture it relies on, URL/key helpers and credentials from the env.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "adapters/casda_staging.hpp"

using namespace beampipe::adapters;
namespace json = boost::json;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A hand-written DataLink answer: FIELD IDs and descriptor refs are what matter.
std::string datalink(const std::string& rows, const std::string& resources) {
  return R"(<?xml version="1.0"?>
<VOTABLE xmlns="http://www.ivoa.net/xml/VOTable/v1.3" version="1.3">
 <RESOURCE type="results"><TABLE>
  <FIELD name="ID" datatype="char" arraysize="*"/>
  <FIELD name="access_url" datatype="char" arraysize="*"/>
  <FIELD name="service_def" datatype="char" arraysize="*"/>
  <FIELD name="error_message" datatype="char" arraysize="*"/>
  <FIELD name="description" datatype="char" arraysize="*"/>
  <FIELD name="content_type" datatype="char" arraysize="*"/>
  <FIELD ID="tok" name="authenticated_id_token" datatype="char" arraysize="*"/>
  <FIELD ID="other" name="extra" datatype="char" arraysize="*"/>
  <DATA><TABLEDATA>)" +
         rows + R"(</TABLEDATA></DATA></TABLE></RESOURCE>)" + resources + "</VOTABLE>";
}

std::string descriptor(const std::string& id, const std::string& url,
                       const std::string& ref = "tok") {
  return R"(<RESOURCE ID=")" + id + R"(" type="meta" utype="adhoc:service">
  <PARAM name="standardID" value="ivo://ivoa.net/std/SODA#async-1.0" datatype="char" arraysize="*"/>
  <PARAM name="accessURL" value=")" +
         url + R"(" datatype="char" arraysize="*"/>
  <GROUP name="inputParams"><PARAM name="ID" ref=")" +
         ref + R"(" value="" datatype="char" arraysize="*"/>
   <PARAM name="POS" datatype="char" arraysize="*"/></GROUP></RESOURCE>)";
}

}  // namespace

TEST_CASE("votable: RESOURCE, PARAM and GROUP are captured with FIELD IDs") {
  auto vt = parse_votable(read_file(BEAMPIPE_REFERENCE_DIR "/casda_datalink.xml"));
  REQUIRE(vt.resources.size() == 4);
  CHECK(vt.resources[0].type == "results");
  CHECK(vt.resources[0].params.empty());
  const auto* async = vt.resource_by_id("async_service");
  REQUIRE(async != nullptr);
  CHECK(async->type == "meta");
  CHECK(async->utype == "adhoc:service");
  REQUIRE(async->params.size() == 2);
  CHECK(async->params[1].name == "accessURL");
  CHECK(async->params[1].value == "https://casda.csiro.au/casda_data_access/data/async");
  REQUIRE(async->groups.size() == 1);
  CHECK(async->groups[0].name == "inputParams");
  REQUIRE(async->groups[0].params.size() == 1);
  CHECK(async->groups[0].params[0].ref == "authenticatedIdToken");
  CHECK(vt.resource_by_id("cutout_service")->groups[0].params.size() == 8);
  CHECK(vt.resource_by_id("nope") == nullptr);
  auto col = vt.column_by_id("authenticatedIdToken");
  REQUIRE(col);
  CHECK(vt.fields[*col].name == "authenticated_id_token");
  CHECK_FALSE(vt.column_by_id("authenticated_id_token"));  // by XML ID, not by name
  CHECK(vt.row_count == 6);                                // the table itself is read as before
}

TEST_CASE("votable: PARAMs of a TABLE or nested GROUP do not leak into the RESOURCE") {
  auto vt = parse_votable(R"(<VOTABLE><RESOURCE ID="outer"><PARAM name="a" value="1"/>
    <TABLE><PARAM name="t" value="x"/><FIELD name="c" datatype="int"/><DATA><TABLEDATA><TR><TD>1</TD></TR>
    </TABLEDATA></DATA></TABLE>
    <GROUP name="g"><PARAM name="b" value="2"/><GROUP name="inner"><PARAM name="deep" value="3"/></GROUP></GROUP>
    <RESOURCE ID="inner" type="meta"><PARAM name="z" value="9"/></RESOURCE>
    <PARAM name="after" value="4"/></RESOURCE></VOTABLE>)");
  REQUIRE(vt.resources.size() == 2);
  const auto& outer = vt.resources[0];
  REQUIRE(outer.params.size() == 2);
  CHECK(outer.params[0].name == "a");
  CHECK(outer.params[1].name == "after");
  REQUIRE(outer.groups.size() == 1);
  REQUIRE(outer.groups[0].params.size() == 1);
  CHECK(outer.groups[0].params[0].name == "b");
  REQUIRE(vt.resources[1].params.size() == 1);
  CHECK(vt.resources[1].params[0].value == "9");
  CHECK(vt.row_count == 1);
}

TEST_CASE("datalink: the reference fixture resolves async_service generically") {
  auto dl = parse_casda_datalink(read_file(BEAMPIPE_REFERENCE_DIR "/casda_datalink.xml"),
                                 "async_service");
  REQUIRE(dl.result == casda_datalink::outcome::ok);
  CHECK(dl.call.access_url == "https://casda.csiro.au/casda_data_access/data/async");
  REQUIRE(dl.call.params.size() == 1);
  CHECK(dl.call.params[0] == std::pair<std::string, std::string>{"ID", "cube-244"});
  // No pawsey_async_service rows in this older answer.
  CHECK(parse_casda_datalink(read_file(BEAMPIPE_REFERENCE_DIR "/casda_datalink.xml"),
                             "pawsey_async_service")
            .result == casda_datalink::outcome::no_service);
}

TEST_CASE("datalink: service chosen by service_def, token from the FIELD the ref names") {
  auto doc = datalink(
      "<TR><TD>visibility-1</TD><TD/><TD>pawsey_async_service</TD><TD/><TD>p</TD><TD/><TD>PTOK</"
      "TD><TD>no</TD></TR>"
      "<TR><TD>visibility-1</TD><TD/><TD>async_service</TD><TD/><TD>w</TD><TD/><TD>WTOK</"
      "TD><TD>other</TD></TR>",
      descriptor("pawsey_async_service", "https://p.example/async") +
          descriptor("async_service", "https://w.example/async"));
  auto web = parse_casda_datalink(doc, "async_service");
  REQUIRE(web.result == casda_datalink::outcome::ok);
  CHECK(web.call.access_url == "https://w.example/async");
  CHECK(web.call.params == std::vector<std::pair<std::string, std::string>>{{"ID", "WTOK"}});
  auto pawsey = parse_casda_datalink(doc, "pawsey_async_service");
  REQUIRE(pawsey.result == casda_datalink::outcome::ok);
  CHECK(pawsey.call.access_url == "https://p.example/async");
  CHECK(pawsey.call.params[0].second == "PTOK");
  // The ref decides the column, not the column's name.
  auto by_ref = parse_casda_datalink(
      datalink("<TR><TD>x</TD><TD/><TD>async_service</TD><TD/><TD/><TD/><TD>T</TD><TD>E</TD></TR>",
               descriptor("async_service", "https://w.example/async", "other")),
      "async_service");
  CHECK(by_ref.call.params[0].second == "E");
}

TEST_CASE("datalink: error rows are classified") {
  using o = casda_datalink::outcome;
  auto fault = [](const std::string& text) {
    return parse_casda_datalink(datalink("<TR><TD>visibility-1</TD><TD/><TD/><TD>" + text +
                                             "</TD><TD/><TD/><TD/><TD/></TR>",
                                         ""),
                                "async_service");
  };
  auto denied =
      fault("DefaultFault: Sorry, but you do not have permission to access this data product");
  CHECK(denied.result == o::no_permission);
  CHECK(denied.message.find("permission") != std::string::npos);
  CHECK(fault("NotFoundFault: visibility-1 cannot be found").result == o::not_found);
  CHECK(fault("UsageFault: Invalid id visibility-x").result == o::usage);
  CHECK(fault("TransientFault: try later").result == o::other_fault);
  // An oversize web-download fault does not hide a usable async row.
  auto oversize = parse_casda_datalink(
      datalink("<TR><TD>v</TD><TD/><TD/><TD>DefaultFault: This option is unavailable due to the "
               "file size exceeding "
               "20 GB in size</TD><TD/><TD/><TD/><TD/></TR>"
               "<TR><TD>v</TD><TD/><TD>async_service</TD><TD/><TD/><TD/><TD>T</TD><TD/></TR>",
               descriptor("async_service", "https://w.example/async")),
      "async_service");
  CHECK(oversize.result == o::ok);
}

TEST_CASE("datalink: anonymous answers, missing descriptors and broken refs") {
  using o = casda_datalink::outcome;
  auto anon = parse_casda_datalink(
      datalink("<TR><TD>visibility-1</TD><TD>https://casda/links?ID=visibility-1</TD><TD/><TD/>"
               "<TD>Authenticated Data "
               "Link</TD><TD>application/x-votable+xml;content=datalink</TD><TD/><TD/></TR>",
               ""),
      "async_service");
  CHECK(anon.result == o::anonymous);
  // A row without a token is not usable even when the descriptor exists.
  CHECK(parse_casda_datalink(
            datalink("<TR><TD>v</TD><TD/><TD>async_service</TD><TD/><TD/><TD/><TD/><TD/></TR>",
                     descriptor("async_service", "https://w.example/async")),
            "async_service")
            .result == o::no_service);
  CHECK_THROWS_AS(
      parse_casda_datalink(
          datalink("<TR><TD>v</TD><TD/><TD>async_service</TD><TD/><TD/><TD/><TD>T</TD><TD/></TR>",
                   ""),
          "async_service"),
      casda_error);
  CHECK_THROWS_AS(
      parse_casda_datalink(
          datalink("<TR><TD>v</TD><TD/><TD>async_service</TD><TD/><TD/><TD/><TD>T</TD><TD/></TR>",
                   descriptor("async_service", "https://w.example/async", "missing")),
          "async_service"),
      casda_error);
  CHECK_THROWS_AS(parse_casda_datalink("<html>login</html>", "async_service"), casda_error);
}

TEST_CASE("helpers: URL path basename, result keys, scan keys, SBID order") {
  CHECK(url_path_basename("https://h.example/download/web/job/scienceData.ms.tar") ==
        "scienceData.ms.tar");
  CHECK(url_path_basename(
            "https://ingest.pawsey.org.au/bucket/a%2Fb/file.tar?response-content-disposition="
            "attachment%3B%20filename%3D%22x.tar%22&X-Amz-Signature=ab/cd") == "file.tar");
  CHECK(url_path_basename("https://h.example/x/y.tar#frag") == "y.tar");
  CHECK(url_path_basename("https://h.example") == "");
  CHECK(visibility_result_key("visibility-105174") == "105174");
  CHECK(visibility_result_key("visibility-105174.checksum") == "105174");
  CHECK(visibility_result_key("evaluation-1") == "");
  CHECK(visibility_result_key("visibility-x") == "");
  CHECK(record_scan_key(json::object{{"scan_id", 42}}) == "42");
  CHECK(record_scan_key(json::object{{"scan_id", "scan-77-3"}}) == "77");
  CHECK(record_scan_key(json::object{{"obs_publisher_did", "scan-105174-12"}}) == "105174");
  CHECK(record_scan_key(json::object{{"access_url", "https://c/links?ID=visibility-55"}}) == "55");
  CHECK(record_scan_key(json::object{{"filename", "x"}}) == "");
  CHECK(sbid_less("9", "10"));
  CHECK_FALSE(sbid_less("10", "9"));
  CHECK(sbid_less("10", "abc"));
  CHECK(sbid_less("007", "10"));
  CHECK(sbid_less("abc", "abd"));
}

TEST_CASE(
    "credentials: the password file before the inline password; missing pieces give nullopt") {
  auto path = std::string(BEAMPIPE_CASDA_TEST_TMP) + "/casda-password";
  { std::ofstream(path) << "from file\n"; }
  auto c = casda_credentials_from(" alice ", "from env", path);
  REQUIRE(c);
  CHECK(c->username == "alice");
  CHECK(c->password == "from file");
  CHECK(casda_credentials_from("alice", "from env", "")->password == "from env");
  CHECK_THROWS_AS(casda_credentials_from("alice", "from env", path + ".missing"), casda_error);
  CHECK_FALSE(casda_credentials_from("alice", "", ""));
  CHECK_FALSE(casda_credentials_from("", "from env", ""));
  std::remove(path.c_str());
}

TEST_CASE("client: a bad login URL is a usage error at construction") {
  casda_staging_config c;
  c.login_url = "ftp://example.org/x";
  try {
    casda_staging_client client(c);
    FAIL("no exception");
  } catch (const casda_error& e) {
    CHECK(e.code() == casda_error::kind::usage);
  }
}

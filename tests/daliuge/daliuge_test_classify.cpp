// Classification of DALiuGE error answers (protocols §5.1 "C++ classification").
#include <doctest/doctest.h>

#include "adapters/daliuge_client.hpp"

using namespace beampipe::adapters;
using K = daliuge_error::kind;

namespace {

std::string sub_manager(const std::string& a, const std::string& b) {
  return R"({"type":"SubManagerException","args":{"n1:8000:5555:6666":{"type":")" + a +
         R"(","args":"dummy"},"n2:8000:5555:6666":{"type":")" + b + R"(","args":"dummy"}}})";
}

}  // namespace

TEST_CASE("daliuge: 555 SubManagerException inner types decide the kind") {
  auto dup = classify_daliuge_response(
      "DIM create_session", 555,
      sub_manager("SessionAlreadyExistsException", "SessionAlreadyExistsException"));
  CHECK(dup.code() == K::conflict);
  CHECK(dup.status() == 555);
  CHECK(dup.error_type() == "SubManagerException");
  CHECK(dup.inner_types() ==
        std::vector<std::string>{"SessionAlreadyExistsException", "SessionAlreadyExistsException"});
  CHECK_FALSE(dup.transient());
  // Only some nodes say "already exists": the others failed for another reason.
  CHECK(classify_daliuge_response("x", 555,
                                  sub_manager("SessionAlreadyExistsException", "RuntimeError"))
            .code() == K::dependency);
  auto missing = classify_daliuge_response("DIM cancel", 555,
                                           sub_manager("NoSessionException", "NoSessionException"));
  CHECK(missing.code() == K::not_found);
  CHECK_FALSE(missing.transient());
  auto state = classify_daliuge_response("x", 555,
                                         sub_manager("InvalidSessionState", "InvalidSessionState"));
  CHECK(state.code() == K::not_ready);
  CHECK(state.transient());
  CHECK(classify_daliuge_response("x", 555,
                                  sub_manager("InvalidGraphException", "InvalidGraphException"))
            .code() == K::permanent);
  auto other = classify_daliuge_response(
      "x", 555, R"({"type":"DaliugeException","args":["UIDs … not found"]})");
  CHECK(other.code() == K::dependency);
  CHECK(other.transient());
  CHECK(other.error_type() == "DaliugeException");
  CHECK(other.inner_types().empty());
}

TEST_CASE("daliuge: status codes without 555") {
  CHECK(classify_daliuge_response("x", 404, "").code() == K::not_found);
  CHECK(
      classify_daliuge_response("x", 409, R"({"type":"SessionAlreadyExists","args":[]})").code() ==
      K::conflict);
  CHECK(
      classify_daliuge_response("x", 400, R"({"type":"InvalidGraphException","args":["no node"]})")
          .code() == K::permanent);
  CHECK(classify_daliuge_response("x", 400, R"({"type":"InvalidSessionState","args":["x"]})")
            .code() == K::not_ready);
  CHECK(classify_daliuge_response("x", 415, R"({"Status":"Success"})").code() == K::permanent);
  CHECK(classify_daliuge_response("x", 422, R"({"detail":[]})").code() == K::permanent);
  CHECK(classify_daliuge_response("x", 501, "").code() == K::permanent);
  CHECK(classify_daliuge_response("x", 556, R"({"type":"RestClientException","args":[]})").code() ==
        K::dependency);
  auto html = classify_daliuge_response("x", 500, "<html>\n<title>Error: 500</title></html>");
  CHECK(html.code() == K::dependency);
  CHECK(html.transient());
  CHECK(html.error_type().empty());
  CHECK(classify_daliuge_response("x", 429, "").code() == K::dependency);
  CHECK(classify_daliuge_response("x", 302, "").code() == K::invalid_response);
}

TEST_CASE("daliuge: messages carry the status and a bounded one-line excerpt") {
  std::string body = "line1\nline2" + std::string(3000, 'x');
  auto e = classify_daliuge_response("TM unroll_and_partition", 500, body);
  CHECK(std::string(e.what()).starts_with(
      "TM unroll_and_partition failed: HTTP 500 \xE2\x80\x94 line1 line2"));
  CHECK(e.body_excerpt().size() == 1024);
  // Never cut inside a UTF-8 sequence.
  std::string utf8 = std::string(1023, 'a') + "\xC3\xA9";
  CHECK(classify_daliuge_response("x", 500, utf8).body_excerpt().size() == 1023);
  CHECK(std::string(classify_daliuge_response("x", 503, "").what()) == "x failed: HTTP 503");
}

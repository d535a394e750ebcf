// The route table and its documentation (issue #7), without a database: every route carries a
// complete route_doc naming schemas that exist, the table built for documentation never runs a
// handler, the generated document has one operation per route, and the Redoc bundle is
// embedded.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "api/api_schemas.hpp"
#include "api/openapi.hpp"
#include "api/route_table.hpp"

using namespace beampipe::api;
namespace json = boost::json;

namespace {

std::string name_of(const route& r) {
  std::string s = r.method;
  s.append(" ").append(r.pattern);
  return s;
}

bool has_route(const router& t, const std::string& method, const std::string& pattern) {
  for (const auto& r : t.routes())
    if (r.method == method && r.pattern == pattern) return true;
  return false;
}

// OpenAPI 3.0 has no type arrays (nullable: true instead); every $ref names a component.
void walk(const json::value& v, const json::object& schemas, const std::string& where) {
  if (v.is_array()) {
    for (const auto& x : v.as_array()) walk(x, schemas, where);
    return;
  }
  if (!v.is_object()) return;
  for (const auto& kv : v.as_object()) {
    if (kv.key() == "properties" && kv.value().is_object()) {
      // Property names are names, not keywords (StoredEvent has a property "type").
      for (const auto& p : kv.value().as_object()) walk(p.value(), schemas, where);
    } else if (kv.key() == "type") {
      INFO(where);
      CHECK(kv.value().is_string());
    } else if (kv.key() == "$ref") {
      std::string target(kv.value().as_string());
      INFO(where << " " << target);
      if (target.rfind("#/components/headers/", 0) == 0) continue;
      REQUIRE(target.rfind("#/components/schemas/", 0) == 0);
      CHECK(schemas.contains(target.substr(21)));
    } else if (kv.key() != "enum" && kv.key() != "default") {
      walk(kv.value(), schemas, where);
    }
  }
}

}  // namespace

TEST_CASE("every route is documented with schemas that exist") {
  auto table = build_documentation_routes();
  const auto& schemas = component_schemas();
  std::set<std::string> ids;
  REQUIRE(table.routes().size() > 40);
  for (const auto& r : table.routes()) {
    const auto& d = r.doc;
    INFO(name_of(r));
    CHECK_FALSE(d.operation_id.empty());
    CHECK(ids.insert(d.operation_id).second);
    CHECK_FALSE(d.summary.empty());
    CHECK_FALSE(d.tag.empty());
    if (d.body == body_kind::json || d.body == body_kind::json_or_form)
      CHECK(schemas.contains(d.body_schema));
    if (d.reply == reply_kind::json) CHECK(schemas.contains(d.schema));
    if (d.array) CHECK(d.total_count);
    // Every {x} segment is described, and nothing else is.
    std::set<std::string> in_pattern, described;
    for (const auto& s : r.segments)
      if (s.size() > 2 && s.front() == '{') in_pattern.insert(s.substr(1, s.size() - 2));
    for (const auto& p : d.path) described.insert(p.name);
    CHECK(in_pattern == described);
  }
}

TEST_CASE("the sign-in routes are part of the documentation table") {
  auto table = build_documentation_routes();
  CHECK(has_route(table, "POST", "/api/v2/login"));
  CHECK(has_route(table, "POST", "/api/v2/refresh"));
  CHECK(has_route(table, "POST", "/api/v2/logout"));
  CHECK(has_route(table, "GET", "/api/v2/user/me"));
}

TEST_CASE("a documentation table never runs a handler") {
  auto table = build_documentation_routes();
  request q;
  for (const auto& r : table.routes()) {
    INFO(name_of(r));
    CHECK_THROWS_AS(r.fn(q), std::logic_error);
  }
}

TEST_CASE("the document has one operation per route, with its auth") {
  auto table = build_documentation_routes();
  auto doc = openapi_document(table, "test");
  CHECK(doc.at("openapi").as_string() == "3.0.3");
  CHECK(doc.at("info").at("version").as_string() == "test");
  const auto& paths = doc.at("paths").as_object();
  size_t ops = 0;
  for (const auto& item : paths) ops += item.value().as_object().size();
  CHECK(ops == table.routes().size());
  for (const auto& r : table.routes()) {
    INFO(name_of(r));
    std::string m = r.method;
    for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto& op = paths.at(r.pattern).at(m).as_object();
    const char* want = r.auth == auth_level::open   ? "open"
                       : r.auth == auth_level::user ? "user"
                                                    : "superuser";
    CHECK(op.at("x-beampipe-auth").as_string() == want);
    CHECK(op.at("x-beampipe-rate-limited").as_bool() == r.doc.rate_limited);
    CHECK(op.contains("security") == (r.auth != auth_level::open));
    const auto& responses = op.at("responses").as_object();
    if (r.auth != auth_level::open) CHECK(responses.contains("401"));
    if (r.auth == auth_level::superuser) CHECK(responses.contains("403"));
    if (r.doc.rate_limited) CHECK(responses.contains("429"));
    CHECK_FALSE(op.contains("x-beampipe-undocumented"));
  }
  walk(doc, component_schemas(), "document");
}

TEST_CASE("an undocumented route is marked, not dropped") {
  router t;
  t.add("GET", "/api/v2/x/{id}", auth_level::user, [](request&) { return response{}; });
  auto doc = openapi_document(t, "test");
  const auto& op = doc.at("paths").at("/api/v2/x/{id}").at("get").as_object();
  CHECK(op.at("x-beampipe-undocumented").as_bool());
  CHECK(op.at("parameters").as_array().size() == 1);
}

TEST_CASE("the Redoc bundle and its notices are embedded") {
  auto js = redoc_bundle();
  CHECK(js.size() > 500000);
  CHECK(js.find("Redoc") != std::string_view::npos);
  CHECK(redoc_license().find("MIT") != std::string_view::npos);
  CHECK(docs_page_html().find("/api/v2/docs/redoc.standalone.js") != std::string::npos);
  CHECK(docs_page_html().find("http") == std::string::npos);  // nothing from the network
}

// Template context (§5.1) and ADQL rendering (§5.2).
#include <doctest/doctest.h>

#include "domain/project_config.hpp"
#include "domain/templates.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {
ProjectConfig load(const char* name) {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/" + name);
  REQUIRE(text);
  auto parsed = parse_project_config(*text);
  REQUIRE(parsed.config);
  return *parsed.config;
}
}  // namespace

TEST_CASE("WALLABY template context") {
  auto ctx = build_template_context("HIPASSJ1313-15", load("wallaby_hires.v1.yaml"));
  REQUIRE(ctx.size() == 2);
  CHECK(ctx.at("source_identifier") == "HIPASSJ1313-15");
  CHECK(ctx.at("source_name") == "J1313-15");
}

TEST_CASE(
    "template context: literal from, failing transform keeps base, source_identifier always set") {
  ProjectConfig c;
  c.definitions.emplace();
  c.definitions->transforms["digits"].kind = "extract_digits";
  c.source_identity.emplace();
  c.source_identity->template_vars["survey"].from = "WALLABY";  // not canonical: used literally
  c.source_identity->template_vars["num"].transform = "digits";
  auto ctx = build_template_context("HIPASS", c);  // no digits: transform yields nothing
  CHECK(ctx.at("survey") == "WALLABY");
  CHECK(ctx.at("num") == "HIPASS");
  CHECK(ctx.at("source_identifier") == "HIPASS");
}

TEST_CASE("legacy template context uses queries[0].source_id_transform") {
  ProjectConfig c;
  c.definitions.emplace();
  c.definitions->transforms["lower"].kind = "lowercase";
  Query q;
  q.name = "v";
  q.adapter = "casda";
  q.template_text = "x";
  q.source_id_transform = "lower";
  c.discovery.queries.push_back(q);
  auto ctx = build_template_context("NGC 300", c);
  CHECK(ctx.at("source_identifier") == "NGC 300");
  CHECK(ctx.at("source_name") == "ngc 300");
  c.discovery.queries[0].source_id_transform.reset();
  CHECK(build_template_context("NGC 300", c).at("source_name") == "NGC 300");
}

TEST_CASE("rendering: every occurrence, value_string forms, unknown placeholders verbatim") {
  TemplateContext ctx;
  ctx["source_identifier"] = "  HIPASSJ1313-15 ";
  ctx["sbid"] = 72962;
  ctx["f"] = 1.5;
  ctx["b"] = true;
  ctx["n"] = nullptr;
  ctx["arr"] = json::array{1};
  CHECK(render_template("a '{source_identifier}%' b '{source_identifier}'", ctx) ==
        "a 'HIPASSJ1313-15%' b 'HIPASSJ1313-15'");
  CHECK(render_template("sbid = {sbid} f={f} b={b} n='{n}' a='{arr}'", ctx) ==
        "sbid = 72962 f=1.5 b=true n='' a=''");
  CHECK(render_template("{unknown} {sbid", ctx) == "{unknown} {sbid");
  CHECK(render_template("{{sbid}}", ctx) == "{72962}");
  CHECK(render_template("", ctx).empty());
}

TEST_CASE("ADQL escaping: a quote in an identifier cannot end the string literal") {
  TemplateContext ctx;
  ctx["source_identifier"] = "x' OR '1'='1";
  auto q = render_template("SELECT * FROM t WHERE filename LIKE '{source_identifier}%'", ctx);
  CHECK(q == "SELECT * FROM t WHERE filename LIKE 'x'' OR ''1''=''1%'");
  // Parse the literal the way ADQL does: '' is a quote, a lone ' closes.
  auto open = q.find('\'');
  std::size_t i = open + 1;
  std::string literal;
  while (i < q.size()) {
    if (q[i] == '\'' && i + 1 < q.size() && q[i + 1] == '\'') {
      literal += '\'';
      i += 2;
    } else if (q[i] == '\'') {
      break;
    } else {
      literal += q[i++];
    }
  }
  CHECK(literal == "x' OR '1'='1%");
  CHECK(i == q.size() - 1);  // the literal closes at the template's own quote
  CHECK(adql_escape("''") == "''''");
  CHECK(adql_escape("plain") == "plain");
}

TEST_CASE("rendering does not rescan substituted values") {
  TemplateContext ctx;
  ctx["a"] = "{b}";
  ctx["b"] = "secret";
  CHECK(render_template("{a}/{b}", ctx) == "{b}/secret");
}

TEST_CASE("template_placeholders lists identifier-like names") {
  auto names = template_placeholders(
      "WHERE a='{source_name}' AND b={sbid} AND c='{source_name}' {1x} {a b} {}");
  REQUIRE(names.size() == 2);
  CHECK(names[0] == "source_name");
  CHECK(names[1] == "sbid");
}

TEST_CASE("per-query and per-SBID contexts (§5.3)") {
  ProjectConfig legacy;
  legacy.definitions.emplace();
  legacy.definitions->transforms["upper"].kind = "uppercase";
  Query q;
  q.source_id_transform = "upper";
  auto base = build_template_context("ngc300", legacy);
  CHECK(context_for_query(base, q, "ngc300", legacy).at("source_name") == "NGC300");
  auto with_sbid = context_with_sbid(base, "72962");
  CHECK(with_sbid.at("sbid") == "72962");
  CHECK(render_template("sbid = '{sbid}'", with_sbid) == "sbid = '72962'");
  // with source_identity, source_id_transform does not touch the context
  auto wallaby_cfg = load("wallaby_hires.v1.yaml");
  auto ctx = build_template_context("HIPASSJ1313-15", wallaby_cfg);
  q.source_id_transform = "hipass_source_name";
  CHECK(context_for_query(ctx, q, "HIPASSJ1313-15", wallaby_cfg).at("source_name") == "J1313-15");
}

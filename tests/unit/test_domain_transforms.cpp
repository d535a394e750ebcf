// All 15 transform kinds (spec §5.6), named transforms and chains.
#include <doctest/doctest.h>

#include "domain/canonical_json.hpp"
#include "domain/project_config.hpp"
#include "domain/transforms.hpp"

namespace json = boost::json;
using namespace beampipe::domain;

namespace {

TransformSpec kind(std::string k) {
  TransformSpec s;
  s.kind = std::move(k);
  return s;
}

// "<nothing>" marks a transform that yields nothing.
std::string run(const TransformSpec& s, const char* input_json,
                const TransformDefinitions& defs = {}) {
  auto out = apply_transform(s, json::parse(input_json), defs);
  return out ? stable_json(*out) : "<nothing>";
}

struct Case {
  const char* input;
  const char* expected;
};

void table(const TransformSpec& s, std::initializer_list<Case> cases,
           const TransformDefinitions& defs = {}) {
  for (const auto& c : cases) {
    CAPTURE(s.kind);
    CAPTURE(c.input);
    CHECK(run(s, c.input, defs) == c.expected);
  }
}

}  // namespace

TEST_CASE("transform kind list has the 15 kinds") {
  CHECK(transform_kinds().size() == 15);
  CHECK(is_transform_kind("select_eval_file_by_size"));
  CHECK_FALSE(is_transform_kind("strip_hipass_prefix"));  // [HEAD] removed legacy aliases
}

TEST_CASE("identity returns any JSON unchanged") {
  table(kind("identity"), {{"null", "null"},
                           {"\" a \"", "\" a \""},
                           {"[1,{\"b\":2}]", "[1,{\"b\":2}]"},
                           {"3.5", "3.5"}});
}

TEST_CASE("trim / lowercase / uppercase work on S(x)") {
  table(kind("trim"), {{"\"  HIPASS  \"", "\"HIPASS\""},
                       {"\"   \"", "<nothing>"},
                       {"null", "<nothing>"},
                       {"[]", "<nothing>"},
                       {"{}", "<nothing>"},
                       {"12", "\"12\""},
                       {"true", "\"true\""},
                       {"1.5", "\"1.5\""}});
  table(kind("lowercase"), {{"\" HiPass J1 \"", "\"hipass j1\""},
                            {"\"\"", "<nothing>"},
                            {"\"\xc3\x89"
                             "A\"",
                             "\"\xc3\x89"
                             "a\""}});
  table(kind("uppercase"),
        {{"\"abc-1\"", "\"ABC-1\""}, {"false", "\"FALSE\""}, {"null", "<nothing>"}});
}

TEST_CASE("replace") {
  auto s = kind("replace");
  s.from = "-";
  table(s, {{"\"a-b-c\"", "\"abc\""},
            {"\" a-b \"", "\"ab\""},
            {"\"abc\"", "\"abc\""},
            {"null", "<nothing>"}});
  s.to = "+";
  table(s, {{"\"a-b-c\"", "\"a+b+c\""}});
  s.from = "";  // Rust str::replace with an empty pattern inserts at every boundary
  table(s, {{"\"ab\"", "\"+a+b+\""}});
  table(kind("replace"), {{"\"a-b\"", "<nothing>"}});  // from missing
}

TEST_CASE("add_prefix / add_suffix") {
  auto p = kind("add_prefix");
  p.prefix = "SB";
  table(p, {{"\" 123 \"", "\"SB123\""}, {"123", "\"SB123\""}, {"\"\"", "<nothing>"}});
  table(kind("add_prefix"), {{"\"x\"", "<nothing>"}});
  auto s = kind("add_suffix");
  s.suffix = ".ms";
  table(s, {{"\"beam00\"", "\"beam00.ms\""}, {"[]", "<nothing>"}});
  table(kind("add_suffix"), {{"\"x\"", "<nothing>"}});
}

TEST_CASE("default_if_empty") {
  auto s = kind("default_if_empty");
  s.default_value = "n/a";
  table(s, {{"null", "\"n/a\""},
            {"\"  \"", "\"n/a\""},
            {"[]", "\"n/a\""},
            {"{}", "\"n/a\""},
            {"\" x \"", "\" x \""},  // not trimmed
            {"0", "0"},
            {"false", "false"}});
  table(kind("default_if_empty"), {{"null", "null"}, {"\"\"", "null"}, {"[1]", "[1]"}});
}

TEST_CASE("strip_prefix is case-sensitive and strips once") {
  auto s = kind("strip_prefix");
  s.prefix = "HIPASS";
  table(s, {{"\"HIPASSJ1313-15\"", "\"J1313-15\""},
            {"\" HIPASSHIPASSJ1\"", "\"HIPASSJ1\""},
            {"\"hipassJ1\"", "\"hipassJ1\""},
            {"\"J1\"", "\"J1\""},
            {"null", "<nothing>"}});
  table(kind("strip_prefix"), {{"\"HIPASSJ1\"", "<nothing>"}});
}

TEST_CASE("extract_digits") {
  table(kind("extract_digits"), {{"\" ASKAP-72962 \"", "\"72962\""},
                                 {"\"a1b2c3\"", "\"123\""},
                                 {"\"abc\"", "<nothing>"},
                                 {"72962", "\"72962\""},
                                 {"1.5", "\"15\""},
                                 {"null", "<nothing>"}});
}

TEST_CASE("split_last") {
  table(kind("split_last"), {{"\"ivo://askap/scan/2024-01-31#879912\"", "\"879912\""},
                             {"\"a/b:c\"", "\"c\""},
                             {"\"a/b/\"", "\"\""},  // trailing separator → empty string
                             {"\"plain\"", "\"plain\""},
                             {"\"a/ b \"", "\"b\""},
                             {"\"\"", "<nothing>"}});
  auto s = kind("split_last");
  s.separators = std::vector<std::string>{"_-"};  // every character is a separator
  table(s, {{"\"a_b-c\"", "\"c\""}, {"\"a/b\"", "\"a/b\""}});
}

TEST_CASE("is_present") {
  table(kind("is_present"), {{"[]", "false"},
                             {"[{\"HIPASS\":\"J1313-15\"}]", "true"},
                             {"null", "false"},
                             {"\" \"", "false"},
                             {"0", "true"},
                             {"{}", "false"},
                             {"false", "true"}});
}

TEST_CASE("regex_extract") {
  auto s = kind("regex_extract");
  s.pattern = "SB(\\d+)";
  table(s, {{"\"calibration-SB72962_x.tar\"", "\"72962\""},
            {"\"no match\"", "<nothing>"},
            {"null", "<nothing>"}});
  s.group = 0;
  table(s, {{"\"xSB12y\"", "\"SB12\""}});
  s.group = 2;  // group does not exist
  table(s, {{"\"SB12\"", "<nothing>"}});
  s.pattern = "(a)|(b)";
  s.group = 1;  // group not participating
  table(s, {{"\"b\"", "<nothing>"}});
  s.pattern = "(?P<sbid>\\d+)";  // Rust named group syntax
  table(s, {{"\"SB77\"", "\"77\""}});
  s.pattern = "(?i)sb(\\d+)";
  table(s, {{"\"SB5\"", "\"5\""}});
  s.pattern = "(";  // invalid
  table(s, {{"\"x\"", "<nothing>"}});
  s.pattern = "(a)\\1";  // back-reference: not Rust dialect
  table(s, {{"\"aa\"", "<nothing>"}});
  table(kind("regex_extract"), {{"\"x\"", "<nothing>"}});  // pattern missing
  CHECK(regex_pattern_error("(?=x)"));
  CHECK(regex_pattern_error("(?<!x)y"));
  CHECK_FALSE(regex_pattern_error("^[A-Z]+(\\d+)$"));
}

TEST_CASE("select_eval_file_by_size follows the strict [HEAD] rules") {
  auto s = kind("select_eval_file_by_size");
  const char* rows = R"([
    {"format":"calibration","filename":"calibration-metadata-processing-logs-SB1_a.tar","access_url":"u1","filesize":10},
    {"format":"CALIBRATION","filename":"calibration-metadata-processing-logs-SB1_b.tar","access_url":"u2","file_size":"30"},
    {"format":"calibration","filename":"calibration-metadata-processing-logs-SB1_c.tar","access_url":"","filesize":99},
    {"format":"image","filename":"calibration-metadata-processing-logs-SB1_d.tar","access_url":"u","filesize":99},
    {"format":"calibration","filename":"other.tar","access_url":"u","filesize":99},
    {"format":"calibration","filename":"calibration-metadata-processing-logs-SB1_e.tar","access_url":"u","filesize":-1}
  ])";
  CHECK(run(s, rows) == "\"calibration-metadata-processing-logs-SB1_b.tar\"");
  // ties go to the lexically greatest filename; float sizes are truncated
  CHECK(run(s, R"([
    {"format":"calibration","filename":"calibration-metadata-processing-logs-SB1_a.tar","access_url":"u","size":5.9},
    {"format":"calibration","filename":"calibration-metadata-processing-logs-SB1_z.tar","access_url":"u","access_estsize":5}
  ])") == "\"calibration-metadata-processing-logs-SB1_z.tar\"");
  CHECK(run(s, "[]") == "<nothing>");
  CHECK(run(s, R"([{"format":"image","filename":"x.ms","access_url":"u","filesize":1}])") ==
        "<nothing>");  // no fallback
  CHECK(run(s, "\"x\"") == "<nothing>");
  CHECK(
      run(s,
          R"({"format":"calibration","filename":"calibration-metadata-processing-logs-SB9_q.tar","access_url":"u","filesize":1})") ==
      "\"calibration-metadata-processing-logs-SB9_q.tar\"");
  CHECK(
      run(s,
          R"([{"format":"calibration","filename":"calibration-metadata-processing-logs-SB1_a.tar","access_url":"u"}])") ==
      "<nothing>");  // size required
}

TEST_CASE("chain applies named steps and stops on nothing") {
  TransformDefinitions defs;
  defs["askap_sbid"] = kind("extract_digits");
  defs["trim"] = kind("trim");
  auto chain = kind("chain");
  chain.steps = std::vector<std::string>{"askap_sbid", "trim"};
  defs["normalized_sbid"] = chain;
  table(chain, {{"\" ASKAP-72962 \"", "\"72962\""}, {"\"abc\"", "<nothing>"}}, defs);
  auto missing_step = kind("chain");
  missing_step.steps = std::vector<std::string>{"askap_sbid", "undefined"};
  table(missing_step, {{"\"1\"", "<nothing>"}}, defs);
  table(kind("chain"), {{"\"1\"", "<nothing>"}}, defs);  // steps missing
  // cyclic chains terminate (validation reports them as transform_cycle)
  auto loop = kind("chain");
  loop.steps = std::vector<std::string>{"loop"};
  defs["loop"] = loop;
  CHECK_FALSE(apply_named("loop", json::value("x"), defs));
  // inline chains ([HEAD])
  CHECK(*apply_ref(TransformRef(std::vector<std::string>{"askap_sbid", "trim"}),
                   json::value("SB-7"), defs) == "7");
  CHECK_FALSE(apply_ref(TransformRef(std::vector<std::string>{}), json::value("7"), defs));
  CHECK_FALSE(apply_named("nope", json::value("7"), defs));
}

TEST_CASE("WALLABY worked examples (spec §5.6)") {
  auto text = read_config_file(std::string(BEAMPIPE_REFERENCE_DIR) + "/wallaby_hires.v1.yaml");
  REQUIRE(text);
  auto parsed = parse_project_config(*text);
  REQUIRE(parsed.config);
  const auto& defs = parsed.config->transforms();
  CHECK(*apply_named("normalized_sbid", json::value(" ASKAP-72962 "), defs) == "72962");
  CHECK(*apply_named("scan_id_from_did", json::value("ivo://askap/scan/2024-01-31#879912"), defs) ==
        "879912");
  CHECK(*apply_named("hipass_source_name", json::value("HIPASSJ1313-15"), defs) == "J1313-15");
  CHECK(*apply_named("has_rows", json::array{}, defs) == false);
  CHECK(*apply_named("has_rows", json::parse(R"([{"HIPASS":"J1313-15"}])"), defs) == true);
}

TEST_CASE("regex engine: Rust-like leftmost-first semantics, linear time") {
  auto ex = [](const char* pattern, const std::string& input,
               std::uint32_t group = 1) -> std::string {
    TransformSpec s;
    s.kind = "regex_extract";
    s.pattern = pattern;
    s.group = group;
    auto out = apply_transform(s, json::value(input), {});
    return out ? std::string(out->as_string()) : "<nothing>";
  };
  CHECK(ex("(a|ab)", "ab") == "a");  // leftmost-first, not leftmost-longest
  CHECK(ex("(a|ab)(c|bcd)", "abcd", 0) == "abcd");
  CHECK(ex("(a+?)a*", "aaa") == "a");  // lazy
  CHECK(ex("(a+)", "baaa") == "aaa");
  CHECK(ex("^(\\d+)$", "123") == "123");
  CHECK(ex("^(\\d+)$", "12x") == "<nothing>");
  CHECK(ex("x{2,3}(y)", "xxxy") == "y");
  CHECK(ex("(x{2})", "xxxx") == "xx");
  CHECK(ex("([^/#:]+)$", "ivo://askap/scan/2024-01-31#879912") == "879912");
  CHECK(ex("\\bSB(\\d+)\\b", "logs-SB72962_2024") == "<nothing>");  // _ is a word char
  CHECK(ex("SB(\\d+)_", "logs-SB72962_2024") == "72962");
  CHECK(ex("(?:ab)+(c)", "ababc") == "c");
  CHECK(ex("(?i)hipass(j\\d+)", "HIPASSJ1313") == "J1313");
  CHECK(ex("(\\x41)", "zA") == "A");
  CHECK(ex("(\xc3\xa9+)", "caf\xc3\xa9\xc3\xa9!") == "\xc3\xa9\xc3\xa9");  // UTF-8 aware
  CHECK(ex("c(.)f",
           "c\xc3\xa9"
           "f") == "\xc3\xa9");  // . is one code point
  CHECK(ex("(a*)*b", std::string(3000, 'a')) ==
        "<nothing>");                           // catastrophic for backtrackers; linear here
  CHECK(ex("(a|b)?c", "c", 1) == "<nothing>");  // group 1 did not participate
  CHECK(ex("()", "x", 1) == "");                // empty group matched

  for (const char* bad : {"(", "a)", "[a", "a{2", "*a", "(?=a)", "(?<!a)b", "(a)\\1", "\\p{L}",
                          "[[:alpha:]]", "a{5,2}", "a{99999}"})
    CHECK_MESSAGE(regex_pattern_error(bad), bad);
  CHECK(regex_pattern_error("(a{1000}){1000}"));  // program too large
  for (const char* good :
       {"SB(\\d+)", "(?P<sbid>\\d+)", "[a-z0-9_.-]+", "^$", "a|", "\\.tar$", "[]a]"})
    CHECK_MESSAGE(!regex_pattern_error(good), good);
}

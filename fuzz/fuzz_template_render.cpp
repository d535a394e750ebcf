// libFuzzer target: ADQL template rendering and template-context building.
// Input: template \0 value \0 second value. Invariant: a value rendered inside a
// '…' literal reads back unchanged, i.e. it can never close the literal.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "domain/canonical_json.hpp"
#include "domain/project_config.hpp"
#include "domain/templates.hpp"

namespace {

// Reads an ADQL string literal starting at s[0] == '\''; returns its content and
// sets `end` to the index after the closing quote (npos when unterminated).
std::string read_literal(std::string_view s, std::size_t& end) {
  std::string out;
  std::size_t i = 1;
  while (i < s.size()) {
    if (s[i] == '\'') {
      if (i + 1 < s.size() && s[i + 1] == '\'') {
        out += '\'';
        i += 2;
        continue;
      }
      end = i + 1;
      return out;
    }
    out += s[i++];
  }
  end = std::string_view::npos;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace beampipe::domain;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut1 = in.find('\0');
  std::string_view tmpl = in.substr(0, cut1);
  std::string_view rest = cut1 == std::string_view::npos ? std::string_view() : in.substr(cut1 + 1);
  auto cut2 = rest.find('\0');
  std::string value(rest.substr(0, cut2));
  std::string value2(cut2 == std::string_view::npos ? std::string_view() : rest.substr(cut2 + 1));

  TemplateContext ctx;
  ctx["a"] = value;
  ctx["b"] = value2;
  ctx["source_identifier"] = value;
  (void)render_template(tmpl, ctx);
  (void)template_placeholders(tmpl);

  // The escaping invariant.
  auto rendered = render_template("'{a}'", ctx);
  std::size_t end = 0;
  auto literal = read_literal(rendered, end);
  auto expected = value_string(boost::json::value(value)).value_or("");
  if (end != rendered.size() || literal != expected) __builtin_trap();

  // Template context with the fuzzed identifier through the WALLABY-like transforms.
  ProjectConfig config;
  config.definitions.emplace();
  auto& strip = config.definitions->transforms["strip"];
  strip.kind = "strip_prefix";
  strip.prefix = value2;
  auto& re = config.definitions->transforms["re"];
  re.kind = "regex_extract";
  re.pattern = value2;
  config.source_identity.emplace();
  config.source_identity->template_vars["source_name"].transform = "strip";
  config.source_identity->template_vars["re"].transform = "re";
  auto full = build_template_context(value, config);
  (void)render_template(tmpl, full);
  return 0;
}

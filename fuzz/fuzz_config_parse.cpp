// libFuzzer target: project config parse + validate + canonical hash.
// Invariants: nothing throws; a parsed config re-decodes from its own typed JSON
// with the same spec_sha256.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domain/project_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace beampipe::domain;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto report = validate_project_config_text(text);
  (void)report.to_json();
  if (report.config) {
    auto again = parse_project_config(to_json(*report.config));
    if (!again.config || spec_sha256(*again.config) != report.spec_sha256) __builtin_trap();
  }
  return 0;
}

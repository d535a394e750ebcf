// libFuzzer target: deployment profile JSON parse + validate + snapshot hash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "domain/deployment_profile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace beampipe::domain;
  auto parsed =
      parse_deployment_profile(std::string_view(reinterpret_cast<const char*>(data), size));
  if (parsed.profile) {
    (void)validate_deployment_profile(*parsed.profile);
    auto sha = profile_spec_sha256(*parsed.profile);
    // The stored form decodes to the same profile.
    auto again = parse_deployment_profile(to_json(*parsed.profile));
    if (!again.profile || profile_spec_sha256(*again.profile) != sha) __builtin_trap();
  }
  return 0;
}

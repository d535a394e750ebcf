#pragma once
// Identifiers: UUIDv7 for new entities, name-based UUIDv5 where an id must be derived
// deterministically (e.g. a source's stream from its project module and identifier).
#include <cstddef>
#include <string>
#include <string_view>

namespace beampipe::util {

std::string uuid_v7();
std::string uuid_v5(std::string_view name_space_uuid, std::string_view name);
bool is_uuid(std::string_view s);
// `bytes` bytes from the operating system's CSPRNG (OpenSSL RAND_bytes) as lower-case hex: for
// secrets and generated passwords. Throws when no randomness is available.
std::string random_hex(std::size_t bytes);

}  // namespace beampipe::util

#pragma once
#include <string>
#include <string_view>

namespace beampipe::util {

// Lower-case hex SHA-256 of the bytes (OpenSSL EVP).
std::string sha256_hex(std::string_view bytes);
// Bytes as lower-case hex, and back (empty when the text is not hex of whole bytes).
std::string to_hex(std::string_view raw);
std::string from_hex(std::string_view hex);

}  // namespace beampipe::util

// Canonical JSON text and hashing helpers shared by the domain code.
//
// The earlier implementation hashed serde_json output, so every hash here must
// reproduce serde_json byte for byte: compact, strings escaped the serde way,
// integers plain, floats in shortest round-trip form with ".0" for integral
// values (ryu formatting), and dynamic maps with keys in bytewise order.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::domain {

enum class KeyOrder {
  sorted,     // serde_json::Value maps (BTreeMap): keys bytewise sorted, recursively
  insertion,  // typed structs: fields in the order the object was built
};

// serde_json compatible compact text.
std::string serde_json_text(const boost::json::value& v, KeyOrder order = KeyOrder::sorted);

// stable_json of spec §5.8: compact, keys sorted recursively.
inline std::string stable_json(const boost::json::value& v) {
  return serde_json_text(v, KeyOrder::sorted);
}

// serde_json rendering of a finite double (ryu rules): "60.0", "2505.3", "1e21", "1e-7".
std::string serde_float_text(double d);

// A deep copy with every object's keys sorted bytewise (so insertion-order
// serialisation of the copy equals sorted serialisation).
boost::json::value sorted_copy(const boost::json::value& v);

// Lowercase hex SHA-256 of the bytes (OpenSSL EVP).
std::string sha256_hex(std::string_view bytes);

// true when s is exactly 64 hex digits (either case).
bool is_sha256_hex(std::string_view s);
// A digest as the artifact store names it: 64 lower-case hex digits.
bool is_lower_sha256_hex(std::string_view s);

// --- value helpers used throughout the spec ---

// value_string(v): trimmed non-empty string, number JSON text, "true"/"false";
// absent for blank strings, null, arrays and objects.
std::optional<std::string> value_string(const boost::json::value& v);

// value_key(v): a string gives itself untrimmed, anything else its JSON text.
std::string value_key(const boost::json::value& v);

// empty(x) of §5.6: null, [], {}, or a blank string.
bool json_empty(const boost::json::value& v);

// Truthiness of §5.10: null false; bool itself; string non-blank; number != 0;
// array/object non-empty. With blank_is_false off, a string is true when non-empty
// (Python's truthiness, as DALiuGE tests graph fields).
bool json_truthy(const boost::json::value& v, bool blank_is_false = true);

std::string trim_copy(std::string_view s);

// Object member lookup by exact key, then lowercase, then uppercase.
const boost::json::value* lookup_ci(const boost::json::object& o, std::string_view key);

}  // namespace beampipe::domain

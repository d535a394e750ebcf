#pragma once
// The one rule for text and JSON that come from outside (issue #16): the API applies it to
// every request body, query value and header it records, the config decoder to every config,
// the CLI to its arguments. Whatever passes can be stored in an event and read back by every
// projection (events/validity.hpp holds the store's side of the same bargain).
//   * text is valid UTF-8 without NUL;
//   * names (identifiers, keys, usernames) carry no control character at all; free text
//     (reasons, descriptions, templates) may carry tab, line feed and carriage return;
//   * JSON trees are bounded in depth, string size, array length and object size.
#include <boost/json.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::util {

enum class text_kind { name, text };

// Why `s` is not acceptable text of this kind ("contains a NUL byte", ...), or nullopt.
std::optional<std::string> text_problem(std::string_view s, text_kind kind = text_kind::text);

// A short name an operator groups or labels by (a worker pool, a capability, a label key):
// 1..64 of A-Z a-z 0-9 . _ -
bool is_short_name(std::string_view s);

// The depth limits of JSON, from the outside in: request bodies and configs (kInputDepth),
// event data (events/validity.hpp refuses deeper) and readers of stored JSON (events, rows and
// artifacts nest fragments of the others, so they accept more).
inline constexpr std::size_t kInputDepth = 32;
inline constexpr std::size_t kEventDepth = 64;
inline constexpr std::size_t kStoredDepth = 128;

struct input_limits {
  std::size_t max_depth = kInputDepth;
  std::size_t max_string_bytes = 64 * 1024;
  std::size_t max_array_items = 10000;
  std::size_t max_object_members = 1000;
  std::size_t max_key_bytes = 256;
};

struct input_problem {
  std::string field;  // path from the root: `sources[1].source_identifier` (empty: the root)
  std::string message;
};

// The first problem of a JSON tree from outside, or nullopt. Keys are names, string values are
// free text (a field that must be a name is checked again where it is read).
std::optional<input_problem> input_problem_of(const boost::json::value& v,
                                              const input_limits& limits = {});

// Makes text from systems we do not control storable: invalid UTF-8 sequences and NUL bytes
// become U+FFFD. Valid text is left byte for byte as it is.
void make_storable(std::string& s);
// The same for every string and key of a tree built in-process (event data, metadata).
void make_storable(boost::json::value& v);
void make_storable(boost::json::object& o);

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when it is not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

}  // namespace beampipe::util

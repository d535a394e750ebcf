#pragma once
// A JSON value as another value plus the keys set on it (issue #24): a run's patched graph is
// its project's source graph with a graph configuration added and a few node fields set, so it
// is stored as that source graph's digest and the replacements, not as 300 KB of its own.
#include <boost/json.hpp>
#include <string_view>

namespace beampipe::util {

// The replacements that turn `base` into `target`, as [[path, value], ...]: a path is an
// array of object keys and array indices, and setting it replaces the value there or, for a
// key the object lacks, appends the key (Boost.JSON keeps keys in insertion order). Applied to
// a value equal to `base`, key order included, they give a value that serialises as `target`
// does. Empty when the two are equal.
boost::json::array json_delta(const boost::json::value& base, const boost::json::value& target);

// Applies json_delta's replacements; throws std::invalid_argument when one is malformed or its
// path leads nowhere in `value`.
void apply_json_delta(boost::json::value& value, const boost::json::array& delta);

// Whether serialising the parse of `text` gives `text` back: stored text that passes rebuilds the
// same bytes (a number that would not survive the round trip is stored whole instead).
bool json_text_round_trips(std::string_view text);

}  // namespace beampipe::util

#pragma once
// A JSON value as another value plus the keys set on it (issue #24): a run's patched graph is
// its project's source graph with a graph configuration added and a few node fields set, so it
// is stored as that source graph's digest and the replacements, not as 300 KB of its own.
#include <boost/json.hpp>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
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

// A canonical JSON text (one json_text_round_trips accepts) that deltas are applied to as text:
// the bytes between the values a delta sets are copied, not parsed and serialised again. Where
// each path's value lies is found once and remembered (the runs of one project set the same
// paths). Safe to share between threads.
class json_text_patcher {
 public:
  explicit json_text_patcher(std::string canonical);
  const std::string& text() const { return text_; }
  // json::serialize of the text's value with apply_json_delta(delta) applied, or nullopt when
  // the delta is not one this splices (a path inside another path's value, a path through a key
  // the text lacks, the root, an index past an array's end, a malformed entry): the caller
  // applies it to the value instead.
  std::optional<std::string> apply(const boost::json::array& delta) const;

 private:
  struct span {
    std::size_t begin = 0, end = 0;  // the value's bytes; for a missing key, the parent's '}'
    bool exists = false;
    bool parent_empty = false;  // a missing key's object has no members
  };
  std::optional<span> locate(const boost::json::array& path) const;
  std::optional<span> step_into(std::size_t begin, std::size_t end,
                                const boost::json::value& step) const;

  std::string text_;
  mutable std::mutex mu_;
  mutable std::map<std::string, span> spans_;  // containers, by their path's serialisation
};

}  // namespace beampipe::util

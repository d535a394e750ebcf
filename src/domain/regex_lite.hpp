// A small linear-time regular expression engine for regex_extract (spec §5.6).
//
// The earlier implementation used the Rust `regex` crate, whose matching is
// leftmost-first and runs in time linear in the input. std::regex backtracks
// (a pattern such as "(a*)*b" hangs a worker) and recurses per character, so
// patterns coming from project configs are compiled here instead and run on a
// Pike VM (Thompson NFA simulation with captures).
//
// Supported subset of the Rust syntax: literals (UTF-8), `.`, classes `[a-z]`,
// `[^…]`, escapes `\d \D \w \W \s \S \b \B \A \z \n \t \r \f \v \xHH \x{H…}` and
// escaped punctuation, groups `(…)`, `(?:…)`, `(?P<name>…)`, `(?<name>…)`,
// alternation, quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy), anchors
// `^ $`, and a leading `(?i)` (ASCII case folding). Not supported (compile
// error): look-around and back-references (absent from Rust too), Unicode
// classes `\p{…}`, nested/POSIX classes, inline flags elsewhere. Differences:
// `\d \w \s \b` are ASCII-only (Rust's are Unicode-aware).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace beampipe::domain::regex_lite {

struct Program;

// Limits that keep compile and match time bounded for any pattern.
inline constexpr std::size_t kMaxPatternBytes = 4096;
inline constexpr std::size_t kMaxProgramSize = 5000;
inline constexpr std::size_t kMaxInputBytes = 65536;

struct Compiled {
  std::shared_ptr<const Program> program;  // null on error
  std::string error;
};

Compiled compile(std::string_view pattern);

// Number of capture groups including group 0.
std::size_t group_count(const Program& program);

// Byte spans of each group (nullopt for groups that did not participate) of the
// leftmost-first match, or nullopt when there is no match (or the input is larger
// than kMaxInputBytes).
using Span = std::pair<std::size_t, std::size_t>;
std::optional<std::vector<std::optional<Span>>> search(const Program& program,
                                                       std::string_view input);

}  // namespace beampipe::domain::regex_lite

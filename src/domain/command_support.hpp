#pragma once
// Field readers shared by the aggregate deciders: each refusal names the offending field.
#include <optional>
#include <string>
#include <string_view>

#include "domain/aggregates.hpp"
#include "domain/hooks.hpp"
#include "util/input_rules.hpp"
#include "util/json.hpp"

namespace beampipe::domain::cmd {

inline command_error bad(std::string field, std::string message,
                         std::string code = "invalid_field") {
  return {error_kind::invalid, std::move(code), std::move(message), std::move(field)};
}

// A command that creates something arrived without the id the runtime gives it.
inline command_error no_new_id() {
  return {error_kind::internal, "missing_new_id", "the command carries no id for what it creates",
          ""};
}

inline command_error conflict(std::string code, std::string message, std::string field = "") {
  return {error_kind::conflict, std::move(code), std::move(message), std::move(field)};
}

inline bool has_control_chars(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

inline std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r'))
    --e;
  return std::string(s.substr(b, e - b));
}

// Reads an optional free-text string (tab and line breaks allowed, util::text_kind::text) of
// at most max_len bytes; absent or null leaves `out` empty.
inline std::optional<command_error> optional_text(const boost::json::object& body,
                                                  const char* field, size_t max_len,
                                                  std::string& out) {
  auto it = body.find(field);
  if (it == body.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) return bad(field, std::string(field) + " must be a string");
  out = trim(it->value().as_string());
  if (out.size() > max_len)
    return bad(field,
               std::string(field) + " must be at most " + std::to_string(max_len) + " bytes");
  if (auto p = util::text_problem(out, util::text_kind::text))
    return bad(field, std::string(field) + " " + *p);
  return std::nullopt;
}

// Reads a required, trimmed, non-empty string of at most max_len bytes.
inline std::optional<command_error> required_text(const boost::json::object& body,
                                                  const char* field, size_t max_len,
                                                  std::string& out) {
  auto it = body.find(field);
  if (it == body.end() || it->value().is_null())
    return bad(field, std::string(field) + " is required");
  if (!it->value().is_string()) return bad(field, std::string(field) + " must be a string");
  out = trim(it->value().as_string());
  if (out.empty()) return bad(field, std::string(field) + " must not be empty");
  if (out.size() > max_len)
    return bad(field,
               std::string(field) + " must be at most " + std::to_string(max_len) + " bytes");
  if (has_control_chars(out))
    return bad(field, std::string(field) + " must not contain control characters");
  return std::nullopt;
}

inline std::optional<command_error> optional_bool(const boost::json::object& body,
                                                  const char* field, std::optional<bool>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_bool()) return bad(field, std::string(field) + " must be a boolean");
  out = it->value().as_bool();
  return std::nullopt;
}

inline bool flag(const boost::json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

inline std::string str(const boost::json::object& o, std::string_view k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                  : std::string();
}

inline int64_t int_or(const boost::json::object& o, std::string_view k, int64_t fallback) {
  auto it = o.find(k);
  if (it == o.end()) return fallback;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<int64_t>(it->value().as_uint64());
  return fallback;
}

using util::at_or_null;

// A refused command: thrown by a typed decoder or decider, caught once where the aggregate
// decides, so each check reads as a line rather than a returned error.
struct refusal {
  command_error error;
};

inline void check(std::optional<command_error> e) {
  if (e) throw refusal{std::move(*e)};
}

// The hook runs a command reports (its "wasm_hooks"), or the refusal naming the element.
inline std::vector<events::hook_run> hook_runs(const boost::json::object& b) {
  try {
    return decode_hook_runs(at_or_null(b, "wasm_hooks"));
  } catch (const events::decode_error& e) {
    throw refusal{bad(e.field, e.what())};
  }
}

// required_text, or the refusal naming the field.
inline std::string required(const boost::json::object& b, const char* field, size_t max_len) {
  std::string out;
  check(required_text(b, field, max_len, out));
  return out;
}

// optional_bool, or the refusal naming the field.
inline std::optional<bool> opt_bool(const boost::json::object& b, const char* field) {
  std::optional<bool> out;
  check(optional_bool(b, field, out));
  return out;
}

}  // namespace beampipe::domain::cmd

#include "events/validity.hpp"

#include <stdexcept>
#include <vector>

#include "events/envelope.hpp"

namespace beampipe::events {
namespace json = boost::json;

namespace {

std::optional<json::value> parse_deep(std::string_view text, std::size_t depth, std::string& why) {
  json::parse_options opts;
  opts.max_depth = depth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    why = ec.message();
    return std::nullopt;
  }
  return v;
}

// Boost.JSON has already refused invalid UTF-8; an escaped \u0000 is the one thing left.
std::optional<std::string> nul_in(const json::value& root) {
  std::vector<const json::value*> todo{&root};
  while (!todo.empty()) {
    const auto* v = todo.back();
    todo.pop_back();
    if (v->is_string()) {
      if (v->get_string().find('\0') != json::string::npos) return "a string contains NUL";
    } else if (v->is_array()) {
      for (const auto& e : v->get_array()) todo.push_back(&e);
    } else if (v->is_object()) {
      for (const auto& kv : v->get_object()) {
        if (kv.key().find('\0') != std::string_view::npos) return "a key contains NUL";
        todo.push_back(&kv.value());
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> storage_problem(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) return "is larger than " + std::to_string(max_bytes) + " bytes";
  std::string why;
  auto v = parse_deep(text, util::kEventDepth, why);
  if (!v) return "is not JSON within " + std::to_string(util::kEventDepth) + " levels: " + why;
  if (!v->is_object()) return "is not a JSON object";
  if (auto p = nul_in(*v)) return p;
  return std::nullopt;
}

json::object parse_payload(std::string_view text) {
  std::string why;
  // Readers accept more depth than the store lets in: a history written under other limits
  // still reads.
  auto v = parse_deep(text, util::kStoredDepth, why);
  if (!v) throw std::runtime_error("event payload is not JSON: " + why);
  if (!v->is_object()) throw std::runtime_error("event payload is not a JSON object");
  return std::move(v->get_object());
}

boost::json::object feed_json(const recorded_event& e) {
  return {{"position", e.position},
          {"event_id", e.event_id},
          {"stream_id", e.stream_id},
          {"stream_type", e.stream_type},
          {"stream_version", e.stream_version},
          {"type", e.type},
          {"schema_version", e.schema_version},
          {"data", parse_payload(e.data)},
          {"metadata", parse_payload(e.metadata)},
          {"recorded_at", e.recorded_at}};
}

bool feed_visible(const recorded_event& e, bool superuser) {
  return superuser || (e.stream_type != "session" && e.stream_type != "user");
}

}  // namespace beampipe::events

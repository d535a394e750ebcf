#include "events/envelope.hpp"

#include "util/input_rules.hpp"
#include "util/json.hpp"

namespace beampipe::events {

std::string event_metadata::to_json() const {
  boost::json::object o;
  if (!correlation_id.empty()) o["correlation_id"] = correlation_id;
  if (!causation_id.empty()) o["causation_id"] = causation_id;
  if (!actor.empty()) o["actor"] = actor;
  if (!node.empty()) o["node"] = node;
  util::make_storable(o);  // the store refuses invalid UTF-8 and NUL
  return boost::json::serialize(o);
}

event_metadata event_metadata::from_json(const std::string& text) {
  event_metadata m;
  auto v = util::parse_json(text);
  if (!v || !v->is_object()) return m;
  const auto& o = v->as_object();
  m.correlation_id = util::get_string_or(o, "correlation_id", "");
  m.causation_id = util::get_string_or(o, "causation_id", "");
  m.actor = util::get_string_or(o, "actor", "");
  m.node = util::get_string_or(o, "node", "");
  return m;
}

std::string stream_type_of(const std::string& stream_id) {
  auto dash = stream_id.find('-');
  return dash == std::string::npos ? stream_id : stream_id.substr(0, dash);
}

std::string stream_key_of(const std::string& stream_id) {
  auto dash = stream_id.find('-');
  return dash == std::string::npos ? std::string{} : stream_id.substr(dash + 1);
}

}  // namespace beampipe::events

namespace beampipe::events {
std::string stream_key_of_view(std::string_view stream_id) {
  auto dash = stream_id.find('-');
  return dash == std::string_view::npos ? std::string{} : std::string(stream_id.substr(dash + 1));
}
}  // namespace beampipe::events

#pragma once
// The schema of record: every event type the store may hold, its current version and its
// struct (events/<aggregate>.hpp), and the upcasters that lift an older payload one version
// at a time. Every reader of the store (aggregates, projections, replay, import) goes through
// decode(), so it only ever sees payloads of the current shape; every writer goes through
// make(), so the version stored is the one of the struct that wrote it.
#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "events/codec.hpp"

namespace beampipe::events {

struct recorded_event;

// What an aggregate decided to append: the type and version come from the struct.
// A schema_version of 0 stands for the type's current version (a payload built as JSON rather
// than from its struct); the appender resolves it and checks the payload against the struct.
struct pending_event {
  std::string type;
  boost::json::object data;
  int schema_version = 0;
};

template <class Event>
pending_event make(const Event& e) {
  return {Event::kType, encode(e), Event::kVersion};
}

// A payload that cannot be read as its type: unknown type, a version from the future, no
// upcaster, or a field of the wrong shape (decode_error::field names it).
struct unreadable_event : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Lifts a payload of version N (in place) to version N + 1.
using upcaster = void (*)(boost::json::object& data);

struct event_kind {
  std::string_view type;
  int version = 1;                                 // the current version
  void (*check)(const boost::json::object& data);  // throws decode_error
};

const event_kind* find_kind(std::string_view type);
const std::vector<event_kind>& all_kinds();

// The payload of (type, schema_version) lifted to the current version and checked against its
// struct. Throws unreadable_event (with the decode_error's field in the message).
boost::json::object decode(std::string_view type, int schema_version, boost::json::object data);
boost::json::object decode(const recorded_event& e);

// Checks a payload about to be appended: its type is known, the version is the current one,
// and it reads as its struct. Returns why not, or an empty string.
std::string append_problem(std::string_view type, int schema_version,
                           const boost::json::object& data);
// An event about to be appended: a schema_version of 0 becomes its type's current one, then
// append_problem().
std::string prepare_append(pending_event& e);

}  // namespace beampipe::events

#pragma once
// A project config revision (a project_configs row) and the fold over a project stream's events
// that builds them: the projection applies it to stored rows, and time travel
// (GET /project-configs/{id}?as_of…) replays the stream through it.
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::domain::config_record {

// A member per column of project_configs, named as the column.
struct revision {
  std::string uuid;
  std::string project_id;
  int64_t version = 0;
  boost::json::object spec;
  std::string spec_sha256;
  boost::json::array warnings;
  bool active = false;
  std::string uploaded_at;  // RFC 3339, the upload event's time
};
BOOST_DESCRIBE_STRUCT(revision, (),
                      (uuid, project_id, version, spec, spec_sha256, warnings, active, uploaded_at))

// Whether the fold reads events of this type.
bool handles(std::string_view type);

// An upload makes a new, inactive revision; none for other types.
std::optional<revision> uploaded(std::string_view type, const boost::json::object& data,
                                 std::string_view recorded_at);

// An activation makes `uuid` the active revision and `previous_uuid` (when given) inactive.
struct activation {
  std::string uuid;
  std::optional<std::string> previous_uuid;
};
std::optional<activation> activated(std::string_view type, const boost::json::object& data);

// Both, over a project's revisions by uuid.
void evolve(std::map<std::string, revision>& revisions, std::string_view type,
            const boost::json::object& data, std::string_view recorded_at);

// The active revision (the newest, should a broken history leave two), if any.
const revision* active(const std::map<std::string, revision>& revisions);

boost::json::object columns(const revision& r);

}  // namespace beampipe::domain::config_record

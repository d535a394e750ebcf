#pragma once
// Events of a project stream ("project-<id>", spec §1.2, §5.9) and of the deployment profile
// registry ("profiles-registry", §1.3).
#include "events/codec.hpp"
#include "events/types.hpp"

namespace beampipe::events {

struct project_config_uploaded {
  static constexpr const char* kType = type::project_config_uploaded;
  static constexpr int kVersion = 1;
  std::string uuid;
  std::string project_id;
  int64_t version = 0;
  boost::json::object spec;  // the validated config, as the API answers it
  std::string spec_sha256;
  boost::json::array warnings;  // diagnostics
};
BOOST_DESCRIBE_STRUCT(project_config_uploaded, (),
                      (uuid, project_id, version, spec, spec_sha256, warnings))

struct project_config_activated {
  static constexpr const char* kType = type::project_config_activated;
  static constexpr int kVersion = 1;
  std::string uuid;
  std::string project_id;
  int64_t version = 0;
  std::string spec_sha256;
  boost::json::object spec;
  std::optional<std::string> previous_uuid;
};
BOOST_DESCRIBE_STRUCT(project_config_activated, (),
                      (uuid, project_id, version, spec_sha256, spec, previous_uuid))

struct project_wasm_uploaded {
  static constexpr const char* kType = type::project_wasm_uploaded;
  static constexpr int kVersion = 1;
  std::string project_id;
  std::string project_config_id;  // the revision active at upload
  std::string wasm_sha256;
  int64_t size_bytes = 0;
};
BOOST_DESCRIBE_STRUCT(project_wasm_uploaded, (),
                      (project_id, project_config_id, wasm_sha256, size_bytes))

// A revision of a deployment profile, as created or updated.
struct profile_revision {
  std::string uuid;
  boost::json::object profile;  // the validated profile, secrets never included
  int64_t revision = 1;
  std::string spec_sha256;
};
BOOST_DESCRIBE_STRUCT(profile_revision, (), (uuid, profile, revision, spec_sha256))

struct profile_created : profile_revision {
  static constexpr const char* kType = type::profile_created;
  static constexpr int kVersion = 1;
};
BOOST_DESCRIBE_STRUCT(profile_created, (profile_revision), ())

struct profile_updated : profile_revision {
  static constexpr const char* kType = type::profile_updated;
  static constexpr int kVersion = 1;
};
BOOST_DESCRIBE_STRUCT(profile_updated, (profile_revision), ())

struct profile_deleted {
  static constexpr const char* kType = type::profile_deleted;
  static constexpr int kVersion = 1;
  std::string uuid;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(profile_deleted, (), (uuid, name))

}  // namespace beampipe::events

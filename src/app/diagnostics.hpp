#pragma once
// Doctor-style checks (issue #21, spec §9.5): what an operator runs before trusting a node.
// One set of checks behind both GET /api/v2/diagnostics and `beampipe doctor`, which runs them
// against the database when the API is down. Passes are listed too, so a clean report says what
// was checked; only a `fail` makes the report not ok (a `warn` asks for a look).
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "adapters/execution_backend.hpp"
#include "app/settings.hpp"
#include "store/database.hpp"

namespace beampipe::app {

struct diagnostic_check {
  std::string id;       // stable: `database.connected`, `daliuge.manager_unreachable`, …
  std::string status;   // pass | warn | fail
  std::string message;  // what was found (never a secret: URLs are redacted)
  std::string hint;     // what to do about it (empty on a pass)
  std::string subject;  // the project or profile the check is about, if any
};

struct diagnosis {
  std::string generated_at;
  std::optional<std::string> profile;  // the profile the backend checks were made for
  std::vector<diagnostic_check> checks;
  bool ok() const;
};

struct diagnostics_options {
  // A profile by name; none: the global default profile, else the only default profile.
  std::optional<std::string> profile;
  std::chrono::seconds timeout{5};     // each network probe
  adapters::backend_factory backends;  // for the Slurm check (its pooled SSH sessions)
};

diagnosis diagnose(store::database& db, const settings& s, const diagnostics_options& o);
boost::json::object to_json(const diagnosis& d);

}  // namespace beampipe::app

#pragma once
// Admission of an execution (spec §9.5 [HEAD]): everything checked before an execution may
// exist — active project config, archive, source count, per-source readiness with SBID
// filters, deployment profile (id, name, or the project's then the global default), its scope
// and concurrency limit — and the pins recorded with it (config revision, profile snapshot,
// per-source and aggregate discovery signatures, output verification policy). Shared by the
// API (operator creates) and the scheduler (automated creates).
#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace beampipe::actors {

// The first request-level problem, with the HTTP status, a stable code and the field.
struct admission_error : std::runtime_error {
  int status;
  std::string code, field;
  admission_error(int s, std::string c, const std::string& message, std::string f)
      : std::runtime_error(message), status(s), code(std::move(c)), field(std::move(f)) {}
};

struct execution_admission {
  boost::json::object pins;   // fields added to the create command
  boost::json::array errors;  // per-source readiness problems (preview only)
  std::vector<boost::json::object> preview;
  int64_t total_datasets = 0;
};

// preview_only: collect readiness problems instead of refusing, skip archive and profile
// checks (POST /executions/prepare). Throws admission_error.
execution_admission admit_execution(store::connection_pool& pool, const boost::json::object& body,
                                    bool preview_only);

// §9.5 canonical request hash of an ExecutionCreate body.
std::string execution_request_sha256(const boost::json::object& body);

}  // namespace beampipe::actors

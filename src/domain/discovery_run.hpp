// One source's discovery, spec §5.3 steps 1–7 plus the §5.8 decision. Pure: the archive is
// a callback, so the same code runs against a real TAP service, the simulated archive and
// test doubles.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "domain/discovery.hpp"
#include "domain/hooks.hpp"
#include "domain/project_config.hpp"

namespace beampipe::domain {

struct archive_rows {
  boost::json::array rows;  // one JSON object per row, keyed by column name
  bool truncated = false;   // the service reported OVERFLOW (MAXREC reached)
};

struct archive_failure {
  std::string message;
  bool retryable = true;  // timeouts and connection problems; false for e.g. an ADQL error
};

struct archive_answer {
  std::optional<archive_rows> rows;
  std::optional<archive_failure> failure;
};

// Runs one ADQL query on a named adapter ("casda" or "vizier").
using archive_query =
    std::function<archive_answer(const std::string& adapter, const std::string& adql)>;

struct discovery_run_result {
  enum class kind { changed, unchanged, no_datasets, failed } outcome = kind::failed;
  std::string signature;
  std::map<std::string, boost::json::value> rows;  // sbid -> metadata_json to store
  std::vector<std::string> delete_sbids;
  boost::json::object flags;
  size_t datasets = 0;
  bool truncated = false;  // some query was cut at MAXREC: the metadata may be incomplete
  std::vector<std::string> warnings;
  std::optional<archive_failure> failure;
  std::vector<events::hook_run> wasm_hooks;  // the prepare_metadata hook, when it ran
};

// `stored_signature` / `stored_rows`: what the source has now (empty when never discovered).
// `hooks`: the project's hook module, when it has one (§5.3 step 8).
discovery_run_result run_discovery(const ProjectConfig& config,
                                   const std::string& source_identifier,
                                   const std::string& stored_signature,
                                   const std::map<std::string, boost::json::value>& stored_rows,
                                   const archive_query& query,
                                   const project_hooks* hooks = nullptr);

}  // namespace beampipe::domain

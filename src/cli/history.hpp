#pragma once
// Portable history (issue #18): loading a store written by `beampipe events export`.
#include <functional>
#include <istream>
#include <optional>
#include <pqxx/pqxx>
#include <string>

namespace beampipe::cli {

struct import_report {
  int64_t read = 0;            // events in the file
  int64_t added = 0;           // events the store did not have
  int64_t artifacts = 0;       // artifacts the store did not have
  int64_t hashes_checked = 0;  // lines whose chain hash (an export's "hash") matched the store's
};

// Reads JSON lines in the feed's shape and appends them to the store in one transaction,
// keeping positions, event ids and times. Every line must decode (the fields, and data and
// metadata that the store accepts), positions must increase, and each stream's versions must
// run on from what the store holds without a gap. An event already stored (same id) must be
// identical and is skipped, so importing a file twice adds nothing; anything conflicting
// (another event at a position, a different event under an id, a stream version taken)
// refuses the whole import with the line number. Artifacts (DIR/index.jsonl + DIR/<sha256>)
// are checked against their digests. A line's "hash" (exports carry each event's chain hash)
// must equal the hash the store holds for it after the import chains the new events; any
// mismatch refuses the import. Throws std::invalid_argument naming the problem.
import_report import_history(pqxx::connection& c, std::istream& in,
                             const std::optional<std::string>& artifacts_dir,
                             const std::function<void(int64_t lines)>& progress);

}  // namespace beampipe::cli

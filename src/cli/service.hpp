#pragma once
// beampipe as a background service of this machine (spec §11.1 [HEAD] Run family):
// `start --detach`, `stop`, `restart` and `logs`. The process keeps its pid in
// DATA_DIR/beampipe.pid and writes its log to DATA_DIR/beampipe.log.
#include <filesystem>
#include <string>
#include <vector>

namespace beampipe::cli {

// Runs `beampipe start <start_args>` in its own session, detached from the terminal, and
// answers once it serves (its URL printed) or has failed (its log's last lines printed, 1).
// 1 as well when one already runs from this data folder.
int start_detached(const std::filesystem::path& data_dir,
                   const std::vector<std::string>& start_args);
// Asks the running service to stop (SIGTERM) and waits for it (60 s); 0 when none runs.
int stop_service(const std::filesystem::path& data_dir);
// The log's last `lines` lines; with `follow`, what is appended after, until interrupted.
int show_logs(const std::filesystem::path& data_dir, int lines, bool follow);

}  // namespace beampipe::cli

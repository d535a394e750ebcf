#pragma once
// `beampipe console`: the terminal console (ncurses) of a running beampipe, through its API with
// the kept sign-in. Views: overview, executions, workers, jobs and the event feed, refreshed
// every interval; an operator can drain or resume a worker and cancel a run (each confirmed).
#include <chrono>
#include <optional>
#include <string>

namespace beampipe::cli {

struct console_options {
  std::optional<std::string> url;
  std::string default_url;
  std::chrono::milliseconds interval{2000};
};

// Runs until q; answers the exit code (2 when there is no terminal or no sign-in).
int run_console(const console_options& o);

}  // namespace beampipe::cli

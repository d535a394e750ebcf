#pragma once
// The execution ledger state machine (spec §2.2). Pure: no I/O.
#include <optional>
#include <string>
#include <string_view>

namespace beampipe::domain {

enum class execution_status {
  pending,
  running,
  awaiting_scheduler,
  not_submitted,
  completed,
  failed,
  retrying,
  cancelled,
};

std::string_view to_string(execution_status s);
std::optional<execution_status> parse_execution_status(std::string_view s);

bool is_terminal(execution_status s);         // completed, failed, cancelled, not_submitted
bool is_locked_terminal(execution_status s);  // completed, cancelled: never change again
// The §2.2 transition table; a transition to the same status is always allowed.
bool allows(execution_status from, execution_status to);

// Ledger fields a status change touches (the rest of the row is untouched).
struct ledger_fields {
  execution_status status = execution_status::pending;
  int retry_count = 0;
  std::optional<std::string> last_error;
  std::optional<std::string> execution_phase;
  bool has_started = false;    // started_at set
  bool has_completed = false;  // completed_at set
};

struct status_patch {
  execution_status to;
  std::optional<std::string> error;  // sets last_error
  bool clear_error = false;
};

struct transition_outcome {
  ledger_fields after;
  bool set_started = false;    // started_at := event time
  bool set_completed = false;  // completed_at := event time
  bool changed = false;        // status changed
};

// Applies a status patch with the §2.2 semantics ([HEAD] retry counting). Throws nothing;
// callers check allows() first (a locked terminal status stays as it is).
transition_outcome apply_status_patch(const ledger_fields& before, const status_patch& p);

}  // namespace beampipe::domain

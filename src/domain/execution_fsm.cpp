#include "domain/execution_fsm.hpp"

namespace beampipe::domain {

std::string_view to_string(execution_status s) {
  switch (s) {
    case execution_status::pending: return "pending";
    case execution_status::running: return "running";
    case execution_status::awaiting_scheduler: return "awaiting_scheduler";
    case execution_status::not_submitted: return "not_submitted";
    case execution_status::completed: return "completed";
    case execution_status::failed: return "failed";
    case execution_status::retrying: return "retrying";
    case execution_status::cancelled: return "cancelled";
  }
  return "pending";
}

std::optional<execution_status> parse_execution_status(std::string_view s) {
  for (auto st : {execution_status::pending, execution_status::running,
                  execution_status::awaiting_scheduler, execution_status::not_submitted,
                  execution_status::completed, execution_status::failed, execution_status::retrying,
                  execution_status::cancelled})
    if (to_string(st) == s) return st;
  return std::nullopt;
}

bool is_terminal(execution_status s) {
  return s == execution_status::completed || s == execution_status::failed ||
         s == execution_status::cancelled || s == execution_status::not_submitted;
}

bool is_locked_terminal(execution_status s) {
  return s == execution_status::completed || s == execution_status::cancelled;
}

bool allows(execution_status from, execution_status to) {
  using S = execution_status;
  if (from == to) return true;
  switch (from) {
    case S::pending: return to == S::running || to == S::failed || to == S::cancelled;
    case S::running:
      return to == S::awaiting_scheduler || to == S::not_submitted || to == S::completed ||
             to == S::failed || to == S::cancelled;
    case S::awaiting_scheduler:
      return to == S::running || to == S::completed || to == S::failed || to == S::cancelled;
    case S::not_submitted: return to == S::running || to == S::cancelled;
    case S::failed: return to == S::running || to == S::retrying || to == S::cancelled;
    case S::retrying: return to == S::running || to == S::failed || to == S::cancelled;
    case S::completed:
    case S::cancelled: return false;
  }
  return false;
}

transition_outcome apply_status_patch(const ledger_fields& before, const status_patch& p) {
  using S = execution_status;
  transition_outcome out;
  out.after = before;
  // A locked terminal status never changes; the rest of the patch still applies.
  S next = is_locked_terminal(before.status) ? before.status : p.to;
  S prev = before.status;
  out.changed = next != prev;
  out.after.status = next;
  if (next == S::running && !before.has_started) {
    out.set_started = true;
    out.after.has_started = true;
  }
  if (is_terminal(next) && !before.has_completed) {
    out.set_completed = true;
    out.after.has_completed = true;
  }
  if (prev == S::failed && next == S::retrying) out.after.retry_count += 1;  // [HEAD] only here
  bool clears = ((prev == S::failed || prev == S::retrying) &&
                 (next == S::running || next == S::retrying) && !p.error) ||
                (next == S::completed && prev != S::completed && !p.error);
  if (is_terminal(next) && out.changed) out.after.execution_phase.reset();
  if (p.error) out.after.last_error = p.error;
  else if (p.clear_error || clears) out.after.last_error.reset();
  return out;
}

}  // namespace beampipe::domain

# Sourced by the scripts under scripts/: every failure prints one ERROR line naming the step
# that failed, and the script exits with the failing command's status. Nothing else decides it.
#   step "building"   names what the script does next
_bp_script=${0##*/}
STEP=${STEP:-start}
step() { STEP="$*"; }
_bp_on_error() {
  local rc=$?
  printf '%s: ERROR: step "%s" failed (exit %s) at line %s: %s\n' \
    "$_bp_script" "$STEP" "$rc" "${BASH_LINENO[0]}" "$BASH_COMMAND" >&2
  exit "$rc"
}
trap _bp_on_error ERR

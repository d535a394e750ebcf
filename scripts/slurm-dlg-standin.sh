#!/usr/bin/env bash
# slurm-dlg-standin.sh -- install beampipe's stand-in DALiuGE (tests/slurm/dlg_standin; our
# own code, not DALiuGE) for the ssh user of the loopback Slurm (scripts/slurm-up.sh):
#   ~USER/.local/lib/python3.X/site-packages/{dlg,wallaby_hires}  (user site: found by
#       python3 even when sbatch --export strips HOME and PYTHONPATH from job steps)
#   ~USER/.local/bin/wallaby_hires                              (on PATH via ~/.profile)
#   ~USER/dlg                                                   (dlg_root for the tests)
# Idempotent: copies only what changed. Run as root after slurm-up.sh.
# Env: SLURM_SSH_USER (hpc)
set -Eeuo pipefail
SSH_USER=${SLURM_SSH_USER:-hpc}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/slurm/dlg_standin" && pwd)
die() { echo "slurm-dlg-standin: ERROR: $*" >&2; exit 1; }
trap 'rc=$?; echo "slurm-dlg-standin: ERROR: (exit $rc) at line $LINENO: $BASH_COMMAND" >&2; exit $rc' ERR
[ "$(id -u)" = 0 ] || die "must run as root"
getent passwd "$SSH_USER" >/dev/null || die "user $SSH_USER missing: run scripts/slurm-up.sh first"
HOME_DIR=$(getent passwd "$SSH_USER" | cut -d: -f6)
SITE=$(runuser -u "$SSH_USER" -- python3 -c 'import site; print(site.getusersitepackages())') \
  || die "cannot ask python3 for the user site of $SSH_USER"
case "$SITE" in "$HOME_DIR"/*) ;; *) die "unexpected user site $SITE";; esac

as_user() { runuser -u "$SSH_USER" -- "$@"; }
as_user mkdir -p "$SITE" "$HOME_DIR/.local/bin" "$HOME_DIR/dlg"
for pkg in dlg wallaby_hires; do
  # -c: only files whose content changed are rewritten; stale files are removed.
  as_user rsync -rc --delete --exclude '__pycache__' "$SRC/$pkg/" "$SITE/$pkg/" 2>/dev/null || {
    as_user rm -rf "$SITE/$pkg.new"; as_user cp -r "$SRC/$pkg" "$SITE/$pkg.new"
    as_user rm -rf "$SITE/$pkg"; as_user mv "$SITE/$pkg.new" "$SITE/$pkg"; }
done
install -o "$SSH_USER" -g "$SSH_USER" -m 755 "$SRC/bin/wallaby_hires" "$HOME_DIR/.local/bin/wallaby_hires"
chmod 755 "$HOME_DIR/dlg"

# The login shell used by the control plane must see all of it.
out=$(as_user bash -lc 'cd && command -v wallaby_hires && wallaby_hires --version &&
  python3 -c "import dlg.deploy.create_dlg_job, dlg.deploy.start_dlg_cluster, wallaby_hires; print(\"import ok\")"' 2>&1) \
  || die "stand-in not usable from a login shell: $out"
echo "slurm-dlg-standin: ready for $SSH_USER (site $SITE, dlg_root $HOME_DIR/dlg)"

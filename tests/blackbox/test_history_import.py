"""Histories recorded by earlier builds stay readable (issue #18): each fixture under
tests/history/<name>/ (written by tests/history/record_history.py) is imported into a fresh
store with `beampipe events import`, and every read route it recorded must answer the same
(new fields may be added; a few answers that depend on the clock or on this process are
compared without those fields)."""
import glob
import gzip
import json
import os
import subprocess
import tempfile

from harness import ADMIN_PASSWORD, ADMIN_USERNAME, Checks, Server, fresh_database

V2 = "/api/v2"
BIN = os.environ["BEAMPIPE_BIN"]
HISTORIES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "history", "*", "events.jsonl")))
# Fields that say when or where something is looked at now, not what history holds.
VOLATILE = {"GET /jobs": {"lease", "locked_until", "expires_at", "age_seconds", "owner", "holder",
                          "lease_expires_at", "next_run_at"}}
SKIP = {"GET /user/me"}  # the signed-in session is this process's, not history's


def without_ticks(body):
    """Recurring ticks (dim_poll_tick, alert_evaluator_tick, ...) are coordination rows of the
    processes that ran, not history: a store rebuilt from events has none until it runs."""
    items = body.get("items", []) if isinstance(body, dict) else body
    kept = [j for j in items if not str(j.get("kind", "")).endswith("_tick")]
    return dict(body, items=kept) if isinstance(body, dict) else kept


NORMALISE = {"GET /jobs": without_ticks}


def contains(recorded, now, ignore, path="$"):
    """Every recorded value is in the new answer (which may add fields); the first difference."""
    if isinstance(recorded, dict):
        if not isinstance(now, dict):
            return f"{path}: was an object"
        for k, v in recorded.items():
            if k in ignore:
                continue
            if k not in now:
                return f"{path}.{k}: missing"
            why = contains(v, now[k], ignore, f"{path}.{k}")
            if why:
                return why
        return None
    if isinstance(recorded, list):
        if not isinstance(now, list) or len(now) != len(recorded):
            return f"{path}: list of {len(recorded)} became {len(now) if isinstance(now, list) else now!r}"
        for i, (a, b) in enumerate(zip(recorded, now)):
            why = contains(a, b, ignore, f"{path}[{i}]")
            if why:
                return why
        return None
    return None if recorded == now else f"{path}: {recorded!r} became {now!r}"


c = Checks()
c.true("there is a recorded history", bool(HISTORIES))
for events_file in HISTORIES:
    folder = os.path.dirname(events_file)
    name = os.path.basename(folder)
    with open(os.path.join(folder, "answers.json")) as f:
        recorded = json.load(f)
    arts = tempfile.mkdtemp(prefix=f"beampipe-history-{name}-")
    with open(os.path.join(folder, "artifacts", "index.jsonl")) as f:
        index = f.read()
    with open(os.path.join(arts, "index.jsonl"), "w") as f:
        f.write(index)
    for line in index.splitlines():
        sha = json.loads(line)["sha256"]
        with gzip.open(os.path.join(folder, "artifacts", sha + ".gz")) as src, open(os.path.join(arts, sha), "wb") as dst:
            dst.write(src.read())
    db = fresh_database()
    env = dict(os.environ, DATABASE_URL=db)
    p = subprocess.run([BIN, "events", "import", events_file, "--artifacts", arts], env=env, capture_output=True,
                       text=True, timeout=600)
    c.eq(f"{name}: imported", (p.returncode, p.stderr[-300:]), (0, p.stderr[-300:]))
    secret = os.path.join(arts, "password")
    with open(secret, "w") as f:
        f.write(ADMIN_PASSWORD)
    subprocess.run([BIN, "admin", "set-password", "--username", ADMIN_USERNAME, "--password-file", secret],
                   env=env, check=True, capture_output=True, timeout=60)
    srv = Server(conninfo=db, extra_env={"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "",
                                         "BEAMPIPE_DISCOVERY_STALE_SWEEP_MS": "0"},
                 args=("serve", "--worker", "false"))
    srv.wait_ready()
    try:
        for key, answer in sorted(recorded["answers"].items()):
            if key in SKIP:
                continue
            method, path = key.split(" ", 1)
            st, body, _, _ = srv.request(method, V2 + path)
            why = None if st == answer["status"] else f"status {answer['status']} became {st}"
            norm = NORMALISE.get(key, lambda b: b)
            why = why or contains(norm(answer["body"]), norm(body), VOLATILE.get(key, set()))
            c.true(f"{name}: {key} answers as recorded" + (f" ({why})" if why else ""), why is None)
    finally:
        srv.stop()
c.finish()

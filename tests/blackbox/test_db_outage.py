"""Issue #16: the database going away.

1. PostgreSQL restarts (fast mode) while 16 clients write. Every acknowledged write survives,
   exactly once; while the database is down the API answers (503), it does not hang; once it
   is back everything resumes by itself within seconds, with no process restart: pools,
   LISTEN, the projection runner, leases and the scheduler.
2. Each of beampipe's sessions is terminated in turn (pg_terminate_backend) under the same
   load: nothing is left half-applied and `replay --verify` passes.

The test runs its own PostgreSQL cluster (scripts/test-pg on a temporary folder), so restarting
it disturbs no other test.
"""
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time

from harness import Checks, Server, V2, upload_config, wait_for, wallaby_config

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TEST_PG = os.path.join(ROOT, "scripts", "test-pg")
PSQL = "/usr/lib/postgresql/15/bin/psql"
c = Checks()

cluster_dir = tempfile.mkdtemp(prefix="bp-outage-pg-")
os.chmod(cluster_dir, 0o755)


def pg(action):
    r = subprocess.run([TEST_PG, action, cluster_dir], capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        raise RuntimeError(f"test-pg {action} failed: {r.stderr[-2000:]}")
    return r.stdout


def sql(q):
    return subprocess.run([PSQL, conninfo, "-qAtc", q], capture_output=True, text=True, timeout=60).stdout


pg("up")
conninfo = open(os.path.join(cluster_dir, "conninfo")).read().strip()


class Writers:
    """16 clients registering sources as fast as they are answered."""

    def __init__(self, srv, tag):
        self.srv, self.tag = srv, tag
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked, self.answers, self.hung = [], [], []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(16)]

    def run(self, i):
        n = 0
        while not self.stop.is_set():
            ident = f"{self.tag}-{i}-{n}"
            n += 1
            body = json.dumps({"project_module": "wallaby_hires", "source_identifier": ident, "enabled": False})
            t0 = time.time()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=40)
                conn.request("POST", V2 + "/sources", body=body,
                             headers={"Content-Type": "application/json",
                                      "Authorization": "Bearer " + self.srv.token})
                st = conn.getresponse().status
                conn.close()
            except TimeoutError:
                with self.lock:
                    self.hung.append(ident)
                continue
            except OSError:
                st = "connection-error"
            with self.lock:
                self.answers.append((time.time(), st, time.time() - t0))
                if st in (200, 201):
                    self.acked.append(ident)
            if st not in (200, 201):
                time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def check_exactly_once(srv, acked, what):
    rows = sql("SELECT data->>'source_identifier', count(*) FROM events WHERE event_type = 'SourceRegistered' "
               "GROUP BY 1")
    counts = dict(line.split("|") for line in rows.splitlines() if line)
    missing = [i for i in acked if i not in counts]
    twice = [i for i, n in counts.items() if int(n) > 1]
    c.eq(f"{what}: every acknowledged write is stored", missing, [])
    c.eq(f"{what}: nothing is stored twice", twice, [])
    wait_for("the read models", lambda: srv.request("GET", V2 + "/ready")[0] == 200, timeout=60)
    st, rows, hdrs, _ = srv.request("GET", V2 + "/sources?project_module=wallaby_hires&limit=1")
    c.true(f"{what}: the read model has every acknowledged source ({hdrs.get('X-Total-Count')} >= {len(acked)})",
           int(hdrs.get("X-Total-Count", "0")) >= len(acked))


def replay_verify(what):
    r = subprocess.run([os.environ["BEAMPIPE_BIN"], "replay", "--verify"], capture_output=True, text=True,
                       env=dict(os.environ, DATABASE_URL=conninfo), timeout=300)
    c.eq(f"{what}: replay --verify", r.returncode, 0)
    if r.returncode:
        print(r.stdout[-3000:], r.stderr[-3000:])


def ticks():
    out = sql("SELECT count(*) FROM events WHERE event_type = 'SchedulerTicked'").strip()
    return int(out or 0)


srv = Server(conninfo=conninfo, extra_env={"BEAMPIPE_SCHEDULER_ENABLED": "true",
                                           "BEAMPIPE_SCHEDULER_INTERVAL_SECONDS": "1",
                                           "BEAMPIPE_SCHEDULER_LEASE_MS": "3000"})
try:
    srv.wait_ready()
    upload_config(srv, wallaby_config())
    pid = srv.proc.pid
    wait_for("the scheduler to tick", lambda: ticks() > 0, timeout=30)

    # --- 1. a fast restart under load
    with Writers(srv, "restart") as w:
        time.sleep(3)
        pg("down")
        down_at = time.time()
        time.sleep(4)
        up_called = time.time()  # the database may answer before pg("up") returns
        pg("up")
        up_at = time.time()
        resumed = wait_for("a write to succeed again", lambda: [a for a in w.answers
                                                                if a[0] > up_at and a[1] in (200, 201)], timeout=60)
        time.sleep(3)
    c.eq("no request hung while the database was away", w.hung, [])
    during = [a for a in w.answers if down_at + 0.5 < a[0] < up_called]
    c.true("the outage was observed", during)
    c.eq("while the database was down, every answer was a 503",
         sorted({a[1] for a in during if a[1] != 503}, key=str), [])
    c.true(f"writes resumed by themselves ({resumed[0][0] - up_at:.1f} s after the restart, "
           f"{len(w.acked)} acknowledged, {len(during)} answers while down)", resumed)
    c.eq("the same process", srv.proc.poll(), None)
    c.true("writes were acknowledged before and after", len(w.acked) > 32)
    check_exactly_once(srv, w.acked, "restart")
    before = ticks()
    wait_for("scheduler ticks to resume", lambda: ticks() > before, timeout=30)
    st, ready, _, _ = srv.request("GET", V2 + "/ready")
    c.eq("ready again, projections alive, a leader elected",
         (st, ready["projections"]["alive"], ready["scheduler"]["leader"] is not None), (200, True, True))
    replay_verify("restart")
    acked = list(w.acked)

    # --- 2. every beampipe session terminated in turn
    with Writers(srv, "terminate") as w:
        time.sleep(1)
        killed = 0
        for _ in range(3):
            pids = [p for p in sql("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'beampipe%' "
                                   "AND pid <> pg_backend_pid()").split() if p]
            for p in pids:
                sql(f"SELECT pg_terminate_backend({p})")
                killed += 1
                time.sleep(0.1)
        time.sleep(3)
        after_kill = time.time()
        wait_for("writes after the terminations", lambda: [a for a in w.answers
                                                           if a[0] > after_kill and a[1] in (200, 201)], timeout=60)
    c.true(f"sessions were terminated ({killed})", killed >= 5)
    c.eq("no request hung", w.hung, [])
    c.eq("the same process still", srv.proc.poll(), None)
    check_exactly_once(srv, acked + w.acked, "terminations")
    before = ticks()
    wait_for("scheduler ticks after the terminations", lambda: ticks() > before, timeout=30)
    replay_verify("terminations")
finally:
    rc = srv.stop()
    try:
        pg("down")
    finally:
        subprocess.run(["rm", "-rf", cluster_dir])
c.eq("clean stop", rc, 0)
c.finish()

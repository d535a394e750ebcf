"""Racing creators of executions: two API processes on one database receive many concurrent
POST /executions for a profile that allows one run at a time. In every round exactly one is
created and the rest are refused with the profile's concurrency limit; the event history holds
exactly one ExecutionCreated per round.
Creates wait for the admission gate on the gate's own thread, not a handler thread: while another
session holds the cluster-wide admission lock, more creates than handler threads wait and a
read still answers; once it is let go, one is created and the rest are refused as in a round.
A lock held past BEAMPIPE_ADMISSION_LOCK_WAIT_MS answers 503 admission_busy, and nothing is
created."""
import http.client
import json
import os
import subprocess
import threading
import time

from harness import (REFERENCE, Checks, Server, create_profile, fresh_database, ready_sources, upload_config,
                     wallaby_config)

V2 = "/api/v2"
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_API_THREADS": "2", "BEAMPIPE_ADMISSION_LOCK_WAIT_MS": "20000"}
PSQL = "/usr/lib/postgresql/15/bin/psql"
GATE = "hashtextextended('beampipe:execution-admission', 0)"
ROUNDS, PER_SERVER = 3, 6
c = Checks()
db = fresh_database()
a = Server(conninfo=db, extra_env=ENV)
a.wait_ready()
b = Server(conninfo=db, extra_env=ENV)
b.wait_ready()


def sql(query):
    return subprocess.run([PSQL, db, "-qAt", "-c", query], check=True, capture_output=True, text=True).stdout.strip()


def hold_gate():
    """A psql session holding the admission lock (a session lock: no transaction id)."""
    holder = subprocess.Popen([PSQL, db, "-qAt"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    holder.stdin.write(f"SELECT pg_advisory_lock({GATE});\n")
    holder.stdin.flush()
    deadline = time.time() + 30
    while time.time() < deadline and sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s USING (pid) WHERE l.locktype = 'advisory' "
            f"AND l.granted AND s.application_name = 'psql' AND l.objid = ({GATE} & 4294967295)::oid") == "0":
        time.sleep(0.05)
    return holder


def gate_waiters():
    return int(sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'beampipe-admission' "
                   "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"))


def create_body(i):
    return {"project_module": "wallaby_hires", "archive_name": "casda",
            "sources": [{"source_identifier": "HIPASSJ1313-15" if i % 2 else "HIPASSJ1318-21"}]}


def created_events():
    st, feed, _, _ = a.request("GET", f"{V2}/events?limit=1000")
    return [e for e in feed["events"] if e["type"] == "ExecutionCreated"]


try:
    upload_config(a, wallaby_config(GRAPH).replace("  execution:\n    enabled: true", "  execution:\n    enabled: false"))
    ready_sources(a, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    create_profile(a, "one-at-a-time", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001},
                   max_concurrent_executions=1)
    for rnd in range(ROUNDS):
        results = []
        barrier = threading.Barrier(2 * PER_SERVER)

        def create(srv, i):
            body = {"project_module": "wallaby_hires", "archive_name": "casda",
                    "sources": [{"source_identifier": "HIPASSJ1313-15" if i % 2 else "HIPASSJ1318-21"}]}
            barrier.wait()
            st, row, _, _ = srv.request("POST", V2 + "/executions", body)
            results.append((st, row.get("uuid") if st == 201 else row.get("code")))

        ts = [threading.Thread(target=create, args=(srv, i)) for srv in (a, b) for i in range(PER_SERVER)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        won = [r for st, r in results if st == 201]
        refused = {r for st, r in results if st != 201}
        c.eq(f"round {rnd}: exactly one created", len(won), 1)
        c.eq(f"round {rnd}: the others hit the profile limit", refused, {"profile_concurrency_limit"})
        c.eq(f"round {rnd}: one ExecutionCreated per round so far", len(created_events()), rnd + 1)
        if won:  # free the slot for the next round
            st, _, _, _ = a.request("PATCH", f"{V2}/executions/{won[0]}", {"status": "cancelled"})
            c.true(f"round {rnd}: cancelled", st in (200, 202))

    # The gate held by another session: creates queue on the gate's thread, not the handlers'.
    holder = hold_gate()
    results, lock = [], threading.Lock()

    def create_held(i):
        st, row, _, _ = a.request("POST", V2 + "/executions", create_body(i))
        with lock:
            results.append((st, row.get("uuid") if st == 201 else row.get("code")))
    ts = [threading.Thread(target=create_held, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    deadline = time.time() + 30
    while time.time() < deadline and gate_waiters() == 0:
        time.sleep(0.05)
    c.eq("the gate's connection waits for the lock", gate_waiters(), 1)
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
    try:
        conn.request("GET", V2 + "/executions", headers={"Authorization": "Bearer " + a.token})
        read_status = conn.getresponse().status
    except Exception as e:  # both handler threads waiting for the gate: no answer
        read_status = repr(e)
    finally:
        conn.close()
    c.eq("a read answers while 4 creates wait for the gate on 2 handler threads", read_status, 200)
    c.eq("no create answered while the gate was held", results, [])
    holder.stdin.close()  # the session ends, and its lock with it
    holder.wait(30)
    for t in ts:
        t.join(60)
    c.eq("once let go: one created", len([r for st, r in results if st == 201]), 1)
    c.eq("the others hit the profile limit", {r for st, r in results if st != 201}, {"profile_concurrency_limit"})
    c.eq("one more ExecutionCreated", len(created_events()), ROUNDS + 1)
finally:
    a.stop()
    b.stop()

# The lock held past the configured wait: 503 admission_busy, nothing created.
db = fresh_database()
srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_ADMISSION_LOCK_WAIT_MS="500"))
srv.wait_ready()
try:
    upload_config(srv, wallaby_config(GRAPH).replace("  execution:\n    enabled: true", "  execution:\n    enabled: false"))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15"])
    create_profile(srv, "one-at-a-time", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001},
                   max_concurrent_executions=1)
    holder = hold_gate()
    t0 = time.monotonic()
    st, body, hdrs, _ = srv.request("POST", V2 + "/executions", create_body(1))
    waited = time.monotonic() - t0
    c.eq("a create past the lock wait is told the gate is busy", (st, body.get("code")), (503, "admission_busy"))
    c.true(f"after waiting for the lock ({waited:.2f} s)", waited >= 0.5)
    c.eq("and may retry", hdrs.get("Retry-After"), "1")
    holder.stdin.close()
    holder.wait(30)
    st, body, _, _ = srv.request("POST", V2 + "/executions", create_body(1))
    c.eq("the gate free again: created", (st, body.get("code")), (201, None))
    c.eq("exactly one ExecutionCreated", sql("SELECT count(*) FROM events WHERE event_type = 'ExecutionCreated'"), "1")
finally:
    srv.stop()
c.finish()

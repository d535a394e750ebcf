"""Durable work through /api/v2/jobs against a scripted TAP server on loopback:

1. POST /jobs enqueues a discovery job (idempotent per key; bad input is refused by field and
   stores nothing). While the archive answers 503 the job is retried with backoff: no attempt
   starts before the retry time the previous failure recorded; the last attempt dead-letters
   the job and frees the source. An operator's requeue runs it again to completion, with one
   DiscoveryCompleted.
2. A worker stalled mid-attempt (SIGSTOP) loses its lease: a second worker recovers the job
   with a new token, records the lost attempt and completes the next one; the stalled worker,
   resumed, cannot record anything. Exactly one DiscoveryCompleted.
"""
import datetime
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import os

from harness import (REFERENCE, Checks, Server, create_profile, fresh_database, ready_sources, upload_config,
                     wallaby_config)

V2 = "/api/v2"
GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
MODULE = "wallaby_hires"
EMPTY_VOTABLE = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                 b'<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
                 b'<RESOURCE type="results"><INFO name="QUERY_STATUS" value="OK"/>'
                 b'<TABLE><FIELD name="obs_id" datatype="char" arraysize="*"/>'
                 b'<DATA><TABLEDATA></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>')


class Tap:
    """POST /tap/sync: mode "fail" answers 503, "hold" blocks until released, "ok" answers an
    empty result. Every request's arrival time is kept."""

    def __init__(self):
        self.mode = "ok"
        self.arrivals = []
        self.release = threading.Event()
        tap = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tap.arrivals.append((time.time(), tap.mode))
                if tap.mode == "hold":
                    tap.release.wait(120)
                if tap.mode == "fail":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-votable+xml")
                self.send_header("Content-Length", str(len(EMPTY_VOTABLE)))
                self.end_headers()
                self.wfile.write(EMPTY_VOTABLE)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tap"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def wait_for(what, fn, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def events(srv):
    out, after = [], 0
    while True:
        st, feed, _, _ = srv.request("GET", f"{V2}/events?limit=1000&after={after}")
        out += feed["events"]
        if len(feed["events"]) < 1000:
            return out
        after = feed["next_after"]


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


c = Checks()
tap = Tap()
ENV = {"BEAMPIPE_CASDA_TAP_URL": tap.url, "BEAMPIPE_VIZIER_TAP_URL": tap.url,
       "BEAMPIPE_WORKER_RETRY_BASE_MS": "400", "BEAMPIPE_WORKER_MAX_ATTEMPTS": "3",
       "BEAMPIPE_WORKER_LOCK_SECONDS": "2"}
no_automation = wallaby_config().replace("  execution:\n    enabled: true", "  execution:\n    enabled: false")

# ---------------------------------------------------------------- 1. retry, dead letter, requeue
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()
try:
    upload_config(srv, no_automation)
    st, src, _, _ = srv.request("POST", V2 + "/sources", {"project_module": MODULE, "source_identifier": "HIPASSJ0001-01",
                                                         "enabled": True})
    job_body = {"kind": "discover_source", "idempotency_key": "op-42",
                "payload": {"project_module": MODULE, "source_identifier": "HIPASSJ0001-01"}}

    # Bad input: refused by field, nothing stored.
    for body, field in (({"kind": "bogus"}, "kind"),
                        ({"payload": {}}, "kind"),
                        ({"kind": "discover_source", "payload": {"project_module": MODULE}}, "payload.source_identifier"),
                        ({"kind": "discover_source", "payload": {"project_module": MODULE, "source_identifier": "x",
                                                                 "extra": 1}}, "payload.extra"),
                        ({"kind": "execute"}, "execution_id"),
                        ({"kind": "execute", "execution_id": "nope"}, "execution_id"),
                        ({"kind": "discover_source", "payload": [1]}, "payload"),
                        ({"kind": "discover_source", "colour": "red"}, "colour")):
        st, err, _, _ = srv.request("POST", V2 + "/jobs", body)
        c.eq(f"bad job {body} refused naming {field}", (st, err.get("field")), (400, field))
    st, err, _, _ = srv.request("POST", V2 + "/jobs", {"kind": "bogus"})
    c.eq("unknown kind message", err.get("detail"), "unknown job kind bogus")
    st, jobs, _, _ = srv.request("GET", V2 + "/jobs")
    # (the alert evaluator's recurring round is the system's own job, claimed from the start)
    c.eq("refused requests stored nothing", [j for j in jobs if j["kind"] != "alert_evaluator_tick"], [])

    tap.mode = "fail"
    st, job, _, _ = srv.request("POST", V2 + "/jobs", job_body)
    c.eq("discovery job accepted", (st, job["kind"], job["subject"], job["attempt"]),
         (202, "discover_source", "HIPASSJ0001-01", 1))
    st, again, _, _ = srv.request("POST", V2 + "/jobs", job_body)
    c.eq("same idempotency key, same job", (st, again["id"]), (202, job["id"]))
    jid = job["id"]

    # The worker records the dead letter, then gives its lease back (the lease is live state, not
    # an event): wait for both.
    dead = wait_for("the dead letter", lambda: (lambda r: r if r["status"] == "dead_letter"
                                                and r["lease_owner"] is None else None)(
        srv.request("GET", f"{V2}/jobs/{jid}")[1]))
    c.eq("dead-lettered after three attempts", (dead["attempt"], dead["dead_lettered_at"] is not None,
                                                 dead["lease_owner"]), (3, True, None))
    c.true("last error names the archive failure", dead["last_error"] and "503" in dead["last_error"])
    st, listed, _, _ = srv.request("GET", V2 + "/jobs?status=dead_letter")
    c.eq("listed under dead_letter", [j["id"] for j in listed], [jid])
    # The job row (executions group) is newer than the source row may be (sources group).
    st, row, _, _ = srv.read_after(f"{V2}/sources/{src['uuid']}")
    c.eq("the source is free again", row["discovery_request_id"], None)

    evs = [e for e in events(srv) if e["data"].get("request_id") == jid]
    kinds = [e["type"] for e in evs]
    c.eq("event history of the job", kinds,
         ["DiscoveryRequested", "DiscoveryAttemptFailed", "DiscoveryAttemptFailed", "DiscoveryFailed"])
    c.eq("dead letter recorded", (evs[-1]["data"]["dead_letter"], evs[-1]["data"]["attempt"]), (True, 3))
    # Backoff: no attempt started before the retry time recorded by the failure before it.
    retry_at = [ts(e["data"]["retry_at"]) for e in evs if e["type"] == "DiscoveryAttemptFailed"]
    c.eq("retry times grow", retry_at == sorted(retry_at) and len(retry_at) == 2, True)
    fail_times = [ts(e["recorded_at"]) for e in evs if e["type"] == "DiscoveryAttemptFailed"]
    for k, (failed_at, due) in enumerate(zip(fail_times, retry_at)):
        nxt = [t for t, _ in tap.arrivals if t > failed_at]
        c.true(f"attempt {k + 2} waited for its retry time", nxt and min(nxt) >= due - 0.05)
    st, detail, _, _ = srv.request("GET", f"{V2}/jobs/{jid}")
    c.eq("claim history: each attempt claimed and finished once",
         [(h["attempt"], h["action"]) for h in detail["claims"]],
         [(1, "claimed"), (1, "finished"), (2, "claimed"), (2, "finished"), (3, "claimed"), (3, "finished")])

    st, err, _, _ = srv.request("POST", f"{V2}/jobs/00000000-0000-4000-8000-000000000000/requeue", {})
    c.eq("requeue of an unknown job", st, 404)
    st, err, _, _ = srv.request("POST", f"{V2}/jobs/{jid}/requeue", {"reason": 7})
    c.eq("requeue reason must be text", (st, err.get("field")), (400, "reason"))
    tap.mode = "ok"
    st, rq, _, _ = srv.request("POST", f"{V2}/jobs/{jid}/requeue", {"reason": "archive is back"})
    c.eq("requeued", (st, rq["attempt"], rq["dead_lettered_at"]), (202, 4, None))
    done = wait_for("the requeued job", lambda: (lambda r: r if r["status"] == "completed" else None)(
        srv.request("GET", f"{V2}/jobs/{jid}")[1]))
    c.eq("completed on attempt 4", done["attempt"], 4)
    answers = [e["type"] for e in events(srv) if e["data"].get("request_id") == jid
               and e["type"] in ("DiscoveryCompleted", "DiscoveryRequeued")]
    c.eq("requeue then exactly one completion", answers, ["DiscoveryRequeued", "DiscoveryCompleted"])
    st, err, _, _ = srv.request("POST", f"{V2}/jobs/{jid}/requeue", {})
    c.eq("a completed job cannot be requeued", (st, err.get("code")), (409, "not_requeueable"))
finally:
    srv.stop()

# ---------------------------------------------------------------- 2. stalled worker is fenced
db = fresh_database()
a = Server(conninfo=db, extra_env=ENV)
a.wait_ready()
b = None
try:
    upload_config(a, no_automation)
    st, src, _, _ = a.request("POST", V2 + "/sources", {"project_module": MODULE, "source_identifier": "HIPASSJ0002-02",
                                                       "enabled": True})
    tap.mode, tap.arrivals = "hold", []
    tap.release.clear()
    st, job, _, _ = a.request("POST", V2 + "/jobs", {"kind": "discover_source", "payload": {
        "project_module": MODULE, "source_identifier": "HIPASSJ0002-02"}})
    jid = job["id"]
    wait_for("worker A's archive query", lambda: tap.arrivals)
    st, running, _, _ = a.request("GET", f"{V2}/jobs/{jid}")
    c.eq("job running under A's lease", (running["status"], running["lease_token"]), ("running", 1))
    # A stalls mid-attempt and stops renewing. A process frozen inside a transaction holds the
    # read fence (or the projection lock) for every node until PostgreSQL ends it (by design:
    # no reader may pass an open transaction), so A is frozen between transactions.
    for _ in range(50):
        a.proc.send_signal(signal.SIGSTOP)
        open_writes = subprocess.run(
            ["/usr/lib/postgresql/15/bin/psql", db, "-qAtc",
             "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
             "(backend_xid IS NOT NULL OR state <> 'idle') AND pid <> pg_backend_pid()"],
            capture_output=True, text=True).stdout.strip()
        if open_writes == "0":
            break
        a.proc.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    tap.mode = "ok"
    b = Server(conninfo=db, extra_env=ENV)
    b.wait_ready()
    done = wait_for("B to finish the job", lambda: (lambda r: r if r["status"] == "completed" else None)(
        b.request("GET", f"{V2}/jobs/{jid}")[1]))
    c.eq("B completed the next attempt", done["attempt"], 2)
    tap.release.set()  # A's query answers now
    a.proc.send_signal(signal.SIGCONT)
    # A is alive again: wait until its stale attempt has been dropped or refused.
    wait_for("A to drop its stale result", lambda: any(
        ("lease lost" in line or "stale_discovery" in line or "attempt 2 is the current one" in line)
        for line in list(a.log)), timeout=30)
    st, detail, _, _ = b.request("GET", f"{V2}/jobs/{jid}")
    claims = [(h["attempt"], h["action"], h["token"]) for h in detail["claims"]]
    c.true("B recovered A's attempt with a new token",
           (1, "claimed", 1) in claims and (1, "recovered", 2) in claims)
    evs = [e for e in events(b) if e["data"].get("request_id") == jid]
    c.eq("one lost attempt, one completion",
         [e["type"] for e in evs], ["DiscoveryRequested", "DiscoveryAttemptFailed", "DiscoveryCompleted"])
    c.eq("the lost attempt is marked", (evs[1]["data"]["lease_lost"], evs[1]["data"]["failure_class"]),
         (True, "worker_lost"))
finally:
    try:
        a.proc.send_signal(signal.SIGCONT)
    except Exception:
        pass
    tap.release.set()
    a.stop()
    if b:
        b.stop()

# ---------------------------------------------------------------- 3. execute jobs
# POST /jobs kind=execute is the execution's execute request; a job whose worker keeps dying
# mid-step (a poison pill) is recovered each restart and dead-lettered after max attempts:
# its execution fails with failure_class worker_lost and nothing was submitted.
SIM = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_EXECUTION_SCAN_MS": "100", "BEAMPIPE_WORKER_MAX_ATTEMPTS": "2",
       "BEAMPIPE_SIMULATED_RUN_MS": "1500", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200"}
db = fresh_database()
srv = Server(conninfo=db, extra_env=SIM)
srv.wait_ready()
try:
    upload_config(srv, wallaby_config(GRAPH).replace("  execution:\n    enabled: true", "  execution:\n    enabled: false"))
    ready_sources(srv, MODULE, ["HIPASSJ1313-15", "HIPASSJ1318-21"])
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    base = {"project_module": MODULE, "archive_name": "casda"}
    st, ex, _, _ = srv.request("POST", V2 + "/executions", dict(base, sources=[{"source_identifier": "HIPASSJ1313-15"}]))
    st, err, _, _ = srv.request("POST", V2 + "/jobs", {"kind": "execute", "execution_id": ex["uuid"],
                                                       "payload": {"do_stage": "no"}})
    c.eq("execute payload checked by the execution", (st, err.get("field")), (400, "do_stage"))
    st, job, _, _ = srv.request("POST", V2 + "/jobs", {"kind": "execute", "execution_id": ex["uuid"],
                                                       "payload": {"do_stage": False, "do_submit": False}})
    c.eq("execute job accepted", (st, job["kind"], job["execution_id"]), (202, "execute", ex["uuid"]))
    # The run's last event completes the job; the worker then releases its lease (the claim
    # history's "finished"), so wait for both.
    done = wait_for("the execute job", lambda: (lambda r: r if r["status"] == "completed" and
                                                any(h["action"] == "finished" for h in r["claims"])
                                                else None)(
        srv.request("GET", f"{V2}/jobs/{job['id']}")[1]))
    c.eq("claimed and finished once", [(h["action"], h["token"]) for h in done["claims"]],
         [("claimed", 1), ("finished", 1)])
    st, err, _, _ = srv.request("POST", f"{V2}/jobs/{job['id']}/requeue", {})
    c.eq("execute jobs are requeued by retrying the execution", (st, err.get("code")), (409, "requeue_via_retry"))

    # A submitted run is polled through the recurring per-target poll job.
    st, ex3, _, _ = srv.request("POST", V2 + "/executions", dict(base, sources=[{"source_identifier": "HIPASSJ1313-15"}]))
    st, job3, _, _ = srv.request("POST", V2 + "/jobs", {"kind": "execute", "execution_id": ex3["uuid"],
                                                        "payload": {"do_stage": False}})
    wait_for("the submitted run to finish", lambda: srv.request("GET", f"{V2}/executions/{ex3['uuid']}")[1]["status"]
             == "completed")
    st, ticks, _, _ = srv.request("GET", V2 + "/jobs?kind=dim_poll_tick")
    c.eq("one recurring poll job for the simulated DIM target",
         [(t["kind"], t["subject"], t["reason"]) for t in ticks], [("dim_poll_tick", "simulated DALiuGE DIM", "recurring")])
    c.true("its next round is after its current one", ticks and ticks[0]["next_run_at"] > ticks[0]["created_at"])
    st, one, _, _ = srv.request("GET", f"{V2}/jobs/{ticks[0]['id']}")
    c.eq("the poll job reads by id", (st, one["kind"]), (200, "dim_poll_tick"))

    st, ex2, _, _ = srv.request("POST", V2 + "/executions", dict(base, sources=[{"source_identifier": "HIPASSJ1318-21"}]))
    srv.stop()
    deaths = 0
    for _ in range(3):  # claimed, then recovered once: each run dies holding the lease
        srv = Server(conninfo=db, extra_env=dict(SIM, BEAMPIPE_FAULT_INJECT="kill_during_prepare"))
        if deaths == 0:
            srv.wait_ready()
            try:  # the worker may die before the answer is sent
                srv.request("POST", f"{V2}/executions/{ex2['uuid']}/execute", {})
            except Exception:
                pass
        try:
            srv.proc.wait(timeout=60)
        except Exception:
            break
        deaths += int(srv.proc.returncode == -signal.SIGKILL)
        if deaths == 2:
            break
    c.eq("the worker died twice holding the job", deaths, 2)
    srv = Server(conninfo=db, extra_env=dict(SIM, BEAMPIPE_FAULT_INJECT="kill_during_prepare"))
    srv.wait_ready()
    st, x, _, _ = srv.request("GET", f"{V2}/executions/{ex2['uuid']}")
    job2 = x["execute_request"]["job_id"]
    dead = wait_for("the execute dead letter", lambda: (lambda r: r if r["status"] == "dead_letter" else None)(
        srv.request("GET", f"{V2}/jobs/{job2}")[1]))
    c.eq("recovered, then dead-lettered", [h["action"] for h in dead["claims"]],
         ["claimed", "recovered", "recovered", "finished"])
    st, x, _, _ = srv.request("GET", f"{V2}/executions/{ex2['uuid']}")
    c.eq("its execution failed as worker_lost, never submitted",
         (x["status"], x["failure_class"], x["submission_state"]), ("failed", "worker_lost", "not_started"))
    c.eq("process survived the dead letter", srv.proc.poll(), None)
finally:
    srv.stop()
c.finish()

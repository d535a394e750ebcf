"""Time travel (issue #22): GET /executions/{id}?as_of_position=N and ?as_of=TIME answer the run
as it was then, replayed from its own events, in the same shape as the live answer. While runs
go (dry run, completed, cancelled) the test records every distinct live answer it sees; each
must equal the time-travel answer at the position of the event that produced it, and the answer
at the run's last position must equal the live one field for field."""
import datetime
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REFERENCE, V2, Checks, Server, create_profile, fresh_database, ready_sources,  # noqa: E402
                     upload_config, wait_execution, wallaby_config)

GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_SIMULATED_RUN_MS": "1500", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}

c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Recorder:
    """Reads the live answer of a run as fast as it can and keeps each distinct one."""

    def __init__(self, eid):
        self.eid, self.seen, self.stop = eid, {}, False
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                st, row, _, _ = srv.request("GET", f"{V2}/executions/{self.eid}")
            except OSError:
                return
            if st == 200:
                self.seen.setdefault(json.dumps(row, sort_keys=True), row)

    def finish(self):
        self.stop = True
        self.thread.join()
        return list(self.seen.values())


def as_of(eid, **q):
    query = "&".join(f"{k}={v}" for k, v in q.items()).replace("+", "%2B")
    st, row, _, _ = srv.request("GET", f"{V2}/executions/{eid}?{query}")
    return st, row


def check_run(name, eid, recorded):
    st, hist, _, _ = srv.request("GET", f"{V2}/executions/{eid}/history")
    steps = hist["steps"]
    last = steps[-1]["position"]
    _, live = srv.request("GET", f"{V2}/executions/{eid}?min_position={last}")[:2]
    st, then = as_of(eid, as_of_position=last)
    c.eq(f"{name}: at its last position, the live answer exactly", (st, then), (200, live))
    st, later = as_of(eid, as_of_position=last + 1000000)
    c.eq(f"{name}: after it, the same", later, live)
    c.eq(f"{name}: before its first event it did not exist", as_of(eid, as_of_position=steps[0]["position"] - 1)[0],
         404)
    # Every live answer seen while it ran is the time-travel answer at the event that made it:
    # the last event recorded at its updated_at.
    matched = 0
    for row in recorded:
        at = [s for s in steps if instant(s["recorded_at"]) == instant(row["updated_at"])]
        if not at:
            continue
        st, then = as_of(eid, as_of_position=at[-1]["position"])
        matched += then == row
        if then != row:
            diff = {k: (row.get(k), then.get(k)) for k in set(row) | set(then) if row.get(k) != then.get(k)}
            print(f"{name}: at {at[-1]['position']} differs: {diff}")
    c.true(f"{name}: every live answer seen ({len(recorded)}) equals the answer as of its event",
           matched == len(recorded) and len(recorded) >= 2)
    # Between two events the run is as the earlier one left it; by time as by position.
    for a, b in zip(steps, steps[1:]):
        if b["position"] - a["position"] > 1:
            c.eq(f"{name}: between two events, as the earlier left it",
                 as_of(eid, as_of_position=b["position"] - 1)[1], as_of(eid, as_of_position=a["position"])[1])
            break
    mid = steps[len(steps) // 2]
    same_time = [s for s in steps if s["recorded_at"] == mid["recorded_at"]]
    c.eq(f"{name}: as_of a time is the run after its last event by then",
         as_of(eid, as_of=mid["recorded_at"])[1], as_of(eid, as_of_position=same_time[-1]["position"])[1])
    return steps


try:
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    upload_config(srv, wallaby_config(GRAPH))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21", "HIPASSJ1337-39"])

    def create(ident):
        st, row, _, _ = srv.request("POST", V2 + "/executions", {
            "project_module": "wallaby_hires", "archive_name": "casda", "sources": [{"source_identifier": ident}]})
        assert st == 201, (st, row)
        return row["uuid"]

    # A source without datasets: the run fails at its manifest.
    failed = create("HIPASSJ1337-39")
    rec = Recorder(failed)
    srv.request("POST", f"{V2}/executions/{failed}/execute", {"do_stage": False, "do_submit": False})
    wait_execution(srv, failed, lambda r: r["status"] == "failed")
    time.sleep(0.3)  # the recorder sees the final answer too
    check_run("failed", failed, rec.finish())

    dry = create("HIPASSJ1318-21")
    rec = Recorder(dry)
    srv.request("POST", f"{V2}/executions/{dry}/execute", {"do_stage": False, "do_submit": False})
    wait_execution(srv, dry, lambda r: r["patched_graph_sha256"] is not None)
    time.sleep(0.3)
    check_run("dry run", dry, rec.finish())

    done = create("HIPASSJ1313-15")
    rec = Recorder(done)
    srv.request("POST", f"{V2}/executions/{done}/execute", {"do_stage": False, "do_submit": True})
    end = wait_execution(srv, done, lambda r: r["status"] in ("completed", "failed") and r["sources_finalized"])
    time.sleep(0.3)
    c.eq("the run completed", end["status"], "completed")
    steps = check_run("completed", done, rec.finish())
    statuses = [as_of(done, as_of_position=s["position"])[1]["status"] for s in steps]
    c.true("time travel passes through running before completed",
           "running" in statuses and statuses.index("running") < statuses.index("completed"))

    # The run to cancel must still be running when the cancel arrives, however slow this host
    # is: a server whose simulated runs take ten minutes.
    srv.stop()
    srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_SIMULATED_RUN_MS="600000"))
    srv.wait_ready()
    cancelled = create("HIPASSJ1318-21")
    rec = Recorder(cancelled)
    srv.request("POST", f"{V2}/executions/{cancelled}/execute", {"do_stage": False, "do_submit": True})
    wait_execution(srv, cancelled, lambda r: r["status"] == "running")
    st, _, _, _ = srv.request("PATCH", f"{V2}/executions/{cancelled}", {"status": "cancelled"})
    c.true("the cancel is taken", st in (200, 202))
    wait_execution(srv, cancelled, lambda r: r["status"] == "cancelled")
    time.sleep(0.3)
    check_run("cancelled", cancelled, rec.finish())

    # Bad asks are refused by name; an unknown run is 404.
    for q, field in [("as_of_position=0", "as_of_position"), ("as_of_position=x", "as_of_position"),
                     ("as_of=yesterday", "as_of"), ("as_of=2026-01-01T00:00:00Z&as_of_position=5", "as_of")]:
        st, body, _, _ = srv.request("GET", f"{V2}/executions/{done}?{q}")
        c.eq(f"refused: {q}", (st, body.get("field") if isinstance(body, dict) else None), (400, field))
    st, _, _, _ = srv.request("GET", f"{V2}/executions/00000000-0000-7000-8000-000000000000?as_of_position=5")
    c.eq("an unknown run", st, 404)
finally:
    srv.stop()
c.finish()

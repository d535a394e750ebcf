"""GET /executions/{id}/history (issue #20, the console's timeline scrubber): every event of a
run with the state it left the run in, replayed from the run's own stream. It must list exactly
the stream's events in order, end in the state the ledger read model shows, and show the
states the run passed through (a completed run and a cancelled one)."""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REFERENCE, V2, Checks, Server, create_profile, fresh_database, read_events,  # noqa: E402
                     ready_sources, upload_config, wait_execution, wallaby_config)

GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_SIMULATED_RUN_MS": "1500", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}
AXES = ("status", "submission_state", "scheduler_state", "daliuge_state", "output_state", "control_phase",
        "terminal_outcome", "failure_class", "retry_count", "manifest_sha256", "patched_graph_sha256",
        "daliuge_session_id", "completed_at")

c = Checks()
srv = Server(conninfo=fresh_database(), extra_env=ENV)
srv.wait_ready()


def stream_positions(eid):
    out, after = [], 0
    while True:
        evs = read_events(srv, after)
        if not evs:
            return out
        out += [e["position"] for e in evs if e["stream_id"] == f"execution-{eid}"]
        after = evs[-1]["position"]


def instant(v):
    """A timestamp as an instant (the history keeps the events' RFC 3339 text, the ledger
    answers PostgreSQL's); anything else as it is."""
    if isinstance(v, str) and len(v) > 19 and v[10] == "T" and v[4] == "-":
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    return v


def check_history(name, eid):
    st, hist, _, _ = srv.request("GET", f"{V2}/executions/{eid}/history")
    c.eq(f"{name}: history answered", st, 200)
    steps = hist["steps"]
    c.eq(f"{name}: exactly the run's events, in order", [s["position"] for s in steps], stream_positions(eid))
    c.eq(f"{name}: stream versions 1..n", [s["stream_version"] for s in steps], list(range(1, len(steps) + 1)))
    _, row, _, _ = srv.request("GET", f"{V2}/executions/{eid}?min_position={steps[-1]['position']}")
    c.eq(f"{name}: the last state is the ledger's", {k: instant(steps[-1]["state"][k]) for k in AXES},
         {k: instant(row[k]) for k in AXES})
    c.eq(f"{name}: the first state is the created one", steps[0]["type"], "ExecutionCreated")
    return steps


try:
    create_profile(srv, "sim-dim", {"kind": "rest_remote", "deploy_host": "127.0.0.1", "deploy_port": 8001})
    upload_config(srv, wallaby_config(GRAPH))
    ready_sources(srv, "wallaby_hires", ["HIPASSJ1313-15", "HIPASSJ1318-21"])

    def create(ident):
        st, row, _, _ = srv.request("POST", V2 + "/executions", {
            "project_module": "wallaby_hires", "archive_name": "casda", "sources": [{"source_identifier": ident}]})
        assert st == 201, (st, row)
        return row["uuid"]

    done = create("HIPASSJ1313-15")
    st, _, _, _ = srv.request("POST", f"{V2}/executions/{done}/execute", {"do_stage": False, "do_submit": True})
    c.eq("execute", st, 202)
    end = wait_execution(srv, done, lambda r: r["status"] in ("completed", "failed") and r["sources_finalized"])
    c.eq("the run completed", end["status"], "completed")
    steps = check_history("completed", done)
    statuses = [s["state"]["status"] for s in steps]
    c.true("it passed through running before completed",
           "running" in statuses and statuses.index("running") < statuses.index("completed"))
    c.eq("the created state is not the end state", steps[0]["state"]["completed_at"], None)

    cancelled = create("HIPASSJ1318-21")
    st, _, _, _ = srv.request("PATCH", f"{V2}/executions/{cancelled}", {"status": "cancelled"})
    c.eq("cancel", st, 200)
    wait_execution(srv, cancelled, lambda r: r["status"] == "cancelled" and r["sources_finalized"])
    steps = check_history("cancelled", cancelled)
    c.eq("the cancelled run's end", steps[-1]["state"]["status"], "cancelled")

    st, err, _, _ = srv.request("GET", f"{V2}/executions/0190f0a0-0000-7000-8000-00000000dead/history")
    c.eq("an unknown run", (st, err["code"]), (404, "not_found"))
    st, err, _, _ = srv.request("GET", f"{V2}/executions/not-a-uuid/history")
    c.eq("a bad id", (st, err["field"]), (400, "id"))
finally:
    srv.stop()
c.finish()

"""Time travel (issue #22): GET /executions/{id}?as_of_position=N and ?as_of=TIME answer the run
as it was then, replayed from its own events, in the same shape as the live answer. While runs
go (failed, failed then retried, dry run, completed, cancelled) the test records every distinct
live answer it sees; each must equal the time-travel answer at the position of the event that
produced it, and the answer at the run's last position must equal the live one field for field.
The same for a source through its life (and its /history), and the project config revision
active as of a position or time."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REFERENCE, V2, Checks, Server, create_profile, fresh_database, ready_sources,  # noqa: E402
                     read_events, upload_config, wait_execution, wait_for, wallaby_config)
from time_travel import Recorder, as_of, check_time_travel  # noqa: E402

GRAPH = os.path.abspath(os.path.join(REFERENCE, "graphs", "wallaby-hires_deploy-setonix-beampipe.graph"))
ENV = {"BEAMPIPE_CASDA_TAP_URL": "", "BEAMPIPE_VIZIER_TAP_URL": "", "BEAMPIPE_USE_REAL_BACKENDS": "false",
       "BEAMPIPE_SIMULATED_RUN_MS": "1500", "BEAMPIPE_DIM_POLL_INTERVAL_MS": "200",
       "BEAMPIPE_RECONCILE_INTERVAL_MS": "200", "BEAMPIPE_EXECUTION_SCAN_MS": "100"}

c = Checks()
db = fresh_database()
srv = Server(conninfo=db, extra_env=ENV)
srv.wait_ready()


def run_path(eid):
    return f"{V2}/executions/{eid}"


def check_run(name, eid, recorded):
    return check_time_travel(c, srv, name, run_path(eid), recorded)


def as_of_run(eid, **q):
    return as_of(srv, run_path(eid), **q)


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
    rec = Recorder(srv, run_path(failed))
    srv.request("POST", f"{V2}/executions/{failed}/execute", {"do_stage": False, "do_submit": False})
    # Settled: its sources are finalised after the terminal status (one more event).
    wait_execution(srv, failed, lambda r: r["status"] == "failed" and r["sources_finalized"])
    time.sleep(0.3)  # the recorder sees the final answer too
    check_run("failed", failed, rec.finish())

    # Failed, then retried (and failed again for the same reason): the retry's transitions too.
    rec = Recorder(srv, run_path(failed))
    st, body, _, _ = srv.request("POST", f"{V2}/executions/{failed}/retry", {"reason": "try again"})
    c.eq("the failed run is retried", st, 202)
    wait_execution(srv, failed,
                   lambda r: r["status"] == "failed" and r["retry_count"] == 1 and r["sources_finalized"])
    time.sleep(0.3)
    steps = check_run("failed then retried", failed, rec.finish())
    statuses = [as_of_run(failed, as_of_position=s["position"])[1]["status"] for s in steps]
    c.true(f"time travel passes failed, retrying, failed ({statuses})",
           "retrying" in statuses and statuses.index("failed") < statuses.index("retrying") < len(statuses) - 1
           and statuses[-1] == "failed")

    dry = create("HIPASSJ1318-21")
    rec = Recorder(srv, run_path(dry))
    srv.request("POST", f"{V2}/executions/{dry}/execute", {"do_stage": False, "do_submit": False})
    wait_execution(srv, dry, lambda r: r["patched_graph_sha256"] is not None and r["sources_finalized"])
    time.sleep(0.3)
    check_run("dry run", dry, rec.finish())

    done = create("HIPASSJ1313-15")
    rec = Recorder(srv, run_path(done))
    srv.request("POST", f"{V2}/executions/{done}/execute", {"do_stage": False, "do_submit": True})
    end = wait_execution(srv, done, lambda r: r["status"] in ("completed", "failed") and r["sources_finalized"])
    time.sleep(0.3)
    c.eq("the run completed", end["status"], "completed")
    steps = check_run("completed", done, rec.finish())
    statuses = [as_of_run(done, as_of_position=s["position"])[1]["status"] for s in steps]
    c.true("time travel passes through running before completed",
           "running" in statuses and statuses.index("running") < statuses.index("completed"))

    # The run to cancel must still be running when the cancel arrives, however slow this host
    # is: a server whose simulated runs take ten minutes.
    srv.stop()
    srv = Server(conninfo=db, extra_env=dict(ENV, BEAMPIPE_SIMULATED_RUN_MS="600000"))
    srv.wait_ready()
    cancelled = create("HIPASSJ1318-21")
    rec = Recorder(srv, run_path(cancelled))
    srv.request("POST", f"{V2}/executions/{cancelled}/execute", {"do_stage": False, "do_submit": True})
    # Cancelled once its submission is recorded: while it is in flight a cancel is refused (409
    # submission_unresolved), and "running" starts before the submission.
    wait_execution(srv, cancelled, lambda r: r["status"] == "running" and r["submission_state"] == "submitted")
    st, body, _, _ = srv.request("PATCH", f"{V2}/executions/{cancelled}", {"status": "cancelled"})
    c.true(f"the cancel is taken ({st} {body})", st in (200, 202))
    wait_execution(srv, cancelled, lambda r: r["status"] == "cancelled" and r["sources_finalized"])
    time.sleep(0.3)
    check_run("cancelled", cancelled, rec.finish())

    # Sources: a source's life (registered disabled, enabled, a stale policy set and cleared,
    # discovered, deleted); each live answer seen equals the source as of its event.
    st, row, _, _ = srv.request("POST", V2 + "/sources", {"project_module": "wallaby_hires",
                                                          "source_identifier": "HIPASSJ1313-15X", "enabled": False})
    c.true(f"a source registered ({st})", st in (200, 201))
    spath = f"{V2}/sources/{row['uuid']}"
    rec = Recorder(srv, spath)
    for body in ({"enabled": True}, {"stale_after_hours": 12}, {"stale_after_hours": None}):
        c.eq(f"source patched with {body}", srv.request("PATCH", spath, body)[0], 200)
        time.sleep(0.1)  # lets the recorder see each answer; the checks do not depend on it
    srv.request("POST", V2 + "/sources/discover", {"project_module": "wallaby_hires",
                                                   "source_identifier": "HIPASSJ1313-15X"})
    wait_for("the source discovered", lambda: (lambda r: r["discovery_request_id"] is None and r["last_checked_at"])(
        srv.request("GET", spath)[1]))
    time.sleep(0.3)
    steps = check_time_travel(c, srv, "source", spath, rec.finish(), min_recorded=3)
    states = [s["state"]["discovery_state"] for s in steps]
    c.true(f"the source's history passes never, requested, checked ({states})",
           states[0] == "never" and "requested" in states and states[-1] == "checked")
    c.eq("the history says when it was enabled",
         [s["state"]["enabled"] for s in steps][:2], [False, True])
    before_delete = steps[-1]["position"]
    st, _, _, _ = srv.request("DELETE", spath)
    c.true("the source deleted", st in (200, 204))
    st, hist, _, _ = srv.request("GET", f"{spath}/history")
    c.eq("a deleted source keeps its history", (st, hist["steps"][-1]["state"]["deleted"]), (200, True))
    c.eq("live, a deleted source is gone", srv.request("GET", spath)[0], 404)
    st, body = as_of(srv, spath, as_of_position=hist["steps"][-1]["position"])
    c.eq("as of its deletion, gone", (st, body.get("field")), (404, "id"))
    st, body = as_of(srv, spath, as_of_position=before_delete)
    c.eq("as of before its deletion, there", (st, body["source_identifier"]), (200, "HIPASSJ1313-15X"))

    # Project configs: the revision active as of a time or position.
    cpath = f"{V2}/project-configs/wallaby_hires"
    _, first, _, _ = srv.request("GET", cpath)
    second_text = wallaby_config(GRAPH).replace("pipeline reference config", "pipeline, second revision")
    up = upload_config(srv, second_text)
    c.eq("a second revision uploaded", up["created"], True)
    _, second, _, _ = srv.request("GET", cpath)
    st, vers, _, _ = srv.request("GET", cpath + "/versions")
    pevents = [e for e in read_events(srv) if e["stream_id"] == "project-wallaby_hires"]
    activations = [e for e in pevents if e["type"] == "ProjectConfigActivated"]
    c.eq("two activations recorded", len(activations), 2)
    first_pos, second_pos = activations[0]["position"], activations[1]["position"]
    st, then = as_of(srv, cpath, as_of_position=second_pos - 1)
    c.eq("just before the second activation, the first revision exactly", (st, then), (200, first))
    st, then = as_of(srv, cpath, as_of_position=second_pos)
    c.eq("at the second activation, the second revision exactly", (st, then), (200, second))
    st, then = as_of(srv, cpath, as_of=activations[0]["recorded_at"])
    c.eq("as of the first activation's time, the first revision", then["version"], first["version"])
    c.eq("before any activation, none", as_of(srv, cpath, as_of_position=first_pos - 1)[0], 404)
    c.eq("an unknown project", as_of(srv, f"{V2}/project-configs/nope", as_of_position=5)[0], 404)
    c.eq("a malformed ask on a config", as_of(srv, cpath, as_of="later")[1].get("field"), "as_of")

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
